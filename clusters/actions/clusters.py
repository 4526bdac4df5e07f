"""Actions on clusters."""

from collections.abc import Mapping
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction

from audit.recording import record
from clusters.actions.records import create_audited, delete_audited, update_audited
from clusters.models import Cluster, RealServer
from teams import policy
from teams.models import Team

#: A cluster changes team only through `transfer_cluster` (owners of both teams).
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


@transaction.atomic
def transfer_cluster(*, acting_user: AbstractBaseUser | None, cluster: Cluster, team: Team) -> Cluster:
    """Move a cluster to another team; the user must own both the cluster's team and the new one."""
    cluster = Cluster.objects.select_for_update().select_related("team").get(pk=cluster.pk)
    policy.require(acting_user, "transfer", cluster)
    if acting_user is not None and not policy.can(acting_user, policy.MANAGE, team):
        raise PermissionDenied(f"You can transfer clusters only to teams you own; you do not own “{team}”.")
    if cluster.team_id == team.pk:
        raise ValidationError({"team": f"Cluster “{cluster}” already belongs to team “{team}”."})
    if Cluster.objects.filter(team=team, name=cluster.name).exists():
        raise ValidationError(
            {"team": f"Team “{team}” already has a cluster named “{cluster.name}”; rename one of them first."}
        )
    previous_team_id = cluster.team_id
    cluster.team = team
    cluster.save(update_fields=["team", "updated_at"])
    for team_id in (previous_team_id, team.pk):
        # One entry in each team's history: the team that gave the cluster away and the one that got it.
        record(
            action="cluster.transfer",
            acting_user=acting_user,
            obj=cluster,
            changes={"team": [previous_team_id, team.pk]},
            team_id=team_id,
            cluster_id=cluster.pk,
        )
    return cluster
