"""Draining a director before maintenance: its VIP groups move to the other directors (docs/ha.md)."""

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from clusters.actions import mark_drained
from clusters.models import ClusterHost
from dispatch.actions.deployments import apply_cluster
from dispatch.models import Revision


@transaction.atomic
def drain_director(*, acting_user: AbstractBaseUser | None, cluster_host: ClusterHost, drained: bool) -> Revision:
    """Drain a director (its VRRP priority drops below the others') or undrain it, and apply the cluster at once.

    One transaction: when the apply is refused (another apply is under way), the mark is not kept either. The
    apply sends the whole current inventory, unapplied changes included (the confirmation page lists them).
    """
    cluster_host = mark_drained(acting_user=acting_user, cluster_host=cluster_host, drained=drained)
    return apply_cluster(acting_user=acting_user, cluster=cluster_host.cluster)
