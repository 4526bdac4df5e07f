"""Actions on virtual services."""

from collections.abc import Mapping
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import transaction

from clusters.actions.locks import lock_cluster_and_directors
from clusters.actions.records import create_audited, delete_audited, update_audited
from clusters.choices import FORWARD_METHODS_WITHOUT_PORT_MAPPING
from clusters.models import Cluster, VirtualService
from teams import policy

FIXED = frozenset({"cluster", "cluster_id"})


@transaction.atomic
def create_virtual_service(
    *, acting_user: AbstractBaseUser | None, cluster: Cluster, fields: Mapping[str, Any]
) -> VirtualService:
    """Add a virtual service (VIP:port or firewall mark) to `cluster`."""
    lock_cluster_and_directors(cluster.pk)
    policy.require(acting_user, policy.CHANGE, cluster)
    return create_audited(
        VirtualService(cluster=cluster), fields, acting_user=acting_user, action="virtual_service.create", fixed=FIXED
    )


@transaction.atomic
def update_virtual_service(
    *, acting_user: AbstractBaseUser | None, virtual_service: VirtualService, changes: Mapping[str, Any]
) -> VirtualService:
    """Change a virtual service.

    TUN and DR real servers follow a port change, also to and from a firewall mark (the kernel cannot map
    ports for them); every real server is checked again, so that a change of VIP family cannot strand a DR
    or NAT real server.
    """
    lock_cluster_and_directors(virtual_service.cluster_id)
    service = (
        VirtualService.objects.select_for_update(of=("self",)).select_related("cluster").get(pk=virtual_service.pk)
    )
    policy.require(acting_user, policy.CHANGE, service)
    update_audited(service, changes, acting_user=acting_user, action="virtual_service.update", fixed=FIXED)
    problems = []
    for real_server in service.real_servers.all():
        real_server.virtual_service = service
        follow = {}
        if real_server.forward_method in FORWARD_METHODS_WITHOUT_PORT_MAPPING:
            # A firewall-mark service has no port: its TUN and DR real servers have none either.
            follow["port"] = service.port
        try:
            update_audited(real_server, follow, acting_user=acting_user, action="real_server.update")
        except ValidationError as exc:
            problems.extend(f"Real server {real_server.endpoint}: {message}" for message in exc.messages)
    if problems:
        raise ValidationError({NON_FIELD_ERRORS: problems})
    return service


@transaction.atomic
def delete_virtual_service(*, acting_user: AbstractBaseUser | None, virtual_service: VirtualService) -> None:
    """Delete a virtual service and its real servers."""
    policy.require(acting_user, policy.DELETE, virtual_service)
    count = virtual_service.real_servers.count()
    delete_audited(
        virtual_service,
        acting_user=acting_user,
        action="virtual_service.delete",
        message=f"Deleted with {count} real servers.",
    )
