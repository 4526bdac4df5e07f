"""Actions on virtual services."""

from collections.abc import Mapping
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import transaction

from clusters.actions.records import assign, save_validated
from clusters.choices import FORWARD_METHODS_WITHOUT_PORT_MAPPING
from clusters.models import Cluster, VirtualService


@transaction.atomic
def create_virtual_service(
    *, acting_user: AbstractBaseUser | None, cluster: Cluster, fields: Mapping[str, Any]
) -> VirtualService:
    """Add a virtual service (VIP:port or firewall mark) to `cluster`."""
    # Lock the cluster row so that two concurrent creates cannot both pass the uniqueness checks.
    Cluster.objects.select_for_update().filter(pk=cluster.pk).first()
    service = VirtualService(cluster=cluster)
    assign(service, fields, fixed=frozenset({"cluster", "cluster_id"}))
    return save_validated(service)


@transaction.atomic
def update_virtual_service(
    *, acting_user: AbstractBaseUser | None, virtual_service: VirtualService, changes: Mapping[str, Any]
) -> VirtualService:
    """Change a virtual service.

    TUN and DR real servers follow a port change, also to and from a firewall mark (the kernel cannot map
    ports for them); every real server is checked again, so that a change of VIP family cannot strand a DR
    or NAT real server.
    """
    service = VirtualService.objects.select_for_update().get(pk=virtual_service.pk)
    assign(service, changes, fixed=frozenset({"cluster", "cluster_id"}))
    save_validated(service)
    problems = []
    for real_server in service.real_servers.all():
        real_server.virtual_service = service
        if real_server.forward_method in FORWARD_METHODS_WITHOUT_PORT_MAPPING:
            # A firewall-mark service has no port: its TUN and DR real servers have none either.
            real_server.port = service.port
        try:
            save_validated(real_server)
        except ValidationError as exc:
            problems.extend(f"Real server {real_server.endpoint}: {message}" for message in exc.messages)
    if problems:
        raise ValidationError({NON_FIELD_ERRORS: problems})
    return service


@transaction.atomic
def delete_virtual_service(*, acting_user: AbstractBaseUser | None, virtual_service: VirtualService) -> None:
    """Delete a virtual service and its real servers."""
    virtual_service.delete()
