"""Deployments: one host's part of an apply, plan or reconcile, with its outcome."""

from django.db import models

from dispatch.choices import NOT_SENT_REASONS, DeploymentKind, DeploymentStatus, SyncState


class Deployment(models.Model):
    """A command sent to one host's agent and what became of it."""

    kind = models.CharField(
        max_length=10,
        choices=DeploymentKind.choices,
        default=DeploymentKind.APPLY,
    )
    cluster = models.ForeignKey(
        "clusters.Cluster",
        on_delete=models.CASCADE,
        related_name="deployments",
    )
    revision = models.ForeignKey(
        "agents.Revision",
        on_delete=models.CASCADE,
        related_name="deployments",
        null=True,
        blank=True,
        help_text="Empty for a plan, which previews the inventory before it becomes a revision.",
    )
    host = models.ForeignKey(
        "clusters.Host",
        on_delete=models.CASCADE,
        related_name="deployments",
    )
    serial = models.PositiveBigIntegerField(
        default=0,
    )
    document = models.JSONField(
        default=dict,
        blank=True,
    )
    status = models.CharField(
        max_length=10,
        choices=DeploymentStatus.choices,
        default=DeploymentStatus.PENDING,
    )
    operations = models.JSONField(
        default=list,
        blank=True,
        help_text="The operations the agent planned or ran, with their reasons.",
    )
    error = models.TextField(
        blank=True,
    )
    warnings = models.JSONField(
        default=list,
        blank=True,
        help_text="What the host's kernel lacks for this document, from its last heartbeat.",
    )
    created_at = models.DateTimeField(
        auto_now_add=True,
    )
    started_at = models.DateTimeField(
        null=True,
        blank=True,
    )
    finished_at = models.DateTimeField(
        null=True,
        blank=True,
    )
    expires_at = models.DateTimeField(
        help_text="When an unanswered command is given up as failed (agent offline).",
    )

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["cluster", "status"], name="agents_deployment_open_idx")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} on {self.host} ({self.get_status_display()})"

    @property
    def not_sent_state(self) -> SyncState | None:
        """The host's state that kept the console from sending this command at all (never enrolled, revoked).

        Such a deployment failed the moment it was made, with that state's reason as its error; no agent ran it.
        """
        if self.status != DeploymentStatus.FAILED or self.started_at is not None:
            return None
        return next((state for state, reason in NOT_SENT_REASONS.items() if self.error == reason), None)

    @property
    def not_sent(self) -> str:
        """'never enrolled' or 'revoked' when the console sent this command to nobody, else ''."""
        state = self.not_sent_state
        return str(state.label) if state is not None else ""
