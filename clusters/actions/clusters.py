"""Actions on clusters."""

from collections.abc import Mapping
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from clusters.actions.records import assign, save_validated
from clusters.models import Cluster


@transaction.atomic
def create_cluster(*, acting_user: AbstractBaseUser | None, fields: Mapping[str, Any]) -> Cluster:
    """Create a cluster from `fields` (name, slug, description)."""
    cluster = Cluster()
    assign(cluster, fields)
    return save_validated(cluster)


@transaction.atomic
def update_cluster(*, acting_user: AbstractBaseUser | None, cluster: Cluster, changes: Mapping[str, Any]) -> Cluster:
    """Change a cluster's name, slug or description."""
    cluster = Cluster.objects.select_for_update().get(pk=cluster.pk)
    assign(cluster, changes)
    return save_validated(cluster)


@transaction.atomic
def delete_cluster(*, acting_user: AbstractBaseUser | None, cluster: Cluster) -> None:
    """Delete a cluster with its virtual services, real servers and host roles (hosts stay)."""
    cluster.delete()
