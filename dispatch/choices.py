"""Enumerations of dispatch."""

from django.db import models

# A host's badge is read from the Host model (clusters.models.sync_state); dispatch's callers find it here too.
from clusters.choices import SyncState as SyncState


class DeploymentKind(models.TextChoices):
    """What a command asks of an agent."""

    APPLY = "apply", "apply"
    PLAN = "plan", "plan"
    RECONCILE = "reconcile", "reconcile"


class DeploymentStatus(models.TextChoices):
    """Where one host's part of an apply is."""

    PENDING = "pending", "pending"
    APPLYING = "applying", "applying"
    APPLIED = "applied", "applied"
    FAILED = "failed", "failed"


#: Statuses of a deployment that is still under way.
OPEN_STATUSES = (DeploymentStatus.PENDING, DeploymentStatus.APPLYING)
