"""The agent's own record: what it created (ownership), what is draining until when, the last document.

Stored as JSON in `<root>/var/lib/lvsweb-agent/state.json`; the last applied document next to it in
`document.json` (rewritten only when it changes).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lvsweb_agent.model import Address, DesiredState, Service, ServiceKey

if TYPE_CHECKING:
    from lvsweb_agent.planner import Operation

STATE_FILE = "var/lib/lvsweb-agent/state.json"
DOCUMENT_FILE = "var/lib/lvsweb-agent/document.json"

DestId = tuple[ServiceKey, str, int]


@dataclass
class Ledger:
    """Ownership and drain bookkeeping. Pure data; `record()` updates it after each applied operation."""

    revision: int | None = None
    document: dict[str, Any] | None = None
    services: set[ServiceKey] = field(default_factory=set)
    dests: set[DestId] = field(default_factory=set)
    addresses: set[Address] = field(default_factory=set)
    files: set[str] = field(default_factory=set)
    draining_services: dict[ServiceKey, float] = field(default_factory=dict)
    draining_dests: dict[DestId, float] = field(default_factory=dict)
    #: The last apply completed: the kernel was left matching `document` (a delta apply starts from it).
    complete: bool = False
    #: What the last full plan left alone in the kernel (not ours, not in the document): a delta apply,
    #: which does not read the kernel, repeats these notes.
    left_alone: list[str] = field(default_factory=list)
    #: to_json()'s owned/draining parts, kept while the records are unchanged (a one-weight change on a
    #: 50,000-real-server table must not format them all again); None: to be computed.
    _records_json: tuple[dict[str, Any], dict[str, Any]] | None = field(default=None, compare=False, repr=False)
    #: Their compact JSON text, kept the same way (at 5,000 services, dumping them was half a one-weight delta):
    #: the owned services, each service's real servers (`"key":[...]`, patched one service at a time), the
    #: addresses, the files and the drains.
    _records_text: tuple[str, dict[str, str], str, str, str] | None = field(default=None, compare=False, repr=False)

    def _sizes(self) -> tuple[int, ...]:
        return (
            len(self.services),
            len(self.dests),
            len(self.addresses),
            len(self.files),
            len(self.draining_services),
            len(self.draining_dests),
        )

    def owns_service(self, key: ServiceKey) -> bool:
        return key in self.services

    def owns_dest(self, dest_id: DestId) -> bool:
        return dest_id in self.dests or dest_id[0] in self.draining_services

    def record(self, op: Operation) -> None:
        """Update ownership/drain records for one operation the kernel accepted."""
        before = self._sizes()
        self._record(op)
        # Every change of the records changes a size (they only add or remove), but a new drain deadline.
        after = self._sizes()
        if (op.kind == "drain-dest" or after != before) and not self._patch_records(op, before, after):
            self._records_json = self._records_text = None

    def _patch_records(self, op: Operation, before: tuple[int, ...], after: tuple[int, ...]) -> bool:
        """Update the formatted records in place for one real server added or deleted (a delta apply's
        common case: formatting 50,000 records again for one would cost more than the rest of the
        apply). False: they must be formatted again."""
        if self._records_json is None or op.service is None or op.dest is None:
            return False
        grown = after[1] - before[1]
        if (before[0], *before[2:]) != (after[0], *after[2:]) or grown not in (1, -1):
            return False  # a new service, an address, a file or a drain changed too
        owned = self._records_json[0]["real_servers"]
        service, text = str(op.service.key), f"{op.dest.address} {op.dest.port}"
        if grown == 1 and op.kind in ("add-dest", "edit-dest"):
            owned.setdefault(service, []).append(text)
        elif grown == -1 and op.kind == "del-dest" and text in owned.get(service, ()):
            owned[service].remove(text)
            if not owned[service]:
                del owned[service]
        else:
            return False
        if self._records_text is not None:  # that service's text only (a new one goes last, as in `owned`)
            pieces = self._records_text[1]
            if service in owned:
                pieces[service] = _piece(service, owned[service])
            else:
                pieces.pop(service, None)
        return True

    def _record(self, op: Operation) -> None:
        kind = op.kind
        if op.service is not None:
            self._record_ipvs(op, op.service.key)
        elif kind == "add-address" and op.address is not None:
            self.addresses.add(op.address)
        elif kind == "del-address" and op.address is not None:
            self.addresses.discard(op.address)
        elif kind == "write-file" and op.name is not None:
            self.files.add(op.name)
        elif kind == "remove-file" and op.name is not None:
            self.files.discard(op.name)

    def _record_ipvs(self, op: Operation, key: ServiceKey) -> None:
        kind = op.kind
        if kind in ("add-service", "edit-service"):
            self.services.add(key)
            self.draining_services.pop(key, None)
        elif kind == "del-service":
            self.services.discard(key)
            self.draining_services.pop(key, None)
            for dest_id in [d for d in self.dests | set(self.draining_dests) if d[0] == key]:
                self.dests.discard(dest_id)
                self.draining_dests.pop(dest_id, None)
        elif op.dest is not None:
            dest_id = (key, *op.dest.key)
            if kind in ("add-dest", "edit-dest"):
                self.services.add(key)
                self.dests.add(dest_id)
                self.draining_dests.pop(dest_id, None)
            elif kind == "drain-dest" and op.deadline is not None:
                self.draining_dests[dest_id] = op.deadline
                if op.service_leaving:
                    self.draining_services.setdefault(key, op.deadline)
            elif kind == "del-dest":
                self.dests.discard(dest_id)
                self.draining_dests.pop(dest_id, None)

    def adopt(self, desired: DesiredState, document: dict[str, Any] | None) -> bool:
        """After a complete apply: everything the document names is ours, nothing it names drains.
        Returns True when that changed the records."""
        self.revision = desired.revision
        self.document = document
        if desired.director is None:
            return False
        before = (len(self.services), len(self.dests), len(self.draining_services), len(self.draining_dests))
        for service in desired.director.services:
            key = service.key
            self.services.add(key)
            self.draining_services.pop(key, None)
            for dest in service.real_servers:
                dest_id = (key, dest.address, dest.port)
                self.dests.add(dest_id)
                if self.draining_dests:
                    self.draining_dests.pop(dest_id, None)
        after = (len(self.services), len(self.dests), len(self.draining_services), len(self.draining_dests))
        if before != after:
            self._records_json = self._records_text = None
        return before != after

    def adopt_services(self, services: list[Service]) -> None:
        """After a complete delta apply: the changed services and their real servers are ours (the others
        were adopted by the apply that made them)."""
        before = self._sizes()
        for service in services:
            self.services.add(service.key)
            for dest in service.real_servers:
                self.dests.add((service.key, dest.address, dest.port))
        if self._sizes() != before:
            self._records_json = self._records_text = None

    def to_json(self) -> dict[str, Any]:
        """Compact JSON: services by their operator text (`tcp 10.10.0.100:80`), real servers as
        `address port` grouped by service (a 50,000-real-server table stays a quick write)."""
        if self._records_json is None:
            self._records_json = self._records()
        owned, draining = self._records_json
        return {
            "format": 2,
            "revision": self.revision,
            "complete": self.complete,
            "left_alone": self.left_alone,
            "owned": owned,
            "draining": draining,
        }

    def to_text(self) -> str:
        """`to_json()` as compact JSON text, the records' part kept from the last time while they are unchanged."""
        if self._records_text is None:
            data = self.to_json()
            owned = data["owned"]
            pieces = {service: _piece(service, dests) for service, dests in owned["real_servers"].items()}
            texts = (_compact(owned["services"]), _compact(owned["addresses"]), _compact(owned["files"]))
            self._records_text = (texts[0], pieces, texts[1], texts[2], _compact(data["draining"]))
        head = _compact(
            {"format": 2, "revision": self.revision, "complete": self.complete, "left_alone": self.left_alone}
        )
        services, pieces, addresses, files, draining = self._records_text
        real_servers = ",".join(pieces.values())
        owned_text = (
            f'{{"services":{services},"real_servers":{{{real_servers}}},"addresses":{addresses},"files":{files}}}'
        )
        return f'{head[:-1]},"owned":{owned_text},"draining":{draining}}}'

    def _records(self) -> tuple[dict[str, Any], dict[str, Any]]:
        dests: dict[str, list[str]] = {}
        for key, address, port in self.dests:
            dests.setdefault(str(key), []).append(f"{address} {port}")
        draining_dests: dict[str, dict[str, float]] = {}
        for (key, address, port), deadline in self.draining_dests.items():
            draining_dests.setdefault(str(key), {})[f"{address} {port}"] = deadline
        owned = {
            "services": sorted(str(key) for key in self.services),
            "real_servers": dests,
            "addresses": sorted(f"{a.interface} {a.address}/{a.prefix}" for a in self.addresses),
            "files": sorted(self.files),
        }
        draining = {
            "services": {str(key): deadline for key, deadline in self.draining_services.items()},
            "real_servers": draining_dests,
        }
        return owned, draining

    @classmethod
    def from_json(cls, data: dict[str, Any], document: dict[str, Any] | None = None) -> Ledger:
        owned, draining = data.get("owned", {}), data.get("draining", {})
        from_text = ServiceKey.from_text

        def address(text: str) -> Address:
            interface, _, rest = text.partition(" ")
            ip, _, prefix = rest.rpartition("/")
            return Address(interface=interface, address=ip, prefix=int(prefix))

        dests = set()
        for key_text, items in owned.get("real_servers", {}).items():
            key = from_text(key_text)
            for item in items:
                ip, _, port = item.partition(" ")
                dests.add((key, ip, int(port)))
        draining_dests = {}
        for key_text, items in draining.get("real_servers", {}).items():
            key = from_text(key_text)
            for item, deadline in items.items():
                ip, _, port = item.partition(" ")
                draining_dests[(key, ip, int(port))] = deadline
        return cls(
            revision=data.get("revision"),
            complete=data.get("complete", False) is True,
            left_alone=[str(note) for note in data.get("left_alone", [])],
            document=document,
            services={from_text(text) for text in owned.get("services", [])},
            dests=dests,
            addresses={address(text) for text in owned.get("addresses", [])},
            files=set(owned.get("files", [])),
            draining_services={from_text(k): v for k, v in draining.get("services", {}).items()},
            draining_dests=draining_dests,
        )


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return None


def _compact(data: Any) -> str:
    return json.dumps(data, separators=(",", ":"))


def _piece(service: str, dests: list[str]) -> str:
    return f"{_compact(service)}:{_compact(dests)}"


def load_ledger(root: str | Path) -> Ledger:
    """The ledger stored under root, or an empty one on first run."""
    data = _read_json(Path(root) / STATE_FILE)
    if data is None:
        return Ledger()
    return Ledger.from_json(data, document=_read_json(Path(root) / DOCUMENT_FILE))


def _write_atomically(path: Path, text: str) -> None:
    # A crash never leaves half a file: write aside, then rename over.
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def save_ledger(root: str | Path, ledger: Ledger, document_text: str | None = None) -> None:
    """Write the ledger, and the last document when `document_text` (its JSON) is given, under root."""
    if document_text is not None:
        _write_atomically(Path(root) / DOCUMENT_FILE, document_text)
    _write_atomically(Path(root) / STATE_FILE, ledger.to_text())
