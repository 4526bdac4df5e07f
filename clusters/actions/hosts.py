"""Actions on hosts and their roles in clusters."""

from collections.abc import Mapping
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from clusters.actions.locks import lock_cluster_and_host
from clusters.actions.records import create_audited, delete_audited, update_audited
from clusters.choices import HostRole
from clusters.models import Cluster, ClusterHost, Host

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


@transaction.atomic
def create_host(*, acting_user: AbstractBaseUser | None, fields: Mapping[str, Any]) -> Host:
    """Register a host by hostname and management address."""
    return create_audited(Host(), fields, acting_user=acting_user, action="host.create", fixed=AGENT_FIELDS)


@transaction.atomic
def update_host(*, acting_user: AbstractBaseUser | None, host: Host, changes: Mapping[str, Any]) -> Host:
    """Change a host's hostname, management address or description."""
    host = Host.objects.select_for_update().get(pk=host.pk)
    return update_audited(host, changes, acting_user=acting_user, action="host.update", fixed=AGENT_FIELDS)


@transaction.atomic
def delete_host(*, acting_user: AbstractBaseUser | None, host: Host) -> None:
    """Delete a host; refused (ProtectedError) while it still has a role in a cluster."""
    delete_audited(host, acting_user=acting_user, action="host.delete")


@transaction.atomic
def assign_host_role(
    *, acting_user: AbstractBaseUser | None, cluster: Cluster, host: Host, role: HostRole | str
) -> ClusterHost:
    """Give `host` a role (director or real server) in `cluster`."""
    lock_cluster_and_host(cluster.pk, host.pk)
    return create_audited(
        ClusterHost(),
        {"cluster": cluster, "host": host, "role": role},
        acting_user=acting_user,
        action="cluster_host.create",
    )


@transaction.atomic
def remove_host_role(*, acting_user: AbstractBaseUser | None, cluster_host: ClusterHost) -> None:
    """Take a host out of a cluster (the host itself stays registered)."""
    delete_audited(cluster_host, acting_user=acting_user, action="cluster_host.delete")
