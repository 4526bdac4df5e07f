"""Health of real servers, as pure logic: the rise/fall state machine and the desired state it implies.

The director's agent probes its real servers (agents/lvsweb_agent/monitor.py); each result goes through `step()`.
`adjust()` turns a document's desired state into the one the kernel should hold given the health seen so
far: a real server that is down gets weight 0 (existing connections finish) or leaves the service (the
planner drains it), and a service with fewer than its quorum of healthy real servers sends new
connections to its sorry server. Nothing here does I/O.

A real server starts "unknown" (after an agent restart too) and counts as healthy until `fall` probes in a
row have failed: a restart never takes servers out of the kernel at once.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from lvsweb_agent.model import DesiredState, HealthCheck, RealServer, Service, ServiceKey, Tunnel, format_hostport

UNKNOWN, UP, DOWN = "unknown", "up", "down"
STATUSES = (UNKNOWN, UP, DOWN)


@dataclass(frozen=True)
class TargetState:
    """The health of one checked real server: its status and the run of equal results behind it."""

    status: str = UNKNOWN
    successes: int = 0
    failures: int = 0


def step(state: TargetState, ok: bool, rise: int, fall: int) -> TargetState:
    """The state after one probe result.

    - A failure ends any run of successes; after `fall` failures in a row an up or unknown server is down.
    - A success ends any run of failures; after `rise` successes in a row a down server is up again. An
      unknown server is up after its first success (it already counted as healthy).
    """
    if ok:
        successes = state.successes + 1
        status = state.status
        if status == UNKNOWN or (status == DOWN and successes >= rise):
            status = UP
        return TargetState(status=status, successes=successes, failures=0)
    failures = state.failures + 1
    status = DOWN if failures >= fall else state.status
    return TargetState(status=status, successes=0, failures=failures)


@dataclass(frozen=True)
class Target:
    """A checked real server of a service, as the agent names it in reports."""

    service: ServiceKey
    address: str
    port: int

    @property
    def id(self) -> str:
        """`tcp 10.10.0.100:80 -> 10.20.0.11:80`."""
        return f"{self.service} -> {format_hostport(self.address, self.port)}"

    def to_json(self) -> dict[str, Any]:
        return {"service": str(self.service), "address": self.address, "port": self.port}


def targets(desired: DesiredState) -> dict[Target, tuple[HealthCheck, str | None, Tunnel | None]]:
    """Every checked real server of a document: its check, the VIP a tunnel-path probe aims at and the
    real server's tunnel (the encapsulation that probe uses)."""
    found: dict[Target, tuple[HealthCheck, str | None, Tunnel | None]] = {}
    if desired.director is None:
        return found
    for service in desired.director.services:
        for dest in service.real_servers:
            if dest.health is not None:
                tunnel = (dest.tunnel or Tunnel()) if dest.forward == "tun" else None
                found[Target(service.key, dest.address, dest.port)] = (dest.health, service.key.address, tunnel)
    return found


def healthy(status: str | None) -> bool:
    """Unknown and unchecked real servers count as healthy; only "down" does not."""
    return status != DOWN


def adjust_service(service: Service, statuses: dict[Target, str]) -> tuple[Service, bool]:
    """The service as the kernel should hold it given `statuses`; and whether its quorum is lost."""
    kept: list[RealServer] = []
    up = 0
    for dest in service.real_servers:
        status = statuses.get(Target(service.key, dest.address, dest.port))
        if dest.health is not None and not healthy(status):
            if dest.health.on_failure == "weight0":
                kept.append(replace(dest, weight=0))
            continue
        kept.append(dest)
        if dest.weight > 0:
            up += 1
    quorum = service.quorum
    quorum_lost = quorum is not None and up < quorum.min_up
    if quorum is not None and quorum_lost:
        # Too few healthy servers: new connections go to the sorry server; open ones finish where they are.
        kept = [replace(dest, weight=0) for dest in kept]
        kept.append(quorum.sorry_server)
    if kept == list(service.real_servers):
        return service, quorum_lost
    return replace(service, real_servers=tuple(kept)), quorum_lost


def adjust(desired: DesiredState, statuses: dict[Target, str]) -> DesiredState:
    """The desired state with health applied (see the module docstring); unchanged when all are healthy."""
    if desired.director is None:
        return desired
    services = tuple(adjust_service(service, statuses)[0] for service in desired.director.services)
    if services == desired.director.services:
        return desired
    return replace(desired, director=replace(desired.director, services=services))


def lost_quorums(desired: DesiredState, statuses: dict[Target, str]) -> list[ServiceKey]:
    """Services whose sorry server takes the traffic."""
    if desired.director is None:
        return []
    return [service.key for service in desired.director.services if adjust_service(service, statuses)[1]]
