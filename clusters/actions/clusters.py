"""Actions on clusters."""

from collections.abc import Mapping
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from clusters.actions.records import create_audited, delete_audited, update_audited
from clusters.models import Cluster, RealServer


@transaction.atomic
def create_cluster(*, acting_user: AbstractBaseUser | None, fields: Mapping[str, Any]) -> Cluster:
    """Create a cluster from `fields` (name, slug, description)."""
    return create_audited(Cluster(), fields, acting_user=acting_user, action="cluster.create")


@transaction.atomic
def update_cluster(*, acting_user: AbstractBaseUser | None, cluster: Cluster, changes: Mapping[str, Any]) -> Cluster:
    """Change a cluster's name, slug or description."""
    cluster = Cluster.objects.select_for_update().get(pk=cluster.pk)
    return update_audited(cluster, changes, acting_user=acting_user, action="cluster.update")


@transaction.atomic
def delete_cluster(*, acting_user: AbstractBaseUser | None, cluster: Cluster) -> None:
    """Delete a cluster with its virtual services, real servers and host roles (hosts stay)."""
    services = cluster.virtual_services.count()
    real_servers = RealServer.objects.filter(virtual_service__cluster=cluster).count()
    delete_audited(
        cluster,
        acting_user=acting_user,
        action="cluster.delete",
        message=f"Deleted with {services} virtual services and {real_servers} real servers.",
    )
