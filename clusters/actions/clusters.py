"""Actions on clusters."""

from collections.abc import Mapping
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from clusters.actions.records import create_audited, delete_audited, update_audited
from clusters.models import Cluster, RealServer
from teams import policy

#: A cluster changes team only through `teams.actions.transfer_cluster` (owners of both teams).
FIXED_ON_UPDATE = frozenset({"team", "team_id"})


def _require_team(acting_user: AbstractBaseUser | None):
    """Creating a cluster needs the operator role in the team it goes into."""

    def check(cluster: Cluster) -> None:
        if cluster.team_id is not None:
            policy.require(acting_user, policy.CHANGE, cluster.team)

    return check


@transaction.atomic
def create_cluster(*, acting_user: AbstractBaseUser | None, fields: Mapping[str, Any]) -> Cluster:
    """Create a cluster from `fields` (team, name, slug, description); needs the operator role in the team."""
    return create_audited(
        Cluster(), fields, acting_user=acting_user, action="cluster.create", check=_require_team(acting_user)
    )


@transaction.atomic
def update_cluster(*, acting_user: AbstractBaseUser | None, cluster: Cluster, changes: Mapping[str, Any]) -> Cluster:
    """Change a cluster's name, slug or description (its team changes only by `transfer_cluster`)."""
    cluster = Cluster.objects.select_for_update().get(pk=cluster.pk)
    policy.require(acting_user, policy.CHANGE, cluster)
    return update_audited(cluster, changes, acting_user=acting_user, action="cluster.update", fixed=FIXED_ON_UPDATE)


@transaction.atomic
def delete_cluster(*, acting_user: AbstractBaseUser | None, cluster: Cluster) -> None:
    """Delete a cluster with its virtual services, real servers and host roles (hosts stay); owners only."""
    policy.require(acting_user, policy.DELETE, cluster)
    services = cluster.virtual_services.count()
    real_servers = RealServer.objects.filter(virtual_service__cluster=cluster).count()
    delete_audited(
        cluster,
        acting_user=acting_user,
        action="cluster.delete",
        message=f"Deleted with {services} virtual services and {real_servers} real servers.",
    )
