"""One planned change: `Operation`, what `apply` prints and the kernel adapter executes."""

from __future__ import annotations

from typing import Any

from lvsweb_agent.model import Address, RealServer, Service, ServiceKey, format_hostport


def dest_target(service: ServiceKey, dest: RealServer) -> str:
    """`tcp 10.10.0.100:80 -> 10.20.0.11:80`."""
    return f"{service} -> {format_hostport(dest.address, dest.port)}"


class Operation:
    """One change to make, in operator words: `str(op)` is the line shown by `apply`.

    A plain slotted class whose target/detail text is built on first use: a 5,000-service apply
    creates 55,000 of these and most are never printed.
    """

    __slots__ = (
        "_detail", "_target", "address", "deadline", "dest", "kind", "name", "reason", "service",
        "service_leaving", "value",
    )  # fmt: skip

    def __init__(
        self,
        kind: str,
        target: str | None = None,
        detail: str | None = None,
        reason: str = "",
        service: Service | None = None,
        dest: RealServer | None = None,
        address: Address | None = None,
        name: str | None = None,
        value: str | None = None,
        deadline: float | None = None,
        service_leaving: bool = False,
    ):
        self.kind, self._target, self._detail, self.reason = kind, target, detail, reason
        self.service, self.dest, self.address, self.name, self.value = service, dest, address, name, value
        self.deadline, self.service_leaving = deadline, service_leaving

    @property
    def target(self) -> str:
        """What the operation acts on: `tcp 10.10.0.100:80 -> 10.20.0.11:80`, `tunl0`, a sysctl name."""
        if self._target is None:
            if self.dest is not None and self.service is not None:
                self._target = dest_target(self.service.key, self.dest)
            elif self.service is not None:
                self._target = str(self.service.key)
            else:
                self._target = self.name or ""
        return self._target

    @property
    def detail(self) -> str:
        """The settings it sets: `tun ipip weight 1`, `sched rr`, `= 0`."""
        if self._detail is None:
            if self.kind in ("add-dest", "edit-dest") and self.dest is not None:
                self._detail = self.dest.describe()
            elif self.kind in ("add-service", "edit-service") and self.service is not None:
                self._detail = self.service.describe()
            else:
                self._detail = ""
        return self._detail

    def __repr__(self) -> str:
        return f"Operation({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Operation) and (self.kind, self.target, self.detail, self.reason) == (
            other.kind,
            other.target,
            other.detail,
            other.reason,
        )

    def __str__(self) -> str:
        text = f"{self.kind} {self.target}"
        if self.detail:
            text += f" {self.detail}"
        return f"{text}  ({self.reason})" if self.reason else text

    def to_json(self) -> dict[str, Any]:
        data: dict[str, str | float] = {
            "op": self.kind,
            "target": self.target,
            "detail": self.detail,
            "reason": self.reason,
        }
        if self.deadline is not None:
            data["deadline"] = self.deadline
        return data
