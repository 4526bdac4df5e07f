"""Actions on hosts and their roles in clusters."""

from collections.abc import Mapping
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from clusters.actions.locks import lock_cluster_and_host
from clusters.actions.records import create_audited, delete_audited, update_audited
from clusters.choices import HostRole
from clusters.models import Cluster, ClusterHost, Host, RealServer
from clusters.real_server_hosts import host_for_address
from teams import policy

#: Fields the agent fills in (dispatch issue); operators do not set them.
AGENT_FIELDS = frozenset(
    {
        "agent_status",
        "agent_version",
        "kernel_version",
        "last_heartbeat_at",
        "public_key",
        "enrolled_at",
        "revoked_at",
        "document_serial",
        "applied_serial",
        "drift",
        "facts",
    },
)
#: A host stays with the team that registered it.
TEAM_FIELDS = frozenset({"team", "team_id"})


@transaction.atomic
def create_host(*, acting_user: AbstractBaseUser | None, fields: Mapping[str, Any]) -> Host:
    """Register a host by team, hostname and management address; needs the operator role in the team."""

    def check(host: Host) -> None:
        if host.team_id is not None:
            policy.require(acting_user, policy.CHANGE, host.team)

    return create_audited(
        Host(), fields, acting_user=acting_user, action="host.create", fixed=AGENT_FIELDS, check=check
    )


@transaction.atomic
def update_host(*, acting_user: AbstractBaseUser | None, host: Host, changes: Mapping[str, Any]) -> Host:
    """Change a host's hostname, management address or description."""
    host = Host.objects.select_for_update().get(pk=host.pk)
    policy.require(acting_user, policy.CHANGE, host)
    addresses = host.addresses
    host = update_audited(
        host, changes, acting_user=acting_user, action="host.update", fixed=AGENT_FIELDS | TEAM_FIELDS
    )
    if host.addresses != addresses:
        for role in host.cluster_roles.filter(role=HostRole.REAL_SERVER).select_related("cluster"):
            link_real_servers(acting_user=acting_user, cluster=role.cluster, host=host)
    return host


@transaction.atomic
def delete_host(*, acting_user: AbstractBaseUser | None, host: Host) -> None:
    """Delete a host; refused (ProtectedError) while it still has a role in a cluster."""
    policy.require(acting_user, policy.DELETE, host)
    delete_audited(host, acting_user=acting_user, action="host.delete")


@transaction.atomic
def assign_host_role(
    *, acting_user: AbstractBaseUser | None, cluster: Cluster, host: Host, role: HostRole | str
) -> ClusterHost:
    """Give `host` a role (director or real server) in `cluster`; needs the operator role for both."""
    lock_cluster_and_host(cluster.pk, host.pk)
    policy.require(acting_user, policy.CHANGE, cluster)
    policy.require(acting_user, policy.CHANGE, host)
    cluster_host = create_audited(
        ClusterHost(),
        {"cluster": cluster, "host": host, "role": role},
        acting_user=acting_user,
        action="cluster_host.create",
    )
    if cluster_host.role == HostRole.REAL_SERVER:
        link_real_servers(acting_user=acting_user, cluster=cluster, host=host)
    return cluster_host


def link_real_servers(*, acting_user: AbstractBaseUser | None, cluster: Cluster, host: Host) -> list[RealServer]:
    """Link the real servers of `cluster` at one of `host`'s addresses that have no host yet (each audited).

    Called when the host becomes a real server of the cluster, or its addresses change: without the link the
    compiler sends it no TUN/DR recipe for those real servers, and the director's packets to them are dropped.
    Real servers configured by hand stay as they are, and a link never crosses teams.
    """
    if host.team_id != cluster.team_id:
        return []
    candidates = RealServer.objects.filter(
        virtual_service__cluster=cluster, host__isnull=True, configured_by_hand=False, address__in=host.addresses
    ).select_related("virtual_service__cluster")
    linked = []
    for real_server in candidates.select_for_update(of=("self",)):
        if host_for_address(cluster, real_server.address) == host:
            linked.append(
                update_audited(real_server, {"host": host}, acting_user=acting_user, action="real_server.update")
            )
    return linked


@transaction.atomic
def remove_host_role(*, acting_user: AbstractBaseUser | None, cluster_host: ClusterHost) -> None:
    """Take a host out of a cluster (the host itself stays registered)."""
    policy.require(acting_user, policy.CHANGE, cluster_host.cluster)
    delete_audited(cluster_host, acting_user=acting_user, action="cluster_host.delete")
