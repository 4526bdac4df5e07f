"""The rules of director high availability that span several objects, each refusal on the field it is about.

VRRP's rule is one VRID per VIP group per network segment. The console cannot see segments; what it can see is
that two clusters share a director, whose VRRP interface is then one segment for both: their groups must differ.
Rules it cannot check (that DR directors are on their real servers' segment) are warnings (`ha_warnings`).
"""

import ipaddress

from clusters.choices import ForwardMethod, HostRole
from clusters.models.clusters import Cluster


def vrrp_interface(host) -> str:
    """The interface a director speaks VRRP on: its first uplink (else the interface that holds its VIPs)."""
    return host.uplink_list[0] if host.uplink_list else host.vip_interface


def _director_roles(cluster_id):
    return (
        Cluster.objects.get(pk=cluster_id)
        .cluster_hosts.filter(role=HostRole.DIRECTOR)
        .select_related("host")
        .order_by("host__hostname")
    )


def shares_directors(cluster_id: int) -> bool:
    """True when a director of the cluster also directs another cluster (instance names then get prefixes)."""
    hosts = _director_roles(cluster_id).values("host_id")
    return (
        Cluster.objects.exclude(pk=cluster_id)
        .filter(cluster_hosts__role=HostRole.DIRECTOR, cluster_hosts__host_id__in=hosts)
        .exists()
    )


def vrid_clash(cluster_id: int, hosts, vrid: int, exclude_cluster: bool = True) -> str | None:
    """Why `vrid` cannot be used by a group of the cluster whose directors are `hosts`, or None.

    A clash is a group of another cluster with the same VRID on one of these directors' VRRP interfaces.
    """
    for host in hosts:
        interface = vrrp_interface(host)
        others = Cluster.objects.filter(cluster_hosts__role=HostRole.DIRECTOR, cluster_hosts__host=host)
        if exclude_cluster:
            others = others.exclude(pk=cluster_id)
        for other in others.prefetch_related("cluster_hosts__host", "vip_groups"):
            for group in other.vip_groups.all():
                if group.vrid == vrid:
                    return (
                        f"VRID {vrid} is already used by VIP group “{group.name}” of cluster “{other}”, which shares "
                        f"director {host} ({interface}): one VRID per VIP group per network segment."
                    )
    return None


def vip_group_problems(group) -> dict[str, list[str]]:
    """{field: [messages]} of a VIP group about to be saved (empty when it may be)."""
    errors: dict[str, list[str]] = {}

    def error(field: str, message: str) -> None:
        errors.setdefault(field, []).append(message)

    if not group.cluster_id:
        return errors
    siblings = type(group).objects.filter(cluster_id=group.cluster_id).exclude(pk=group.pk)
    if group.name and siblings.filter(name=group.name).exists():
        error("name", f"This cluster already has a VIP group named “{group.name}”.")
    if group.vrid is not None:
        if siblings.filter(vrid=group.vrid).exists():
            error(
                "vrid", f"This cluster already has a VIP group with VRID {group.vrid}; its directors share a segment."
            )
        roles = list(_director_roles(group.cluster_id))
        clash = vrid_clash(group.cluster_id, [role.host for role in roles], group.vrid)
        if clash:
            error("vrid", clash)
    if group.name and shares_directors(group.cluster_id):
        long_name = f"{group.cluster.slug}-{group.name}"
        if len(long_name) > 32:
            error(
                "name",
                f"A director of this cluster directs another cluster too, so this group's instance is named "
                f"“{long_name}”, longer than keepalived's 32 characters: choose a shorter name.",
            )
    if group.auth_pass and group.advert_int is not None and float(group.advert_int) != int(float(group.advert_int)):
        error(
            "auth_pass",
            "VRRP authentication exists only in VRRP version 2, whose adverts are whole seconds apart: give a whole "
            "advertisement interval or no password.",
        )
    if group.auth_pass and group.pk and group.virtual_services.filter(address__contains=":").exists():
        error("auth_pass", "VRRP authentication exists only in VRRP version 2 (IPv4): this group has IPv6 VIPs.")
    if group.preempt_delay and not group.preempt:
        error("preempt_delay", "A preemption delay needs preemption on (without it nothing is taken back).")
    if group.unicast:
        families = {
            ipaddress.ip_address(role.host.management_address).version for role in _director_roles(group.cluster_id)
        }
        if len(families) > 1:
            error(
                "unicast",
                "Unicast VRRP speaks one IP version: the directors' management addresses mix IPv4 and IPv6.",
            )
    return errors


def director_problems(cluster_host) -> dict[str, list[str]]:
    """{field: [messages]} of a host about to become a director of a cluster with VIP groups."""
    errors: dict[str, list[str]] = {}
    if cluster_host.role != HostRole.DIRECTOR or not cluster_host.cluster_id or not cluster_host.host_id:
        return errors
    cluster = Cluster.objects.get(pk=cluster_host.cluster_id)
    for group in cluster.vip_groups.all():
        clash = vrid_clash(cluster.pk, [cluster_host.host], group.vrid)
        if clash:
            errors.setdefault("host", []).append(f"VIP group “{group.name}” of this cluster: {clash}")
    return errors


def ha_warnings(cluster: Cluster) -> list[str]:
    """What the console cannot check for the cluster's VIP groups but an operator must know, in words."""
    groups = list(cluster.vip_groups.all())
    if not groups:
        return []
    warnings = []
    roles = list(_director_roles(cluster.pk))
    if len(roles) < 2:
        warnings.append(
            f"This cluster has {len(roles)} director(s): its VIP groups fail over only when a second director "
            "is assigned."
        )
    for role in roles:
        if vrrp_interface(role.host) == "lo":
            warnings.append(f"{role.host} has no uplink: VRRP cannot speak on lo; set its uplinks (e.g. eth0).")
    dr = (
        cluster.virtual_services.filter(vip_group__isnull=False, real_servers__forward_method=ForwardMethod.DR)
        .distinct()
        .count()
    )
    if dr and len(roles) > 1:
        names = ", ".join(str(role.host) for role in roles)
        warnings.append(
            f"{dr} service(s) of VIP groups forward in DR mode: DR needs every director ({names}) on the real "
            "servers' network segment (the console cannot see segments: check it)."
        )
    return warnings
