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


#: Why the console sends a host nothing: the error its deployment fails with at once, by the host's state.
NOT_SENT_REASONS = {
    SyncState.NEVER_ENROLLED: "never enrolled: run `lvsweb-agent enroll` on the host first "
    "(Hosts → Enroll shows the command).",
    SyncState.REVOKED: "revoked: the console no longer trusts this host's agent; enroll it again to manage it.",
}


class VrrpState(models.TextChoices):
    """A director's VRRP state in one VIP group, as keepalived names it (reported by its agent)."""

    MASTER = "master", "active"
    BACKUP = "backup", "backup"
    FAULT = "fault", "fault"
    STOP = "stop", "stopped"
