"""Actions on hosts and their roles in clusters."""

from collections.abc import Mapping
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from clusters.actions.records import assign, save_validated
from clusters.choices import HostRole
from clusters.models import Cluster, ClusterHost, Host

#: Fields the agent fills in (dispatch issue); operators do not set them.
AGENT_FIELDS = frozenset(
    {"agent_status", "agent_version", "kernel_version", "last_heartbeat_at"},
)


@transaction.atomic
def create_host(*, acting_user: AbstractBaseUser | None, fields: Mapping[str, Any]) -> Host:
    """Register a host by hostname and management address."""
    host = Host()
    assign(host, fields, fixed=AGENT_FIELDS)
    return save_validated(host)


@transaction.atomic
def update_host(*, acting_user: AbstractBaseUser | None, host: Host, changes: Mapping[str, Any]) -> Host:
    """Change a host's hostname, management address or description."""
    host = Host.objects.select_for_update().get(pk=host.pk)
    assign(host, changes, fixed=AGENT_FIELDS)
    return save_validated(host)


@transaction.atomic
def delete_host(*, acting_user: AbstractBaseUser | None, host: Host) -> None:
    """Delete a host; refused (ProtectedError) while it still has a role in a cluster."""
    host.delete()


@transaction.atomic
def assign_host_role(
    *, acting_user: AbstractBaseUser | None, cluster: Cluster, host: Host, role: HostRole | str
) -> ClusterHost:
    """Give `host` a role (director or real server) in `cluster`."""
    cluster_host = ClusterHost(cluster=cluster, host=host, role=role)
    return save_validated(cluster_host)


@transaction.atomic
def remove_host_role(*, acting_user: AbstractBaseUser | None, cluster_host: ClusterHost) -> None:
    """Take a host out of a cluster (the host itself stays registered)."""
    cluster_host.delete()
