"""Enumerations of dispatch."""

from django.db import models


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


class SyncState(models.TextChoices):
    """Whether a host's kernel matches what the console last sent it."""

    IN_SYNC = "in_sync", "in sync"
    DRIFTED = "drifted", "drifted"
    UNKNOWN = "unknown", "unknown (the agent cannot read the kernel)"
    OFFLINE = "offline", "agent offline"
    WAITING = "waiting", "waiting for first heartbeat"
    NEVER_ENROLLED = "never_enrolled", "never enrolled"
    REVOKED = "revoked", "revoked"


#: Why the console sends a host nothing: the error its deployment fails with at once, by the host's state.
NOT_SENT_REASONS = {
    SyncState.NEVER_ENROLLED: "never enrolled: run `lvsweb-agent enroll` on the host first "
    "(Hosts → Enroll shows the command).",
    SyncState.REVOKED: "revoked: the console no longer trusts this host's agent; enroll it again to manage it.",
}
