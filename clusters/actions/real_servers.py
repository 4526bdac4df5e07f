"""Actions on real servers."""

from collections.abc import Mapping
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from clusters.actions.records import assign, save_validated
from clusters.choices import RealServerState
from clusters.models import RealServer, VirtualService

FIXED = frozenset({"virtual_service", "virtual_service_id"})


@transaction.atomic
def create_real_server(
    *, acting_user: AbstractBaseUser | None, virtual_service: VirtualService, fields: Mapping[str, Any]
) -> RealServer:
    """Add a real server to a virtual service; the forwarding method defaults to the service's."""
    VirtualService.objects.select_for_update().filter(pk=virtual_service.pk).first()
    real_server = RealServer(virtual_service=virtual_service, forward_method=virtual_service.forward_method)
    assign(real_server, fields, fixed=FIXED)
    return save_validated(real_server)


@transaction.atomic
def update_real_server(
    *, acting_user: AbstractBaseUser | None, real_server: RealServer, changes: Mapping[str, Any]
) -> RealServer:
    """Change a real server (weight, thresholds, forwarding, state …)."""
    real_server = RealServer.objects.select_for_update().select_related("virtual_service").get(pk=real_server.pk)
    assign(real_server, changes, fixed=FIXED)
    return save_validated(real_server)


@transaction.atomic
def set_real_server_state(
    *, acting_user: AbstractBaseUser | None, real_server: RealServer, state: RealServerState | str
) -> RealServer:
    """Drain (weight 0, connections finish), disable (removed from the kernel) or enable a real server."""
    return update_real_server(acting_user=acting_user, real_server=real_server, changes={"state": state})


@transaction.atomic
def delete_real_server(*, acting_user: AbstractBaseUser | None, real_server: RealServer) -> None:
    """Remove a real server from its virtual service."""
    real_server.delete()
