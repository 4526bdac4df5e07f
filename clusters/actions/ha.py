"""Actions of director high availability: VIP groups, directors' VRRP priorities, and a director's drained mark.

Like every inventory change they reach the directors with the next apply; draining a director and applying it
in one step is dispatch's `drain_director`.
"""

from collections.abc import Mapping
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction

from audit.recording import record
from clusters.actions.records import create_audited, delete_audited, update_audited
from clusters.choices import HostRole
from clusters.models import Cluster, ClusterHost, VipGroup
from teams import policy

FIXED = frozenset({"cluster", "cluster_id"})


@transaction.atomic
def create_vip_group(*, acting_user: AbstractBaseUser | None, cluster: Cluster, fields: Mapping[str, Any]) -> VipGroup:
    """A new VIP group of `cluster` (operators); its services are added to it by editing them."""
    cluster = Cluster.objects.select_for_update().get(pk=cluster.pk)
    policy.require(acting_user, policy.CHANGE, cluster)
    return create_audited(
        VipGroup(cluster=cluster), fields, acting_user=acting_user, action="vip_group.create", fixed=FIXED
    )


@transaction.atomic
def update_vip_group(
    *, acting_user: AbstractBaseUser | None, vip_group: VipGroup, changes: Mapping[str, Any]
) -> VipGroup:
    """Change a VIP group's VRRP settings (operators)."""
    vip_group = VipGroup.objects.select_for_update().select_related("cluster").get(pk=vip_group.pk)
    policy.require(acting_user, policy.CHANGE, vip_group)
    return update_audited(vip_group, changes, acting_user=acting_user, action="vip_group.update", fixed=FIXED)


@transaction.atomic
def delete_vip_group(*, acting_user: AbstractBaseUser | None, vip_group: VipGroup) -> None:
    """Remove an empty VIP group (operators); one with services is refused, naming how many."""
    vip_group = VipGroup.objects.select_for_update().select_related("cluster").get(pk=vip_group.pk)
    policy.require(acting_user, policy.CHANGE, vip_group)
    count = vip_group.virtual_services.count()
    if count:
        raise ValidationError(
            {"vip_group": f"VIP group “{vip_group}” still has {count} virtual service(s): move them out first."}
        )
    delete_audited(vip_group, acting_user=acting_user, action="vip_group.delete")


@transaction.atomic
def set_director_priority(
    *, acting_user: AbstractBaseUser | None, cluster_host: ClusterHost, priority: int
) -> ClusterHost:
    """Set a director's VRRP priority in its cluster's VIP groups (operators)."""
    cluster_host = ClusterHost.objects.select_for_update().select_related("cluster", "host").get(pk=cluster_host.pk)
    policy.require(acting_user, policy.CHANGE, cluster_host.cluster)
    return update_audited(
        cluster_host, {"vrrp_priority": priority}, acting_user=acting_user, action="cluster_host.update"
    )


@transaction.atomic
def mark_drained(*, acting_user: AbstractBaseUser | None, cluster_host: ClusterHost, drained: bool) -> ClusterHost:
    """Mark a director drained (its VIP groups move to the others at the next apply) or back in service."""
    cluster_host = ClusterHost.objects.select_for_update().select_related("cluster", "host").get(pk=cluster_host.pk)
    policy.require(acting_user, "drain", cluster_host.cluster)
    if cluster_host.role != HostRole.DIRECTOR:
        raise ValidationError({"host": f"{cluster_host.host} is not a director of “{cluster_host.cluster}”."})
    if cluster_host.drained == drained:
        return cluster_host
    cluster_host.drained = drained
    cluster_host.save(update_fields=["drained"])
    record(
        action="director.drain" if drained else "director.undrain",
        acting_user=acting_user,
        obj=cluster_host,
        changes={"drained": [not drained, drained]},
        message=(
            f"{cluster_host.host} drained: its VIP groups move to the other directors."
            if drained
            else f"{cluster_host.host} back in service with VRRP priority {cluster_host.vrrp_priority}."
        ),
        cluster_id=cluster_host.cluster_id,
        team_id=cluster_host.cluster.team_id,
    )
    return cluster_host
