"""Which host configures a real server, and which TUN/DR real servers no host configures.

A TUN or DR real server only accepts the director's packets when the VIP sits on its tunl0 (TUN) or lo (DR)
with reverse-path filtering off: the recipe an agent applies on a host that has the real-server role in the
cluster, for the real servers linked to it. A real server without such a host drops every packet the director
sends it, and the director cannot tell: this module finds them, so that the cluster page and the Plan say so.
"""

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

from django.db import connection

from clusters.choices import ForwardMethod, HostRole, Protocol, RealServerState, TunnelType
from clusters.models import Cluster, ClusterHost, Host, RealServer

#: Where each method's recipe puts the VIP on the real server.
VIP_DEVICE = {ForwardMethod.TUN: "tunl0", ForwardMethod.DR: "lo"}


def normal_address(address: str) -> str | None:
    """`address` in its normal form, or None when it is not an IP address."""
    try:
        return str(ipaddress.ip_address(address))
    except ValueError:
        return None


def hosts_with_address(team_id: int, address: str) -> list[Host]:
    """The team's hosts that declare `address` (as their management address or one of their other addresses)."""
    wanted = normal_address(address)
    if wanted is None:
        return []
    # Written out (asked on every real server saved: the ORM took longer to compile it than the database to
    # answer). A normal address holds no LIKE wildcard; the exact match is `host.addresses` below.
    table = connection.ops.quote_name(Host._meta.db_table)
    candidates = Host.objects.raw(
        f"SELECT * FROM {table} WHERE team_id = %s AND (management_address = %s OR other_addresses LIKE %s)",  # noqa: S608
        [team_id, wanted, f"%{wanted}%"],
    )
    return [host for host in candidates if wanted in host.addresses]


def host_for_address(cluster: Cluster, address: str) -> Host | None:
    """The host a real server at `address` of `cluster` is linked to automatically, or None.

    Only hosts of the cluster's team count (a link never crosses teams), and never one of the cluster's own
    directors (a host has one role per cluster, so it could not receive the real-server recipe there). When
    several hosts declare the address, the one that already is a real server of the cluster wins; if that
    does not decide, none is chosen: the operator picks one in the form.
    """
    hosts = hosts_with_address(cluster.team_id, address)
    if not hosts:
        return None  # the usual case: no query for their roles (building one for nothing cost as much as the search)
    roles = dict(ClusterHost.objects.filter(cluster=cluster, host__in=hosts).values_list("host_id", "role"))
    return _choose(hosts, roles)


def _choose(hosts: list[Host], roles: dict[int, str]) -> Host | None:
    hosts = [host for host in hosts if roles.get(host.pk) != HostRole.DIRECTOR]
    serving = [host for host in hosts if roles.get(host.pk) == HostRole.REAL_SERVER]
    for group in (serving, hosts):
        if len(group) == 1:
            return group[0]
    return None


class HostDirectory:
    """`host_for_address` for many real servers of one cluster: the team's hosts and their roles, read once.

    An import links thousands of real servers; asking the database twice for each took longer than the rest
    of the import. `add_role` notes a role given meanwhile (as `host_for_address` would see it after).
    """

    def __init__(self, cluster: Cluster):
        self.cluster = cluster
        self._by_address: dict[str, list[Host]] | None = None
        self.roles: dict[int, str] = {}

    def _load(self) -> dict[str, list[Host]]:
        if self._by_address is None:
            self._by_address = {}
            for host in Host.objects.filter(team_id=self.cluster.team_id).order_by("pk"):
                for address in host.addresses:
                    self._by_address.setdefault(address, []).append(host)
            self.roles = dict(ClusterHost.objects.filter(cluster=self.cluster).values_list("host_id", "role"))
        return self._by_address

    def host_for(self, address: str) -> Host | None:
        """The host a real server at `address` of the cluster is linked to automatically, or None."""
        wanted = normal_address(address)
        if wanted is None:
            return None
        return _choose(self._load().get(wanted, []), self.roles)

    def has_role(self, host: Host) -> bool:
        """Whether `host` has a role in the cluster (or was given one through `add_role`)."""
        self._load()
        return host.pk in self.roles

    def add_role(self, host: Host, role: str) -> None:
        """Note that `host` was given `role` in the cluster."""
        self._load()
        self.roles[host.pk] = role


@dataclass(frozen=True)
class Unconfigured:
    """A TUN/DR real server that no host configures, and why, in the operator's words."""

    real_server: RealServer
    reason: str

    @property
    def message(self) -> str:
        """`traffic to 203.0.113.11 will be dropped: … — link a host or mark it as configured by hand`."""
        return f"traffic to {self.real_server.address} will be dropped: {self.reason}"


def _reason(real_server: RealServer, roles: dict[int, str]) -> str | None:
    method = real_server.forward_method
    if method not in VIP_DEVICE or real_server.configured_by_hand or real_server.state == RealServerState.DISABLED:
        return None
    service = real_server.virtual_service
    if not service.enabled:
        return None
    device = VIP_DEVICE[ForwardMethod(method)]
    by_hand = "configure it yourself and mark it as configured by hand"
    if method == ForwardMethod.TUN and real_server.tunnel_type != TunnelType.IPIP:
        return (
            f"the agents set up ipip tunnels only, not {real_server.tunnel_type} decapsulation "
            f"(fou/gre device and the VIP) — {by_hand}"
        )
    if service.protocol == Protocol.FWMARK or ipaddress.ip_address(service.address).version != 4:
        what = "a firewall-mark service" if service.protocol == Protocol.FWMARK else "an IPv6 VIP"
        return f"the agents configure IPv4 VIPs on real servers, not {what} — {by_hand}"
    host = real_server.host
    if host is None:
        return f"no host configures the VIP on {device} there — link a host or mark it as configured by hand"
    role = roles.get(host.pk)
    if role != HostRole.REAL_SERVER:
        where = "directs this cluster" if role == HostRole.DIRECTOR else "has no role in this cluster"
        return (
            f"its host {host.hostname} {where}, so no agent puts the VIP on {device} there — give "
            f"{host.hostname} the real-server role, link another host, or mark it as configured by hand"
        )
    if host.revoked_at is not None or not host.public_key:
        status = "revoked" if host.revoked_at is not None else "never enrolled"
        return (
            f"its host {host.hostname} has no agent ({status}), so nothing puts the VIP on {device} there — "
            "enroll its agent or mark it as configured by hand"
        )
    return None


def unconfigured_real_servers(
    cluster: Cluster, real_servers: Iterable[RealServer] | None = None
) -> dict[int, Unconfigured]:
    """{real server id: why} for the TUN/DR real servers of `cluster` (or of `real_servers`) no host configures.

    NAT real servers need no recipe; disabled real servers and services carry no traffic. `real_servers`
    should come with their service and host (select_related); the roles take one query.
    """
    if real_servers is None:
        real_servers = (
            RealServer.objects.filter(
                virtual_service__cluster=cluster,
                virtual_service__enabled=True,
                forward_method__in=list(VIP_DEVICE),
                configured_by_hand=False,
            )
            .exclude(state=RealServerState.DISABLED)
            .select_related("virtual_service", "host")
            .order_by("address", "virtual_service__address", "virtual_service__port", "port")
        )
    roles = dict(ClusterHost.objects.filter(cluster=cluster).values_list("host_id", "role"))
    found = {}
    for real_server in real_servers:
        reason = _reason(real_server, roles)
        if reason is not None:
            found[real_server.pk] = Unconfigured(real_server, reason)
    return found


@dataclass
class DroppedTraffic:
    """The real servers of one address that no host configures, for the same reason: one fix covers them all."""

    message: str
    real_servers: list[RealServer]


def by_address(unconfigured: Iterable[Unconfigured]) -> list[DroppedTraffic]:
    """`unconfigured` grouped by message (an address in several services reads once), in the order given."""
    groups: dict[str, DroppedTraffic] = {}
    for item in unconfigured:
        groups.setdefault(item.message, DroppedTraffic(item.message, [])).real_servers.append(item.real_server)
    return list(groups.values())
