"""The pure planner: desired x actual x ledger x now -> ordered operations, each with the reason for it.

No I/O here. Applying the plan and planning again yields an empty plan (except drains, which finish on a
later run when connections end or the deadline passes).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field, replace
from typing import Any

from lvsweb_agent.haplan import ha_operations
from lvsweb_agent.ledger import Ledger
from lvsweb_agent.model import (
    ActualState,
    Address,
    DesiredState,
    Director,
    Persistence,
    RealServer,
    Service,
    Tunnel,
)
from lvsweb_agent.operations import Operation, dest_target
from lvsweb_agent.persist import wanted_files, wanted_sysctls

# Execution order. Services exist before their real servers; real servers go before their service;
# the addresses a service answers on are added first and removed last.
PHASES = (
    "load-module",
    "link-up",
    "set-sysctl",
    "add-address",
    "add-service",
    "edit-service",
    "add-dest",
    "edit-dest",
    "drain-dest",
    "del-dest",
    "del-service",
    "del-address",
    "write-file",
    "remove-file",
    "sync-daemon",
    "ha-config",
    "ha-stop",
)
IPVS_KINDS = frozenset(PHASES[4:11])


@dataclass
class Plan:
    """Ordered operations plus notes about things deliberately left alone."""

    operations: list[Operation] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not self.operations

    def __str__(self) -> str:
        if self.empty:
            lines = ["nothing to do: the kernel matches the document"]
        else:
            lines = [str(op) for op in self.operations]
        lines += [f"note: {note}" for note in self.notes]
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        return {"operations": [op.to_json() for op in self.operations], "notes": self.notes}


def _when(deadline: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(deadline))


def _service_changes(old: Service, new: Service) -> str:
    changes = []
    if old.scheduler != new.scheduler:
        changes.append(f"scheduler {old.scheduler} -> {new.scheduler}")
    if old.flags != new.flags:
        changes.append(f"flags {','.join(sorted(old.flags)) or 'none'} -> {','.join(sorted(new.flags)) or 'none'}")
    if old.persistence != new.persistence:

        def text(p: Persistence | None) -> str:
            return f"{p.timeout}s mask {p.netmask}" if p else "none"

        changes.append(f"persistence {text(old.persistence)} -> {text(new.persistence)}")
    if old.one_packet != new.one_packet:
        changes.append(f"one-packet {'on' if old.one_packet else 'off'} -> {'on' if new.one_packet else 'off'}")
    return ", ".join(changes)


def _dest_changes(old: RealServer, new: RealServer) -> str:
    changes = []
    if old.weight != new.weight:
        changes.append(f"weight {old.weight} -> {new.weight}")
    if old.forward != new.forward:
        changes.append(f"forward {old.forward} -> {new.forward}")
    elif new.forward == "tun" and (old.tunnel or Tunnel()) != (new.tunnel or Tunnel()):
        changes.append(f"tunnel {(old.tunnel or Tunnel()).describe()} -> {(new.tunnel or Tunnel()).describe()}")
    if old.upper_threshold != new.upper_threshold:
        changes.append(f"upper threshold {old.upper_threshold} -> {new.upper_threshold}")
    if old.lower_threshold != new.lower_threshold:
        changes.append(f"lower threshold {old.lower_threshold} -> {new.lower_threshold}")
    return ", ".join(changes)


class _Planner:
    def __init__(self, desired: DesiredState, actual: ActualState, ledger: Ledger, now: float):
        self.desired, self.actual, self.ledger, self.now = desired, actual, ledger, now
        self.director = desired.director or Director()
        self.ops: list[Operation] = []
        self.notes: list[str] = []

    def add(self, kind: str, target: str | None, detail: str | None = "", reason: str = "", **payload: Any) -> None:
        self.ops.append(Operation(kind, target, detail, reason, **payload))

    def run(self) -> Plan:
        self.host()
        self.ipvs()
        self.files()
        self.ops += ha_operations(self.desired, self.actual.ha)
        # An address can be removed for two reasons (stray VIP, no longer wanted): remove it once.
        seen: set[Address | None] = set()
        kept = []
        for op in self.ops:
            if op.kind == "del-address":
                if op.address in seen:
                    continue
                seen.add(op.address)
            kept.append(op)
        self.ops = kept
        order = {kind: index for index, kind in enumerate(PHASES)}
        # A stable sort keeps the per-phase order (document order, then kernel order).
        ops = sorted(self.ops, key=lambda op: order[op.kind])
        return Plan(operations=ops, notes=self.notes)

    # -- host: modules, links, sysctls, addresses ------------------------------------------------------
    def host(self) -> None:
        desired, actual = self.desired, self.actual
        if desired.director is not None and desired.director.services and not actual.ipvs_loaded:
            self.add("load-module", "ip_vs", reason="IPVS is not loaded in this kernel")
        if desired.tun is not None:
            tunl0 = actual.links.get("tunl0")
            if tunl0 is None:
                self.add("load-module", "ipip", reason="tunl0 does not exist: the ipip module creates it")
            if tunl0 is None or not tunl0.up:
                self.add("link-up", "tunl0", reason="TUN: decapsulated packets arrive on tunl0", name="tunl0")
        for name, value, why in wanted_sysctls(desired):
            current = actual.sysctls.get(name)
            if current != value:
                now = "not set yet" if current is None else f"now {current}"
                self.add("set-sysctl", name, f"= {value}", f"{why}; {now}", name=name, value=value)
        wanted: list[tuple[Address, str]] = [(vip, "the director must hold the VIP") for vip in self.director.vips]
        for recipe, interface, why in (
            (desired.tun, "tunl0", "TUN: the real server accepts VIP traffic on tunl0"),
            (desired.dr, "lo", "DR: the real server accepts VIP traffic without answering ARP for it"),
        ):
            for vip in recipe.vips if recipe else ():
                wanted.append((Address(interface=interface, address=vip, prefix=32), why))
                for held in actual.addresses:
                    if held.address == vip and held.interface != interface and not self._director_vip(held):
                        self.add(
                            "del-address",
                            str(held),
                            reason=f"the VIP must only be on {interface}: held on {held.interface} "
                            "the host would answer ARP for it and take the director's traffic",
                            address=held,
                        )
        wanted_set = {address for address, _ in wanted}
        for address, why in wanted:
            if not actual.has_address(address):
                self.add("add-address", str(address), reason=f"{why}; not there yet", address=address)
        for address in sorted(self.ledger.addresses, key=str):
            if address not in wanted_set and actual.has_address(address):
                self.add("del-address", str(address), reason="no longer in the document", address=address)

    def _director_vip(self, address: Address) -> bool:
        return any(vip.address == address.address and vip.interface == address.interface for vip in self.director.vips)

    # -- IPVS ------------------------------------------------------------------------------------------
    def ipvs(self) -> None:
        desired_services = {service.key: service for service in self.director.services}
        for service in self.director.services:
            current = self.actual.services.get(service.key)
            if current is None:
                self.add("add-service", None, None, "not in the kernel", service=service)
                for dest in service.real_servers:
                    self.add_dest(service, dest, "not in the kernel")
                continue
            if current.settings() != service.settings():
                changes = _service_changes(current, service)
                self.add("edit-service", str(service.key), service.describe(), changes, service=service)
            # The common case is "nothing changed": a dict lookup and one dataclass comparison per real
            # server (a reconcile of 50,000 real servers runs this every few seconds).
            current_dests = {(dest.address, dest.port): dest for dest in current.real_servers}
            for dest in service.real_servers:
                have = current_dests.pop((dest.address, dest.port), None)
                if have is None:
                    self.add_dest(service, dest, "not in the kernel")
                elif have != dest and have.settings() != dest.settings():
                    reason = _dest_changes(have, dest)
                    if (service.key, *dest.key) in self.ledger.draining_dests:
                        reason += "; back in the document, drain cancelled"
                    self.add(
                        "edit-dest",
                        dest_target(service.key, dest),
                        dest.describe(),
                        reason,
                        service=service,
                        dest=dest,
                    )
            for dest in current_dests.values():
                self.remove_dest(current, dest, service_leaving=False)
        for key, current in sorted(self.actual.services.items()):
            if key in desired_services:
                continue
            if not (self.director.owns_ipvs_table or self.ledger.owns_service(key)):
                self.notes.append(f"left alone: {key} is not in the document and was not created by lvsweb-agent")
                continue
            self.remove_service(current)

    def add_dest(self, service: Service, dest: RealServer, reason: str) -> None:
        self.ops.append(Operation("add-dest", None, None, reason, service, dest))

    def remove_dest(self, service: Service, dest: RealServer, service_leaving: bool) -> bool:
        """Plan the next step of a real server's graceful removal; True when it is deleted now."""
        dest_id = (service.key, *dest.key)
        target = dest_target(service.key, dest)
        owned = self.director.owns_ipvs_table or service_leaving or self.ledger.owns_dest(dest_id)
        if not owned:
            self.notes.append(f"left alone: {target} is not in the document and was not created by lvsweb-agent")
            return False
        timeout = self.director.drain_timeout
        gone = "its service is no longer in the document" if service_leaving else "no longer in the document"
        conns = dest.connections
        if timeout == 0:
            self.add("del-dest", target, reason=f"{gone}; drain_timeout is 0", service=service, dest=dest)
            return True
        deadline = self.ledger.draining_dests.get(dest_id)
        if deadline is None:
            deadline = self.ledger.draining_services.get(service.key, self.now + timeout)
            self.add(
                "drain-dest",
                target,
                "weight 0",
                f"{gone}: no new connections; deleted once it has no connections (now {conns}), "
                f"at the latest {_when(deadline)}",
                service=service,
                dest=replace(dest, weight=0, counters=None),
                deadline=deadline,
                service_leaving=service_leaving,
            )
            return False
        if conns == 0:
            self.add("del-dest", target, reason="drained: no connections left", service=service, dest=dest)
            return True
        if self.now >= deadline:
            self.add(
                "del-dest",
                target,
                reason=f"drain deadline passed with {conns} connections left",
                service=service,
                dest=dest,
            )
            return True
        if dest.weight != 0:
            self.add(
                "drain-dest",
                target,
                "weight 0",
                f"draining, but its weight was changed to {dest.weight}",
                service=service,
                dest=replace(dest, weight=0, counters=None),
                deadline=deadline,
                service_leaving=service_leaving,
            )
        else:
            self.notes.append(f"draining: {target} has {conns} connections; deleted at the latest {_when(deadline)}")
        return False

    def remove_service(self, service: Service) -> None:
        target = str(service.key)
        deadline = self.ledger.draining_services.get(service.key)
        if not service.real_servers:
            self.add("del-service", target, reason="no longer in the document; no real servers left", service=service)
            return
        if self.director.drain_timeout == 0:
            self.add("del-service", target, reason="no longer in the document; drain_timeout is 0", service=service)
            return
        if deadline is not None and self.now >= deadline:
            self.add("del-service", target, reason="no longer in the document; drain deadline passed", service=service)
            return
        mark = len(self.ops)
        deleted = [self.remove_dest(service, dest, service_leaving=True) for dest in service.real_servers]
        if all(deleted):
            # Every real server is drained: deleting the service removes them in one step.
            del self.ops[mark:]
            self.add(
                "del-service", target, reason="no longer in the document; all real servers drained", service=service
            )

    # -- persisted files -------------------------------------------------------------------------------
    def files(self) -> None:
        for name, content in wanted_files(self.desired).items():
            current = self.actual.files.get(name)
            if content is not None and current != content:
                why = "missing" if current is None else "content differs"
                self.add(
                    "write-file", name, reason=f"keeps the settings across a reboot; {why}", name=name, value=content
                )
            elif content is None and current is not None and name in self.ledger.files:
                self.add("remove-file", name, reason="nothing to persist any more", name=name)


def plan(desired: DesiredState, actual: ActualState, ledger: Ledger | None = None, now: float | None = None) -> Plan:
    """Operations that make `actual` match `desired`, in execution order, each with its reason."""
    return _Planner(desired, actual, ledger or Ledger(), time.time() if now is None else now).run()


def plan_json(plan_: Plan) -> str:
    """The plan as indented JSON (for --json)."""
    return json.dumps(plan_.to_json(), indent=2)


__all__ = ["IPVS_KINDS", "PHASES", "Operation", "Plan", "plan", "plan_json"]
