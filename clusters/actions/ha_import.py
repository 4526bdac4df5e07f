"""Importing keepalived.conf's VRRP part into a cluster: VIP groups, their services, connection sync (docs/ha.md).

Called by the import (`imports._Importer.run`) after the services, through the same actions, with the same rules:
a VIP group already in the cluster with other settings is changed only with “update existing services”, and
otherwise is a conflict on its line.
"""

from typing import Any

from django.core.exceptions import ValidationError

from clusters.actions.clusters import update_cluster
from clusters.actions.ha import create_vip_group, update_vip_group
from clusters.actions.virtual_services import update_virtual_service
from clusters.interchange.keepalived_vrrp import VrrpConfig, VrrpGroup, vrrp_of
from clusters.interchange.ruleset import Problem
from clusters.models import VipGroup, VirtualService


def _messages(exc: ValidationError) -> str:
    if hasattr(exc, "message_dict"):
        return "; ".join(f"{name}: {' '.join(messages)}" for name, messages in exc.message_dict.items())
    return " ".join(exc.messages)


def import_vrrp(importer: Any, row_type: type) -> None:
    """Carry out the VRRP part of `importer.parsed` (when it has one) on `importer.cluster`, noting rows (of
    `row_type`, the import's PlanRow) and errors."""
    config = vrrp_of(importer.parsed)
    if config is None:
        return
    for group in config.groups:
        _group(importer, group, row_type)
    _sync(importer, config)


def _group(importer: Any, wanted: VrrpGroup, PlanRow: type) -> None:
    user, cluster = importer.user, importer.cluster
    fields = wanted.fields()
    present = VipGroup.objects.filter(cluster=cluster, name=wanted.name).first()
    what = f"VIP group {wanted.name}"
    details = [f"VRID {wanted.vrid}", f"VIPs {', '.join(wanted.vips) or 'none'}"]
    if present is None:
        group = importer.attempt(
            wanted.line, what, lambda: create_vip_group(acting_user=user, cluster=cluster, fields=fields)
        )
        if group is None:
            return
        importer.result.rows.append(PlanRow(wanted.line, "vip_group", wanted.name, "", "create", details))
    else:
        differences = {
            name: [getattr(present, name), value] for name, value in fields.items() if getattr(present, name) != value
        }
        row = PlanRow(wanted.line, "vip_group", wanted.name, "", "unchanged", details)

        def update(changes):
            return update_vip_group(acting_user=user, vip_group=present, changes=changes)

        if not importer.match(wanted.line, row, what, differences, importer.update_existing, update):
            return
        group = present
    for vip in wanted.vips:
        for service in VirtualService.objects.filter(cluster=cluster, address=vip):
            if service.vip_group_id == group.pk:
                continue
            if service.vip_group_id is not None and not importer.update_existing:
                importer.error(
                    wanted.line,
                    f"{service.endpoint} is in VIP group {service.vip_group}; choose “update existing services” "
                    f"to move it to {wanted.name}.",
                )
                continue
            importer.attempt(
                wanted.line,
                f"{service.endpoint} into {what}",
                lambda service=service: update_virtual_service(
                    acting_user=user, virtual_service=service, changes={"vip_group": group}
                ),
            )


def _sync(importer: Any, config: VrrpConfig) -> None:
    sync = config.sync
    if sync is None:
        return
    cluster = importer.cluster
    wanted = {
        "sync_id": sync.syncid,
        "sync_port": sync.port,
        "sync_ttl": sync.ttl,
        "sync_mcast_group": sync.mcast_group,
    }
    current = {name: getattr(cluster, name) for name in wanted}
    if current == wanted:
        return
    if cluster.sync_id is not None and not importer.update_existing:
        importer.result.errors.append(
            Problem(
                sync.line,
                f"the cluster already syncs connections with id {cluster.sync_id}; choose “update existing "
                "services” to take lvs_sync_daemon's settings.",
            )
        )
        return
    try:
        update_cluster(acting_user=importer.user, cluster=cluster, changes=wanted)
    except ValidationError as exc:
        importer.result.errors.append(Problem(sync.line, f"lvs_sync_daemon — {_messages(exc)}"))
