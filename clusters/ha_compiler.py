"""The `director.ha` part of the documents (HA-INTERFACE.md, docs/ha.md): one VRRP instance per VIP group.

Pure like the rest of the compiler: it reads inventory snapshots (revisions of before high availability have no
`vip_groups` and compile as they did). Every director of a cluster gets an instance for each of the cluster's
VIP groups, with its own priority; the VIPs of a group's services move with the instance instead of sitting in
`director.vips`. A drained director gets priority 1, below every other director's (2–254), and for as long as
a director of the cluster is drained the others preempt, so that the VIPs leave it even in groups that do not
preempt; undraining restores the group's own setting (without preemption the VIPs then stay where they went).
"""

import ipaddress
from collections.abc import Mapping
from typing import Any

from clusters.choices import HostRole

#: The VRRP priority of a drained director (ClusterHost.vrrp_priority is 2–254 otherwise).
DRAINED_PRIORITY = 1


def group_snapshot(group) -> dict[str, Any]:
    """What a revision records of a VIP group."""
    return {
        "name": group.name,
        "vrid": group.vrid,
        "advert_int": group.advert_int,
        "preempt": group.preempt,
        "preempt_delay": group.preempt_delay,
        "unicast": group.unicast,
        "auth_pass": group.auth_pass,
        "track_agent": group.track_agent,
    }


def grouped(snapshot: Mapping[str, Any], service: Mapping[str, Any]) -> bool:
    """True when the service's VIP is moved by one of the snapshot's VIP groups (not held by every director)."""
    names = {group["name"] for group in snapshot.get("vip_groups", [])}
    return service.get("vip_group") in names


def vrrp_interface(host: Mapping[str, Any]) -> str:
    """The interface a director speaks VRRP on, from its snapshot: its first uplink, else its VIP interface."""
    return host["uplinks"][0] if host.get("uplinks") else host["vip_interface"]


def _advert(value: float) -> int | float:
    # Whole seconds as integers, so that documents read like the ones operators write.
    return int(value) if float(value).is_integer() else round(float(value), 2)


def _instance(
    snapshot: Mapping[str, Any], group: Mapping[str, Any], host: Mapping[str, Any], name: str
) -> dict[str, Any]:
    directors = [h for h in snapshot["hosts"] if h["role"] == HostRole.DIRECTOR]
    interface = vrrp_interface(host)
    vip_interface = host["vip_interface"] if host["vip_interface"] != "lo" else interface
    vips = []
    for service in snapshot["virtual_services"]:
        if not service["enabled"] or service.get("vip_group") != group["name"] or not service["address"]:
            continue
        prefix = ipaddress.ip_address(service["address"]).max_prefixlen
        vip = {"address": service["address"], "prefix": prefix, "interface": vip_interface}
        if vip not in vips:
            vips.append(vip)
    peers = [h["address"] for h in directors if h["hostname"] != host["hostname"] and h.get("address")]
    unicast = bool(group["unicast"] and peers and host.get("address"))
    draining = any(h.get("drained") for h in directors)
    return {
        "name": name,
        "vrid": group["vrid"],
        "interface": interface,
        "priority": DRAINED_PRIORITY if host.get("drained") else host.get("vrrp_priority", 100),
        "preempt": bool(group["preempt"] or draining),
        "preempt_delay": group["preempt_delay"] if group["preempt"] else 0,
        "advert_int": _advert(group["advert_int"]),
        "unicast_source": host["address"] if unicast else None,
        "unicast_peers": peers if unicast else [],
        "auth_pass": group["auth_pass"] or None,
        "vips": vips,
        "track_agent": group["track_agent"],
    }


def add_ha(documents: dict[str, dict[str, Any]], snapshots: list[Mapping[str, Any]]) -> None:
    """Give each director of a cluster with VIP groups its `director.ha` (instances, sync, backup_only)."""
    directing: dict[str, int] = {}
    real_server_hosts: set[str] = set()
    for snapshot in snapshots:
        for host in snapshot["hosts"]:
            if host["role"] == HostRole.DIRECTOR:
                directing[host["hostname"]] = directing.get(host["hostname"], 0) + 1
            else:
                real_server_hosts.add(host["hostname"])
        for service in snapshot["virtual_services"]:
            real_server_hosts.update(rs["host"] for rs in service["real_servers"] if rs.get("host"))
    for snapshot in snapshots:
        groups = snapshot.get("vip_groups") or []
        if not groups:
            continue
        sync = snapshot["cluster"].get("sync")
        for host in snapshot["hosts"]:
            director = documents[host["hostname"]]["director"]
            if host["role"] != HostRole.DIRECTOR or director is None:
                continue
            ha = director.setdefault(
                "ha",
                {"router_id": host["hostname"][:64], "instances": [], "sync": None, "backup_only": False},
            )
            shared = directing[host["hostname"]] > 1
            for group in groups:
                name = f"{snapshot['cluster']['slug']}-{group['name']}" if shared else group["name"]
                instance = _instance(snapshot, group, host, name)
                if instance["vips"]:  # a group no enabled service is in yet has no VIP for keepalived to move
                    ha["instances"].append(instance)
            if sync is not None and ha["sync"] is None:
                ha["sync"] = {**sync, "interface": vrrp_interface(host)}
            ha["backup_only"] = host["hostname"] in real_server_hosts
    for document in documents.values():
        director = document.get("director")
        if director is not None and director.get("ha") is not None and not director["ha"]["instances"]:
            del director["ha"]  # no VIP to move: no keepalived (the agent refuses an `ha` without instances)
