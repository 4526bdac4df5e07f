"""Rolling back director high availability with the rest of the inventory (`rollback_to_revision`).

A revision made before high availability (no `vip_groups` key) leaves the current VIP groups, priorities and
connection sync as they are; otherwise they become what the revision holds, each change through its action.
"""

from typing import Any

from django.contrib.auth.models import AbstractBaseUser

from clusters import actions as inventory
from clusters.choices import HostRole
from clusters.compiler import SYNC_FIELDS
from clusters.ha_compiler import group_snapshot
from clusters.models import Cluster, VipGroup
from dispatch.revisions import DIRECTOR_HA_DEFAULTS, service_key


def restore_ha(*, acting_user: AbstractBaseUser | None, cluster: Cluster, target: dict[str, Any]) -> None:
    """Make the cluster's VIP groups, their services, the directors' priorities and drain, and the connection
    sync what `target` (a revision's inventory) holds."""
    if "vip_groups" not in target:
        return
    sync = target["cluster"].get("sync") or {}
    wanted_sync = {field: sync.get(key) for key, field in SYNC_FIELDS.items()}
    if any(getattr(cluster, field) != value for field, value in wanted_sync.items()):
        inventory.update_cluster(acting_user=acting_user, cluster=cluster, changes=wanted_sync)
    saved_hosts = {h["hostname"]: h for h in target["hosts"] if h["role"] == HostRole.DIRECTOR}
    for role in cluster.cluster_hosts.filter(role=HostRole.DIRECTOR).select_related("host"):
        saved = saved_hosts.get(role.host.hostname)
        if saved is None:
            continue
        priority = saved.get("vrrp_priority", DIRECTOR_HA_DEFAULTS["vrrp_priority"])
        if role.vrrp_priority != priority:
            inventory.set_director_priority(acting_user=acting_user, cluster_host=role, priority=priority)
        drained = saved.get("drained", DIRECTOR_HA_DEFAULTS["drained"])
        if role.drained != drained:
            inventory.mark_drained(acting_user=acting_user, cluster_host=role, drained=drained)
    current = {group.name: group for group in cluster.vip_groups.all()}
    groups = {}
    for saved_group in target["vip_groups"]:
        fields = {name: value for name, value in saved_group.items() if name != "name"}
        group = current.get(saved_group["name"])
        if group is None:
            groups[saved_group["name"]] = inventory.create_vip_group(
                acting_user=acting_user, cluster=cluster, fields={"name": saved_group["name"], **fields}
            )
        elif group_snapshot(group) != saved_group:
            groups[group.name] = inventory.update_vip_group(acting_user=acting_user, vip_group=group, changes=fields)
        else:
            groups[group.name] = group
    wanted = {service_key(s): s.get("vip_group") for s in target["virtual_services"]}
    for service in cluster.virtual_services.select_related("vip_group"):
        name = wanted.get(service_key(service.__dict__))
        if (service.vip_group.name if service.vip_group else None) != name:
            inventory.update_virtual_service(
                acting_user=acting_user, virtual_service=service, changes={"vip_group": groups.get(name or "")}
            )
    for name, group in current.items():
        if name not in groups:
            inventory.delete_vip_group(acting_user=acting_user, vip_group=VipGroup.objects.get(pk=group.pk))
