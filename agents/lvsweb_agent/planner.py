"""The pure planner: desired x actual x ledger x now -> ordered operations, each with the reason for it.

No I/O here. Applying the plan and planning again yields an empty plan (except drains, which finish on a
later run when connections end or the deadline passes).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field, replace
from typing import Any

from lvsweb_agent.decap import (
    CSUM_DEVICES,
    IP6TNL_ANY,
    MODULE_OF_DEVICE,
    CsumDevice,
    Decapsulation,
    decapsulation,
    endpoints_of,
)
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
    family_of,
)
from lvsweb_agent.operations import Operation, dest_target
from lvsweb_agent.persist import wanted_files, wanted_sysctls

# Execution order. Services exist before their real servers; real servers go before their service;
# the addresses a service answers on are added first and removed last.
PHASES = (
    "load-module",
    "del-link",
    "add-link",
    "set-link",
    "link-up",
    "add-fou",
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
#: How a note about a kernel object that is neither in the document nor the agent's begins.
LEFT_ALONE = "left alone: "
IPVS_KINDS = frozenset(PHASES[PHASES.index("add-service") : PHASES.index("del-service") + 1])


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


def _local(csum: CsumDevice) -> Address:
    """A checksum device's local address, carried as the operation's address."""
    return Address(interface=csum.name, address=csum.local, prefix=128 if family_of(csum.local) == "ipv6" else 32)


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
        decap = decapsulation(endpoints_of(desired.tun))
        if desired.tun is not None:
            self.decapsulation(decap)
        for name, value, why in wanted_sysctls(desired):
            current = actual.sysctls.get(name)
            if current != value:
                now = "not set yet" if current is None else f"now {current}"
                self.add("set-sysctl", name, f"= {value}", f"{why}; {now}", name=name, value=value)
        wanted: list[tuple[Address, str]] = [
            (replace(vip, deprecated=family_of(vip.address) == "ipv6"), "the director must hold the VIP")
            for vip in self.director.vips
        ]
        placed = [
            (vip, device, f"TUN: the real server accepts VIP traffic on {device}") for vip, device in decap.vip_devices
        ]
        why_dr = "DR: the real server accepts VIP traffic without answering ARP for it"
        placed += [(vip, "lo", why_dr) for vip in (desired.dr.vips if desired.dr else ())]
        for vip, interface, why in placed:
            ipv6 = family_of(vip) == "ipv6"
            wanted.append((Address(interface=interface, address=vip, prefix=128 if ipv6 else 32, nodad=ipv6), why))
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

    def decapsulation(self, decap: Decapsulation) -> None:
        """Modules, devices and listeners a TUN real server needs to take its tunnels apart (decap.py)."""
        links, loading = self.actual.links, set()
        for device in decap.devices:
            module = MODULE_OF_DEVICE.get(device)
            if module is None:
                continue  # a checksum device: below
            link = links.get(device)
            if link is None and module not in loading:
                loading.add(module)
                self.add("load-module", module, reason=f"{device} does not exist: the {module} module creates it")
            if link is None or not link.up:
                self.add("link-up", device, reason=f"TUN: decapsulated packets arrive on {device}", name=device)
        for csum in decap.csum_devices:
            fallback = next(fallback for name, _, fallback in CSUM_DEVICES.values() if name == csum.name)
            module = MODULE_OF_DEVICE[fallback]
            if fallback not in links and module not in loading:
                loading.add(module)
                self.add("load-module", module, reason=f"{csum.name} is a {csum.kind} device: the {module} module")
            link = links.get(csum.name)
            detail = f"{csum.kind} local {csum.local} icsum"
            if link is not None and (link.kind != csum.kind or link.local != csum.local or not link.csum):
                self.add("del-link", csum.name, reason=f"it is not {detail}", name=csum.name)
                link = None
            if link is None:
                why = "GRE with checksums: the fallback device drops them as checksum errors"
                self.add("add-link", csum.name, detail, why, name=csum.name, value=csum.kind, address=_local(csum))
            if link is None or not link.up:
                self.add("link-up", csum.name, reason="TUN: decapsulated packets arrive on it", name=csum.name)
        ip6tnl0 = links.get("ip6tnl0")
        if decap.mode_any and (ip6tnl0 is None or ip6tnl0.tunnel_proto != IP6TNL_ANY):
            now = "ip6tnl0 is created in mode ip6ip6" if ip6tnl0 is None else "now mode ip6ip6"
            why = f"IPv4 VIPs arrive inside IPv6: in mode ip6ip6 ip6tnl0 drops them; {now}"
            self.add("set-link", "ip6tnl0", "mode any", why, name="ip6tnl0")
        if decap.fou_ports and not self.actual.fou_available and "fou" not in loading:
            self.add("load-module", "fou", reason="GUE: the fou module decapsulates UDP-encapsulated packets")
        for port, family in decap.fou_ports:
            if (port, family) not in self.actual.fou_ports:
                why = f"GUE: the director sends to UDP port {port} over {family.replace('ipv', 'IPv')}; not listening"
                self.add("add-fou", f"gue port {port} {family}", "", why, name=family, value=str(port))

    def _director_vip(self, address: Address) -> bool:
        """Whether the director holds `address` there: for good (director.vips) or while it is VRRP master (a VIP of
        director.ha, which keepalived adds on the uplink; a backup director that is also a real server of that VIP
        has it on lo or tunl0 too, and removing keepalived's would make it drop the VIP it just took)."""
        moved = [vip for instance in self.director.ha.instances for vip in instance.vips] if self.director.ha else []
        return any(
            vip.address == address.address and vip.interface == address.interface
            for vip in (*self.director.vips, *moved)
        )

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
            if current.real_servers is service.real_servers:
                continue  # the kernel's read found every real server configured as wanted (kernel.read_ipvs)
            # The common case is "nothing changed": a dict lookup and one dataclass comparison per real
            # server (a reconcile of 50,000 real servers runs this every few seconds).
            current_dests = {(dest.address, dest.port): dest for dest in current.real_servers}
            for dest in service.real_servers:
                have = current_dests.pop((dest.address, dest.port), None)
                if have is None:
                    self.add_dest(service, dest, "not in the kernel")
                elif have is not dest and have != dest and have.settings() != dest.settings():
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
        # Only the services the document does not name are sorted (ServiceKey comparisons are not free).
        leaving = [key for key in self.actual.services if key not in desired_services]
        for key in sorted(leaving):
            current = self.actual.services[key]
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


def ipvs_plan(desired: DesiredState, actual: ActualState, ledger: Ledger, now: float) -> Plan:
    """The IPVS operations alone (unsorted): services and real servers of `desired` against `actual`.
    For a delta apply (delta.py), where both hold only the services that changed."""
    planner = _Planner(desired, actual, ledger, now)
    planner.ipvs()
    return Plan(operations=planner.ops, notes=planner.notes)


def plan_json(plan_: Plan) -> str:
    """The plan as indented JSON (for --json)."""
    return json.dumps(plan_.to_json(), indent=2)


__all__ = ["IPVS_KINDS", "LEFT_ALONE", "PHASES", "Operation", "Plan", "ipvs_plan", "plan", "plan_json"]
