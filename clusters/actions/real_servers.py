"""Actions on real servers."""

from collections.abc import Mapping
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from clusters.actions.records import create_audited, delete_audited, update_audited
from clusters.choices import RealServerState
from clusters.models import RealServer, VirtualService
from teams import policy

FIXED = frozenset({"virtual_service", "virtual_service_id"})


def _require_host(acting_user: AbstractBaseUser | None, previous_host_id: int | None):
    """Linking a real server to a host needs the operator role for the host too."""

    def check(real_server: RealServer) -> None:
        if real_server.host_id is not None and real_server.host_id != previous_host_id:
            policy.require(acting_user, policy.CHANGE, real_server.host)

    return check


def _locked(real_server: RealServer) -> RealServer:
    return (
        RealServer.objects.select_for_update(of=("self",))
        .select_related("virtual_service__cluster")
        .get(pk=real_server.pk)
    )


@transaction.atomic
def create_real_server(
    *, acting_user: AbstractBaseUser | None, virtual_service: VirtualService, fields: Mapping[str, Any]
) -> RealServer:
    """Add a real server to a virtual service; the forwarding method defaults to the service's."""
    VirtualService.objects.select_for_update().filter(pk=virtual_service.pk).first()
    policy.require(acting_user, policy.CHANGE, virtual_service)
    real_server = RealServer(virtual_service=virtual_service, forward_method=virtual_service.forward_method)
    return create_audited(
        real_server,
        fields,
        acting_user=acting_user,
        action="real_server.create",
        fixed=FIXED,
        check=_require_host(acting_user, None),
    )


@transaction.atomic
def update_real_server(
    *, acting_user: AbstractBaseUser | None, real_server: RealServer, changes: Mapping[str, Any]
) -> RealServer:
    """Change a real server (weight, thresholds, forwarding, state …)."""
    real_server = _locked(real_server)
    policy.require(acting_user, policy.CHANGE, real_server)
    return update_audited(
        real_server,
        changes,
        acting_user=acting_user,
        action="real_server.update",
        fixed=FIXED,
        check=_require_host(acting_user, real_server.host_id),
    )


@transaction.atomic
def set_real_server_state(
    *, acting_user: AbstractBaseUser | None, real_server: RealServer, state: RealServerState | str
) -> RealServer:
    """Drain (weight 0, connections finish), disable (removed from the kernel) or enable a real server."""
    verb = {RealServerState.ACTIVE: "enable", RealServerState.DRAINING: "drain", RealServerState.DISABLED: "disable"}
    real_server = _locked(real_server)
    policy.require(acting_user, "drain", real_server)
    return update_audited(
        real_server,
        {"state": state},
        acting_user=acting_user,
        action=f"real_server.{verb.get(state, 'update')}",
        fixed=FIXED,
    )


@transaction.atomic
def delete_real_server(*, acting_user: AbstractBaseUser | None, real_server: RealServer) -> None:
    """Remove a real server from its virtual service."""
    policy.require(acting_user, policy.DELETE, real_server)
    delete_audited(real_server, acting_user=acting_user, action="real_server.delete")
