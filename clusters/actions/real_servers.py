"""Actions on real servers."""

from collections.abc import Mapping
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction

from clusters.actions.records import create_audited, delete_audited, update_audited
from clusters.choices import FORWARD_METHODS_WITHOUT_PORT_MAPPING, HostRole, RealServerState
from clusters.models import ClusterHost, RealServer, VirtualService
from clusters.real_server_hosts import host_for_address
from teams import policy

FIXED = frozenset({"virtual_service", "virtual_service_id"})


def _link_host(acting_user: AbstractBaseUser | None, previous_host_id: int | None):
    """Link the real server to its host, and check the link.

    A real server left without a host (and not configured by hand) is linked to the host of its cluster's team
    that has its address. Linking a host by hand needs the operator role for the host too, and a TUN/DR real
    server cannot name one of its cluster's directors: a host has one role per cluster, so the real-server
    recipe would never reach it.
    """

    def check(real_server: RealServer) -> None:
        cluster = real_server.virtual_service.cluster
        if real_server.host_id is None and not real_server.configured_by_hand and real_server.address:
            real_server.host = host_for_address(cluster, real_server.address)
            return
        if real_server.host_id is None or real_server.host_id == previous_host_id:
            return
        policy.require(acting_user, policy.CHANGE, real_server.host)
        directs = ClusterHost.objects.filter(cluster=cluster, host_id=real_server.host_id, role=HostRole.DIRECTOR)
        if real_server.forward_method in FORWARD_METHODS_WITHOUT_PORT_MAPPING and directs.exists():
            raise ValidationError(
                {
                    "host": f"{real_server.host} directs cluster “{cluster}”: a host has one role per cluster, so "
                    "it cannot also receive the real-server recipe there. Choose another host, or leave it "
                    "empty and mark the real server as configured by hand."
                }
            )

    return check


def give_real_server_role(acting_user: AbstractBaseUser | None, real_server: RealServer) -> ClusterHost | None:
    """Make the host a TUN/DR real server is linked to a real server of its cluster, if it has no role there yet.

    The compiler sends the TUN/DR recipe only to hosts with the real-server role in the cluster: without the
    role, the link would name a host that never gets the VIP on tunl0 (or lo). NAT needs no recipe, so no role.
    """
    host = real_server.host
    if host is None or real_server.forward_method not in FORWARD_METHODS_WITHOUT_PORT_MAPPING:
        return None
    cluster = real_server.virtual_service.cluster
    if ClusterHost.objects.filter(cluster=cluster, host=host).exists():
        return None
    return create_audited(
        ClusterHost(),
        {"cluster": cluster, "host": host, "role": HostRole.REAL_SERVER},
        acting_user=acting_user,
        action="cluster_host.create",
    )


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
    # Locked, and read again with its cluster (which the policy, the checks and the audit entry need).
    locked = (
        VirtualService.objects.select_for_update(of=("self",))
        .select_related("cluster")
        .filter(pk=virtual_service.pk)
        .first()
    )
    if locked is None:
        raise ValidationError({"virtual_service": "This virtual service no longer exists."})
    virtual_service = locked
    policy.require(acting_user, policy.CHANGE, virtual_service)
    real_server = RealServer(virtual_service=virtual_service, forward_method=virtual_service.forward_method)
    real_server = create_audited(
        real_server,
        fields,
        acting_user=acting_user,
        action="real_server.create",
        fixed=FIXED,
        check=_link_host(acting_user, None),
    )
    give_real_server_role(acting_user, real_server)
    return real_server


@transaction.atomic
def update_real_server(
    *, acting_user: AbstractBaseUser | None, real_server: RealServer, changes: Mapping[str, Any]
) -> RealServer:
    """Change a real server (weight, thresholds, forwarding, state, host …); an unlinked one is linked again."""
    real_server = _locked(real_server)
    policy.require(acting_user, policy.CHANGE, real_server)
    real_server = update_audited(
        real_server,
        changes,
        acting_user=acting_user,
        action="real_server.update",
        fixed=FIXED,
        check=_link_host(acting_user, real_server.host_id),
    )
    give_real_server_role(acting_user, real_server)
    return real_server


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
