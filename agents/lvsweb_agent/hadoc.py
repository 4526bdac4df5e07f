"""Director high availability in a document (`director.ha`, docs/ha.md): model objects and their rules.

The schema checks each field; `parse_ha` adds what it cannot say: names unique, one VRID per interface,
unicast peers exactly when a unicast source is set, one address family per VRRP instance, and no VIP that
is both moved by keepalived and held for good in `director.vips`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lvsweb_agent.model import Address, family_of, normalize_address


@dataclass(frozen=True)
class VrrpInstance:
    """One keepalived vrrp_instance: a VIP group that moves between directors as one."""

    name: str
    vrid: int
    interface: str
    priority: int
    vips: tuple[Address, ...]
    preempt: bool = True
    preempt_delay: int = 0
    advert_int: float = 1.0
    unicast_source: str | None = None
    unicast_peers: tuple[str, ...] = ()
    auth_pass: str | None = None
    track_agent: bool = True

    @property
    def family(self) -> str:
        return family_of(self.vips[0].address)

    @property
    def vrrp_version(self) -> int:
        """2 where it can be (IPv4, whole-second adverts: what most peers speak), else 3."""
        return 2 if self.family == "ipv4" and float(self.advert_int).is_integer() else 3


@dataclass(frozen=True)
class SyncDaemon:
    """The kernel's IPVS connection sync daemon settings (None: the kernel's default)."""

    syncid: int
    interface: str
    port: int | None = None
    mcast_group: str | None = None
    ttl: int | None = None

    def describe(self) -> str:
        text = f"syncid {self.syncid} on {self.interface}"
        if self.mcast_group:
            text += f" group {self.mcast_group}"
        if self.port:
            text += f" port {self.port}"
        if self.ttl:
            text += f" ttl {self.ttl}"
        return text


@dataclass(frozen=True)
class HighAvailability:
    """`director.ha`: keepalived's VRRP instances, the sync daemon, backup-only mode."""

    router_id: str
    instances: tuple[VrrpInstance, ...]
    sync: SyncDaemon | None = None
    backup_only: bool = False

    @property
    def tracked(self) -> bool:
        return any(instance.track_agent for instance in self.instances)


Problem = Callable[[str, str], None]


def parse_ha(
    data: dict[str, Any] | None, path: str, director_vips: tuple[Address, ...], problem: Problem
) -> HighAvailability | None:
    """The `ha` section as model objects; rule violations go to `problem(json_path, message)`."""
    if data is None:
        return None
    instances = []
    names: dict[str, str] = {}
    vrids: dict[tuple[str, int], str] = {}
    held = {vip.address for vip in director_vips}
    moved: dict[str, str] = {}
    for index, item in enumerate(data["instances"]):
        where = f"{path}.instances[{index}]"
        instance = _instance(item, where, problem)
        if instance.name in names:
            problem(f"{where}.name", f"{instance.name!r} is already the name of {names[instance.name]}")
        names.setdefault(instance.name, where)
        slot = (instance.interface, instance.vrid)
        if slot in vrids:
            problem(f"{where}.vrid", f"VRID {instance.vrid} on {instance.interface} is already used by {vrids[slot]}")
        vrids.setdefault(slot, where)
        for number, vip in enumerate(instance.vips):
            vip_path = f"{where}.vips[{number}]"
            if vip.address in held:
                problem(
                    vip_path, f"{vip.address} is also in director.vips: a VIP is either held for good or moved by VRRP"
                )
            if vip.address in moved:
                problem(vip_path, f"{vip.address} is already moved by {moved[vip.address]}")
            moved.setdefault(vip.address, where)
        instances.append(instance)
    sync = data.get("sync")
    return HighAvailability(
        router_id=data["router_id"],
        instances=tuple(instances),
        sync=None if sync is None else _sync(sync),
        backup_only=data.get("backup_only", False),
    )


def _instance(data: dict[str, Any], path: str, problem: Problem) -> VrrpInstance:
    vips = []
    for number, item in enumerate(data["vips"]):
        address = normalize_address(item["address"])
        limit = 32 if family_of(address) == "ipv4" else 128
        prefix = item.get("prefix", limit)
        if prefix > limit:
            problem(f"{path}.vips[{number}].prefix", f"{prefix} is too long for {address} (max {limit})")
        vips.append(Address(interface=item["interface"], address=address, prefix=prefix))
    families = {family_of(vip.address) for vip in vips}
    if len(families) > 1:
        problem(f"{path}.vips", "IPv4 and IPv6 VIPs in one VRRP instance: VRRP speaks one family; use two instances")
    source = data.get("unicast_source")
    peers = tuple(normalize_address(peer) for peer in data.get("unicast_peers", []))
    if source is not None and not peers:
        problem(f"{path}.unicast_peers", "unicast VRRP (unicast_source set) needs the other directors' addresses")
    if source is None and peers:
        problem(f"{path}.unicast_source", "unicast_peers need this director's own address in unicast_source")
    family: str = family_of(vips[0].address)
    named: list[tuple[str, str]] = [("unicast_peers", peer) for peer in peers]
    if source is not None:
        named.insert(0, ("unicast_source", source))
    for name, address in named:
        if family_of(address) != family:
            problem(f"{path}.{name}", f"{address} is not of the VIPs' family ({family.replace('ipv', 'IPv')})")
    instance = VrrpInstance(
        name=data["name"],
        vrid=data["vrid"],
        interface=data["interface"],
        priority=data["priority"],
        vips=tuple(vips),
        preempt=data.get("preempt", True),
        preempt_delay=data.get("preempt_delay", 0),
        advert_int=float(data.get("advert_int", 1)),
        unicast_source=None if source is None else normalize_address(source),
        unicast_peers=peers,
        auth_pass=data.get("auth_pass"),
        track_agent=data.get("track_agent", True),
    )
    if instance.auth_pass is not None and instance.vrrp_version == 3:
        problem(
            f"{path}.auth_pass", "VRRP authentication exists only in VRRP version 2 (IPv4, whole-second advert_int)"
        )
    if instance.preempt_delay and not instance.preempt:
        problem(f"{path}.preempt_delay", "preempt_delay only applies with preempt true")
    return instance


def _sync(data: dict[str, Any]) -> SyncDaemon:
    group = data.get("mcast_group")
    return SyncDaemon(
        syncid=data["syncid"],
        interface=data["interface"],
        port=data.get("port"),
        mcast_group=None if group is None else normalize_address(group),
        ttl=data.get("ttl"),
    )
