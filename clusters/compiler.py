"""From the inventory to per-host desired-state documents (docs/agent-spec.md).

Two steps. `inventory_snapshot()` reads a cluster from the database into plain data — what a revision
stores, what a rollback restores. `compile_documents()` is pure: it turns snapshots (one per cluster the
hosts serve) into one document per host, so a host that serves several clusters gets all of them at once.
"""

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

# The format of the documents compiled here is the one the agent package reads (one definition).
from lvsweb_agent.document import DOCUMENT_VERSION

from clusters.choices import ForwardMethod, HealthCheckType, HostRole, Protocol, RealServerState, TunnelType
from clusters.ha_compiler import add_ha, group_snapshot, grouped
from clusters.models import Cluster, ClusterHost, HealthCheck, RealServer, VipGroup, VirtualService
from clusters.models.health import DATAGRAM_DEFAULTS, HEALTH_CHECK_FIELDS
from clusters.models.real_servers import REAL_SERVER_FIELDS
from clusters.models.virtual_services import VIRTUAL_SERVICE_FIELDS

#: What the inventory snapshot records of each service and real server (the real server's description too).
SERVICE_FIELDS = VIRTUAL_SERVICE_FIELDS
SNAPSHOT_REAL_SERVER_FIELDS = (*REAL_SERVER_FIELDS, "description")


def _health_snapshot(obj) -> dict[str, Any] | None:
    try:
        check = obj.health_check
    except HealthCheck.DoesNotExist:
        return None
    return _check_snapshot(check)


def _check_snapshot(check: HealthCheck | None) -> dict[str, Any] | None:
    if check is None:
        return None
    snapshot = {name: getattr(check, name) for name in HEALTH_CHECK_FIELDS}
    if check.check_type not in (HealthCheckType.UDP, HealthCheckType.DNS):
        # Revisions made before UDP and DNS checks existed hold none of their settings: leaving them out
        # where they cannot apply keeps those revisions equal to today's.
        for name in DATAGRAM_DEFAULTS:
            del snapshot[name]
    return snapshot


#: The most services whose real servers `inventory_snapshots` reads by a list of their ids (SQLite takes 32,766
#: parameters a query).
SERVICE_IDS_LISTED = 10_000


def inventory_snapshot(cluster: Cluster) -> dict[str, Any]:
    """The cluster's inventory as plain JSON data, in a stable order (five queries)."""
    return inventory_snapshots([cluster])[cluster.pk]


def inventory_snapshots(clusters: Iterable[Cluster]) -> dict[int, dict[str, Any]]:
    """{cluster id: its `inventory_snapshot`} for many clusters in the same five queries (the dashboard)."""
    clusters = list(clusters)
    services = list(VirtualService.objects.filter(cluster__in=clusters).select_related("health_check", "vip_group"))
    services_of: dict[int, list[VirtualService]] = {cluster.pk: [] for cluster in clusters}
    for service in services:
        services_of[service.cluster_id].append(service)
    # Real servers as plain values, not model instances: at 5,000 a cluster they were most of a Plan's time
    # (docs/performance.md, "Console at scale"). The few real servers' own health checks in a query of their own.
    # By their services' ids: an index scan of the cluster's rows, not a join that scans every real server. Past
    # SERVICE_IDS_LISTED services (the dashboard comparing many clusters) the join, within SQLite's parameter limit.
    if len(services) <= SERVICE_IDS_LISTED:
        in_clusters = RealServer.objects.filter(virtual_service_id__in=[service.pk for service in services])
    else:
        in_clusters = RealServer.objects.filter(virtual_service__cluster__in=clusters)
    checks = {
        check.real_server_id: check for check in HealthCheck.objects.filter(real_server__in=in_clusters.values("pk"))
    }
    real_servers_of: dict[int, list[dict[str, Any]]] = {}
    for row in in_clusters.order_by("virtual_service_id", "address", "port").values(
        "pk", "virtual_service_id", *SNAPSHOT_REAL_SERVER_FIELDS, "host__hostname"
    ):
        pk, service_id, hostname = row.pop("pk"), row.pop("virtual_service_id"), row.pop("host__hostname")
        real_servers_of.setdefault(service_id, []).append(
            {**row, "host": hostname, "health_check": _check_snapshot(checks.get(pk))}
        )
    groups_of: dict[int, list[VipGroup]] = {cluster.pk: [] for cluster in clusters}
    for group in VipGroup.objects.filter(cluster__in=clusters).order_by("name"):
        groups_of[group.cluster_id].append(group)
    roles_of: dict[int, list[ClusterHost]] = {cluster.pk: [] for cluster in clusters}
    for role in ClusterHost.objects.filter(cluster__in=clusters).select_related("host").order_by("host__hostname"):
        roles_of[role.cluster_id].append(role)
    return {
        cluster.pk: {
            "cluster": {
                "id": cluster.pk,
                "name": cluster.name,
                "slug": cluster.slug,
                "drain_timeout": cluster.drain_timeout,
                "sync": _sync_snapshot(cluster),
            },
            "hosts": [
                {
                    "hostname": role.host.hostname,
                    "role": role.role,
                    "vip_interface": role.host.vip_interface,
                    "uplinks": role.host.uplink_list,
                    "address": role.host.management_address,
                    "vrrp_priority": role.vrrp_priority,
                    "drained": role.drained,
                }
                for role in roles_of[cluster.pk]
            ],
            "vip_groups": [group_snapshot(group) for group in groups_of[cluster.pk]],
            "virtual_services": [
                {
                    **{name: getattr(service, name) for name in SERVICE_FIELDS},
                    "vip_group": service.vip_group.name if service.vip_group else None,
                    "health_check": _health_snapshot(service),
                    "real_servers": real_servers_of.get(service.pk, []),
                }
                for service in sorted(services_of[cluster.pk], key=service_sort_key)
            ],
        }
        for cluster in clusters
    }


#: The connection sync settings: {the inventory's (and the agent's `sync`) key: the Cluster field}.
SYNC_FIELDS = {"syncid": "sync_id", "port": "sync_port", "mcast_group": "sync_mcast_group", "ttl": "sync_ttl"}


def _sync_snapshot(cluster: Cluster) -> dict[str, Any] | None:
    if cluster.sync_id is None:
        return None
    return {key: getattr(cluster, field) for key, field in SYNC_FIELDS.items()}


def service_sort_key(service: VirtualService) -> tuple:
    """Services in a stable order: address services by VIP and port, then firewall marks."""
    return (service.fwmark or 0, service.address or "", service.port or 0, service.protocol)


def _service_document(service: Mapping[str, Any]) -> dict[str, Any]:
    scheduler = service["scheduler"]
    flags = []
    if service["sched_fallback"]:
        flags.append(f"{scheduler}-fallback")
    if service["sched_port"]:
        flags.append(f"{scheduler}-port")
    persistence = None
    if service["persistence_timeout"]:
        default_mask = "128" if service["address_family"] == "ipv6" else "255.255.255.255"
        persistence = {
            "timeout": service["persistence_timeout"],
            "netmask": service["persistence_netmask"] or default_mask,
        }
    document: dict[str, Any]
    if service["protocol"] == Protocol.FWMARK:
        document = {"fwmark": service["fwmark"], "family": service["address_family"]}
    else:
        document = {"protocol": service["protocol"], "address": service["address"], "port": service["port"]}
    document.update(
        scheduler=scheduler,
        flags=flags,
        persistence=persistence,
        one_packet=service["one_packet"],
        real_servers=[
            _real_server_document(service, rs)
            for rs in service["real_servers"]
            if rs["state"] != RealServerState.DISABLED
        ],
    )
    check = service.get("health_check")
    if check and check["quorum"] and check["sorry_address"]:
        method = check["sorry_forward_method"]
        document["quorum"] = {
            "min_up": check["quorum"],
            "sorry_server": {
                "address": check["sorry_address"],
                "port": check["sorry_port"] or service["port"] or 0,
                "weight": 1,
                "forward": method,
                "tunnel": {"type": "ipip", "port": None, "checksum": "none"} if method == ForwardMethod.TUN else None,
            },
        }
    return document


def _health_document(service: Mapping[str, Any], rs: Mapping[str, Any]) -> dict[str, Any] | None:
    """The check the director runs on `rs`: its own override, else its service's; None when not checked."""
    check = rs.get("health_check") or service.get("health_check")
    if not check or check["check_type"] == HealthCheckType.NONE:
        return None
    document = {
        "type": check["check_type"],
        "port": check["port"],
        "interval": check["interval"],
        "timeout": check["timeout"],
        "rise": check["rise"],
        "fall": check["fall"],
        "on_failure": check["on_failure"],
    }
    kind = check["check_type"]
    if kind in (HealthCheckType.HTTP, HealthCheckType.HTTPS):
        document.update(
            path=check["path"],
            host=check["host_header"],
            expect=[check["expect_status_min"], check["expect_status_max"]],
            body=check["body_match"],
        )
    elif kind == HealthCheckType.UDP:
        document.update(
            payload=check["payload"],
            payload_hex=check["payload_hex"],
            reply_match=check["reply_match"],
            reply_pattern=check["reply_pattern"],
        )
    elif kind == HealthCheckType.DNS:
        document.update(query_name=check["query_name"], query_type=check["query_type"])
    # A service-wide tunnel-path check applies to the service's TUN real servers of the VIP's family.
    tunnel_capable = rs["forward_method"] == ForwardMethod.TUN and _family(rs["address"]) == service["address_family"]
    if check["tunnel_path"] and tunnel_capable and service["protocol"] == Protocol.TCP:
        document["tunnel"] = True
    return document


def _family(address: str) -> str:
    return "ipv6" if ":" in address else "ipv4"


def _real_server_document(service: Mapping[str, Any], rs: Mapping[str, Any]) -> dict[str, Any]:
    tunnel = None
    if rs["forward_method"] == ForwardMethod.TUN:
        tunnel = {"type": rs["tunnel_type"], "port": rs["tunnel_port"], "checksum": rs["tunnel_checksum"]}
    document = {
        "address": rs["address"],
        "port": rs["port"] or service["port"] or 0,
        "weight": 0 if rs["state"] == RealServerState.DRAINING else rs["weight"],
        "forward": rs["forward_method"],
        "tunnel": tunnel,
        "upper_threshold": rs["upper_threshold"],
        "lower_threshold": rs["lower_threshold"],
    }
    check = _health_document(service, rs)
    if check is not None:
        document["health_check"] = check
    return document


def _empty_document(hostname: str, serial: int) -> dict[str, Any]:
    return {"version": DOCUMENT_VERSION, "host": hostname, "revision": serial, "director": None, "real_server": None}


def _director_part(document: dict[str, Any]) -> dict[str, Any]:
    if document["director"] is None:
        document["director"] = {
            "owns_ipvs_table": False,
            "drain_timeout": 0,
            "ip_forward": False,
            "vips": [],
            "services": [],
        }
    return document["director"]


def _recipe(document: dict[str, Any], method: str, uplinks: list[str]) -> dict[str, Any]:
    if document["real_server"] is None:
        document["real_server"] = {"tun": None, "dr": None}
    if document["real_server"][method] is None:
        document["real_server"][method] = {"vips": [], "uplinks": list(uplinks)}
    return document["real_server"][method]


def _plain_ipip(entry: Mapping[str, Any]) -> bool:
    """ipip in the VIP's own family: what a VIP without `tunnels` entries gets (tunl0, or ip6tnl0)."""
    same = ipaddress.ip_address(entry["vip"]).version == ipaddress.ip_address(entry["address"]).version
    return entry["type"] == TunnelType.IPIP and same


def _add_tunnels(recipe: dict[str, Any], by_vip: Mapping[str, list[dict[str, Any]]]) -> None:
    """The recipe's `tunnels`: every way a VIP arrives, for the VIPs that arrive other than by plain ipip."""
    for tunnels in by_vip.values():
        if not all(_plain_ipip(entry) for entry in tunnels):
            recipe.setdefault("tunnels", []).extend(tunnels)


@dataclass
class _DirectorPart:
    """What every director of a snapshot gets: its services' documents, the VIPs they hold (address, prefix),
    and whether any real server is NAT (the director then forwards)."""

    services: list[dict[str, Any]]
    vips: list[tuple[str, int]]
    nat: bool

    @classmethod
    def of(cls, snapshot: Mapping[str, Any], services: list[Mapping[str, Any]]) -> "_DirectorPart":
        vips: list[tuple[str, int]] = [
            (service["address"], ipaddress.ip_address(service["address"]).max_prefixlen)
            for service in services
            if service["address"] and not grouped(snapshot, service)
        ]
        nat = any(rs["forward_method"] == ForwardMethod.NAT for service in services for rs in service["real_servers"])
        return cls([_service_document(service) for service in services], vips, nat)


def compile_documents(
    snapshots: Iterable[Mapping[str, Any]],
    serials: Mapping[str, int],
    leaving: Mapping[str, Iterable[str]] | None = None,
) -> dict[str, dict[str, Any]]:
    """One document per host that has a role in any of the snapshots, keyed by hostname.

    `serials` gives each host's document serial (the document's `revision`). Disabled services and
    disabled real servers are left out (the agents drain and remove them); draining real servers get
    weight 0. A real server host receives the TUN or DR recipe for the VIPs of the services whose real
    servers it runs: TUN for IPv4 and IPv6 VIPs, with `tunnels` saying how a VIP arrives when not by ipip in
    its own family (gue, gre, or across families); DR for IPv4 VIPs.

    `leaving` maps the hosts taken out of the first snapshot's cluster, whose kernels may still hold its
    config, to the roles they had there. Each gets a document without that cluster: its other clusters'
    config, or nothing (its agent then removes what it created for the cluster). A former director with no
    director part left gets an empty one with the cluster's drain timeout, so the services it loses drain
    as the cluster says rather than by the agent's default.
    """
    documents: dict[str, dict[str, Any]] = {}

    def document_for(hostname: str) -> dict[str, Any]:
        if hostname not in documents:
            documents[hostname] = _empty_document(hostname, serials.get(hostname, 0))
        return documents[hostname]

    snapshots = list(snapshots)
    for hostname in leaving or {}:
        document_for(hostname)
    for snapshot in snapshots:
        hosts = {host["hostname"]: host for host in snapshot["hosts"]}
        services = [service for service in snapshot["virtual_services"] if service["enabled"]]
        # The cluster's directors get the same services: compiled once, the same dicts in each document (nothing
        # changes a document once compiled), which a Plan compares once (dispatch.preview_bases).
        part: _DirectorPart | None = None
        for host in snapshot["hosts"]:
            document = document_for(host["hostname"])
            if host["role"] == HostRole.DIRECTOR:
                director = _director_part(document)
                director["drain_timeout"] = max(director["drain_timeout"], snapshot["cluster"]["drain_timeout"])
                part = part or _DirectorPart.of(snapshot, services)
                director["services"].extend(part.services)
                held = {(vip["address"], vip["prefix"], vip["interface"]) for vip in director["vips"]}
                for address, prefix in part.vips:
                    if (address, prefix, host["vip_interface"]) not in held:
                        held.add((address, prefix, host["vip_interface"]))
                        director["vips"].append(
                            {"address": address, "prefix": prefix, "interface": host["vip_interface"]}
                        )
                if part.nat:
                    director["ip_forward"] = True
            elif document["real_server"] is None:
                document["real_server"] = {"tun": None, "dr": None}
        endpoints: dict[str, dict[str, list[dict[str, Any]]]] = {}  # hostname -> VIP -> its tunnels
        for service in services:
            if not service["address"]:
                continue  # a firewall mark's addresses are the marking rules' (docs/agent-spec.md)
            ipv6 = ipaddress.ip_address(service["address"]).version == 6
            for rs in service["real_servers"]:
                host = hosts.get(rs["host"] or "")
                method = rs["forward_method"]
                if host is None or host["role"] != HostRole.REAL_SERVER or rs["state"] == RealServerState.DISABLED:
                    continue
                if method == ForwardMethod.DR and ipv6:
                    continue  # the DR recipe (VIP on lo, arp_ignore/arp_announce) is IPv4's
                if method in (ForwardMethod.TUN, ForwardMethod.DR):
                    recipe = _recipe(document_for(host["hostname"]), method, host["uplinks"])
                    if service["address"] not in recipe["vips"]:
                        recipe["vips"].append(service["address"])
                if method == ForwardMethod.TUN:
                    entry = {
                        "vip": service["address"],
                        "type": rs["tunnel_type"],
                        "address": rs["address"],
                        "port": rs["tunnel_port"],
                        "checksum": rs["tunnel_checksum"],
                    }
                    tunnels = endpoints.setdefault(host["hostname"], {}).setdefault(service["address"], [])
                    if entry not in tunnels:
                        tunnels.append(entry)
        for hostname, by_vip in endpoints.items():
            _add_tunnels(documents[hostname]["real_server"]["tun"], by_vip)
    add_ha(documents, snapshots)
    for hostname, roles in (leaving or {}).items():
        if HostRole.DIRECTOR in roles and documents[hostname]["director"] is None:
            _director_part(documents[hostname])["drain_timeout"] = snapshots[0]["cluster"]["drain_timeout"]
    return documents
