"""Actions on hosts and their roles in clusters."""

from collections.abc import Mapping
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from clusters.actions.locks import lock_cluster_and_host
from clusters.actions.records import create_audited, delete_audited, update_audited
from clusters.choices import HostRole
from clusters.models import Cluster, ClusterHost, Host
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
    return update_audited(
        host, changes, acting_user=acting_user, action="host.update", fixed=AGENT_FIELDS | TEAM_FIELDS
    )


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
    return create_audited(
        ClusterHost(),
        {"cluster": cluster, "host": host, "role": role},
        acting_user=acting_user,
        action="cluster_host.create",
    )


@transaction.atomic
def remove_host_role(*, acting_user: AbstractBaseUser | None, cluster_host: ClusterHost) -> None:
    """Take a host out of a cluster (the host itself stays registered)."""
    policy.require(acting_user, policy.CHANGE, cluster_host.cluster)
    delete_audited(cluster_host, acting_user=acting_user, action="cluster_host.delete")
