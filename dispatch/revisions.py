"""Comparing inventories (revisions, or a revision and the current inventory), object by object."""

from collections.abc import Mapping
from typing import Any

from clusters.compiler import SERVICE_FIELDS, SNAPSHOT_REAL_SERVER_FIELDS


def service_key(service: Mapping[str, Any]) -> tuple:
    """A service's identity: protocol + VIP + port, or firewall mark + family."""
    if service["protocol"] == "fwmark":
        return ("fwmark", service["fwmark"], service["address_family"])
    return (service["protocol"], service["address"], service["port"])


def service_label(key: tuple) -> str:
    """`TCP 10.0.0.1:80` or `FWM 5 (ipv4)`, as operators read them."""
    if key[0] == "fwmark":
        return f"FWM {key[1]} ({key[2]})"
    host = f"[{key[1]}]" if ":" in str(key[1]) else key[1]
    return f"{key[0].upper()} {host}:{key[2]}"


def real_server_key(real_server: Mapping[str, Any]) -> tuple:
    """A real server's identity within its service: address and port."""
    return (real_server["address"], real_server["port"])


def _field_changes(old: Mapping[str, Any], new: Mapping[str, Any], fields) -> dict[str, list[Any]]:
    return {name: [old.get(name), new.get(name)] for name in fields if old.get(name) != new.get(name)}


def _health_changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, list[Any]]:
    """A health check's changes, field by field (`health check fall: [3, 5]`); a whole one when added or removed."""
    before, after = old.get("health_check"), new.get("health_check")
    if before == after:
        return {}
    if before is None or after is None:
        return {"health check": [before and before["check_type"], after and after["check_type"]]}
    names = sorted(set(before) | set(after))
    return {
        f"health check {name}": [before.get(name), after.get(name)]
        for name in names
        if before.get(name) != after.get(name)
    }


def inventory_diff(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[dict[str, Any]]:
    """What changes from `old` to `new`: rows of {change: added|removed|changed, object, label, fields}.

    Rows come in a stable order: cluster settings, hosts, then services each followed by its real servers.
    """
    rows: list[dict[str, Any]] = []
    cluster_fields = _field_changes(old["cluster"], new["cluster"], ("drain_timeout", "sync"))
    if cluster_fields:
        rows.append(
            {"change": "changed", "object": "cluster", "label": new["cluster"]["name"], "fields": cluster_fields}
        )
    old_hosts = {(h["hostname"], h["role"]) for h in old["hosts"]}
    new_hosts = {(h["hostname"], h["role"]) for h in new["hosts"]}
    for hostname, role in sorted(old_hosts - new_hosts):
        rows.append({"change": "removed", "object": "host", "label": f"{hostname} ({role})", "fields": {}})
    for hostname, role in sorted(new_hosts - old_hosts):
        rows.append({"change": "added", "object": "host", "label": f"{hostname} ({role})", "fields": {}})
    rows.extend(_ha_changes(old, new))
    old_services = {service_key(s): s for s in old["virtual_services"]}
    new_services = {service_key(s): s for s in new["virtual_services"]}
    for key in sorted(set(old_services) | set(new_services), key=str):
        before, after = old_services.get(key), new_services.get(key)
        label = service_label(key)
        if before is None or after is None:
            change = "added" if before is None else "removed"
            present = after if before is None else before
            rows.append({"change": change, "object": "virtual service", "label": label, "fields": {}})
            for rs in present["real_servers"]:
                rows.append(
                    {
                        "change": change,
                        "object": "real server",
                        "label": f"{label} → {rs['address']}:{rs['port']}",
                        "fields": {},
                    }
                )
            continue
        fields = {**_field_changes(before, after, (*SERVICE_FIELDS, "vip_group")), **_health_changes(before, after)}
        if fields:
            rows.append({"change": "changed", "object": "virtual service", "label": label, "fields": fields})
        old_rs = {real_server_key(rs): rs for rs in before["real_servers"]}
        new_rs = {real_server_key(rs): rs for rs in after["real_servers"]}
        for rs_key in sorted(set(old_rs) | set(new_rs), key=str):
            rs_label = f"{label} → {rs_key[0]}:{rs_key[1]}"
            if rs_key not in new_rs:
                rows.append({"change": "removed", "object": "real server", "label": rs_label, "fields": {}})
            elif rs_key not in old_rs:
                rows.append({"change": "added", "object": "real server", "label": rs_label, "fields": {}})
            else:
                fields = {
                    **_field_changes(old_rs[rs_key], new_rs[rs_key], (*SNAPSHOT_REAL_SERVER_FIELDS, "host")),
                    **_health_changes(old_rs[rs_key], new_rs[rs_key]),
                }
                if fields:
                    rows.append({"change": "changed", "object": "real server", "label": rs_label, "fields": fields})
    return rows


#: What a revision records of a director's part in high availability, with its value in revisions made before it.
DIRECTOR_HA_DEFAULTS = {"vrrp_priority": 100, "drained": False}


def _ha_changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Directors' VRRP priority and drain, and VIP groups added, removed or changed (docs/ha.md)."""
    rows: list[dict[str, Any]] = []
    before_hosts = {(h["hostname"], h["role"]): h for h in old["hosts"]}
    for host in new["hosts"]:
        before = before_hosts.get((host["hostname"], host["role"]))
        if before is None or host["role"] != "director":
            continue
        fields = {
            name: [before.get(name, default), host.get(name, default)]
            for name, default in DIRECTOR_HA_DEFAULTS.items()
            if before.get(name, default) != host.get(name, default)
        }
        if fields:
            rows.append(
                {"change": "changed", "object": "host", "label": f"{host['hostname']} (director)", "fields": fields}
            )
    old_groups = {g["name"]: g for g in old.get("vip_groups", [])}
    new_groups = {g["name"]: g for g in new.get("vip_groups", [])}
    for name in sorted(set(old_groups) | set(new_groups)):
        before, after = old_groups.get(name), new_groups.get(name)
        if before is None or after is None:
            change = "added" if before is None else "removed"
            rows.append({"change": change, "object": "VIP group", "label": name, "fields": {}})
            continue
        fields = _field_changes(before, after, sorted(set(before) | set(after)))
        if fields:
            rows.append({"change": "changed", "object": "VIP group", "label": name, "fields": fields})
    return rows
