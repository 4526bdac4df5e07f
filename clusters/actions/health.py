"""Actions on health checks: a virtual service's check, and a real server's override of it."""

from collections.abc import Mapping
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from clusters.actions.records import create_audited, delete_audited, update_audited
from clusters.models import HealthCheck, RealServer, VirtualService
from teams import policy

#: A check stays with what it checks.
FIXED = frozenset({"virtual_service", "virtual_service_id", "real_server", "real_server_id"})


@transaction.atomic
def set_health_check(
    *,
    acting_user: AbstractBaseUser | None,
    virtual_service: VirtualService | None = None,
    real_server: RealServer | None = None,
    fields: Mapping[str, Any],
) -> HealthCheck:
    """Create or change the check of `virtual_service` (for all its real servers), or `real_server`'s own.

    Needs the operator role; the change reaches the directors with the next apply, like any other.
    """
    if (virtual_service is None) == (real_server is None):
        raise ValueError("set_health_check takes a virtual service or a real server, not both or neither")
    if virtual_service is not None:
        target = (
            VirtualService.objects.select_for_update(of=("self",)).select_related("cluster").get(pk=virtual_service.pk)
        )
        existing = HealthCheck.objects.filter(virtual_service=target).first()
        new = HealthCheck(virtual_service=target, cluster_id=target.cluster_id)
    else:
        target = (
            RealServer.objects.select_for_update(of=("self",))
            .select_related("virtual_service__cluster")
            .get(pk=real_server.pk)
        )
        existing = HealthCheck.objects.filter(real_server=target).first()
        new = HealthCheck(real_server=target, cluster_id=target.virtual_service.cluster_id)
    policy.require(acting_user, policy.CHANGE, target)
    if existing is not None:
        return update_audited(existing, fields, acting_user=acting_user, action="health_check.update", fixed=FIXED)
    return create_audited(new, fields, acting_user=acting_user, action="health_check.create", fixed=FIXED)


@transaction.atomic
def delete_health_check(*, acting_user: AbstractBaseUser | None, health_check: HealthCheck) -> None:
    """Remove a check: a service's real servers are no longer checked; a real server follows its service's."""
    policy.require(acting_user, policy.CHANGE, health_check.real_server or health_check.virtual_service)
    delete_audited(health_check, acting_user=acting_user, action="health_check.delete")
