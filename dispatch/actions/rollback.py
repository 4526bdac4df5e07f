"""Roll a cluster's inventory back to an applied revision, as one new, audited change."""

from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from audit.recording import record
from clusters import actions as inventory
from clusters.compiler import SERVICE_FIELDS, SNAPSHOT_REAL_SERVER_FIELDS, inventory_snapshot
from clusters.models import Cluster, HealthCheck, Host
from clusters.models.health import DATAGRAM_DEFAULTS
from dispatch.actions.ha_rollback import restore_ha
from dispatch.models import Revision
from dispatch.revisions import inventory_diff, real_server_key, service_key
from teams import policy


def _host_or_none(hostname: str | None) -> Host | None:
    return Host.objects.filter(hostname=hostname).first() if hostname else None


def _real_server_fields(saved: dict[str, Any]) -> dict[str, Any]:
    fields = {name: saved[name] for name in SNAPSHOT_REAL_SERVER_FIELDS}
    fields["host"] = _host_or_none(saved.get("host"))
    return fields


def _restore_health_check(acting_user, saved: dict[str, Any], **target) -> None:
    """Make the check of a service or real server what the revision holds (revisions made before health
    checks existed hold no `health_check` key: the current check stays)."""
    if "health_check" not in saved:
        return
    ((field, obj),) = target.items()
    current = HealthCheck.objects.filter(**{field: obj}).first()
    if saved["health_check"] is None:
        if current is not None:
            inventory.delete_health_check(acting_user=acting_user, health_check=current)
        return
    # A check saved without UDP/DNS settings had their defaults (its snapshot leaves them out).
    fields = {**DATAGRAM_DEFAULTS, **saved["health_check"]}
    inventory.set_health_check(acting_user=acting_user, **target, fields=fields)


@transaction.atomic
def rollback_to_revision(*, acting_user: AbstractBaseUser | None, revision: Revision) -> list[dict[str, Any]]:
    """Make the cluster's inventory what it was at `revision`; returns the rows of what changed.

    Every object is changed through the inventory actions (each validated and audited), then one entry
    records the rollback itself. Nothing reaches the hosts until the operator plans and applies, like any
    other change. Hosts that no longer exist are left out of the restored roles and real-server links.
    """
    cluster = Cluster.objects.select_for_update().get(pk=revision.cluster_id)
    policy.require(acting_user, "edit", cluster)
    target = revision.inventory
    changes = inventory_diff(inventory_snapshot(cluster), target)

    if cluster.drain_timeout != target["cluster"]["drain_timeout"]:
        inventory.update_cluster(
            acting_user=acting_user, cluster=cluster, changes={"drain_timeout": target["cluster"]["drain_timeout"]}
        )

    wanted_roles = {(h["hostname"], h["role"]) for h in target["hosts"]}
    for role in cluster.cluster_hosts.select_related("host"):
        if (role.host.hostname, role.role) not in wanted_roles:
            inventory.remove_host_role(acting_user=acting_user, cluster_host=role)
    present_roles = set(cluster.cluster_hosts.values_list("host__hostname", "role"))
    for hostname, role in sorted(wanted_roles - present_roles):
        host = _host_or_none(hostname)
        if host is not None:
            inventory.assign_host_role(acting_user=acting_user, cluster=cluster, host=host, role=role)

    wanted = {service_key(s): s for s in target["virtual_services"]}
    current = {service_key(s.__dict__): s for s in cluster.virtual_services.all()}
    for key, service in current.items():
        if key not in wanted:
            inventory.delete_virtual_service(acting_user=acting_user, virtual_service=service)
    for key, saved in wanted.items():
        fields = {name: saved[name] for name in SERVICE_FIELDS}
        service = current.get(key)
        if service is None:
            service = inventory.create_virtual_service(acting_user=acting_user, cluster=cluster, fields=fields)
        else:
            service = inventory.update_virtual_service(acting_user=acting_user, virtual_service=service, changes=fields)
        wanted_rs = {real_server_key(rs): rs for rs in saved["real_servers"]}
        current_rs = {(rs.address, rs.port): rs for rs in service.real_servers.all()}
        for rs_key, real_server in current_rs.items():
            if rs_key not in wanted_rs:
                inventory.delete_real_server(acting_user=acting_user, real_server=real_server)
        _restore_health_check(acting_user, saved, virtual_service=service)
        for rs_key, saved_rs in wanted_rs.items():
            if rs_key in current_rs:
                real_server = inventory.update_real_server(
                    acting_user=acting_user, real_server=current_rs[rs_key], changes=_real_server_fields(saved_rs)
                )
            else:
                real_server = inventory.create_real_server(
                    acting_user=acting_user, virtual_service=service, fields=_real_server_fields(saved_rs)
                )
            _restore_health_check(acting_user, saved_rs, real_server=real_server)
    restore_ha(acting_user=acting_user, cluster=cluster, target=target)  # VIP groups, priorities, sync (docs/ha.md)

    record(
        action="cluster.rollback",
        acting_user=acting_user,
        obj=cluster,
        cluster_id=cluster.pk,
        changes={"restored_revision": [None, revision.number]},
        message=f"Inventory restored to revision {revision.number} ({len(changes)} changes); "
        "plan and apply to send it to the hosts.",
    )
    return changes
