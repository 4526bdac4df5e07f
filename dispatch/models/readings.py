"""Kernel readings: what a host's agent reported its kernel runs, asked for to adopt the host (docs/operating.md)."""

from django.db import models


class KernelReading(models.Model):
    """One `read` command to a host's agent and its answer: the IPVS table, addresses and sysctls it read.

    The reading is stored as the agent sent it once the console has checked it (lvsweb_agent.adopt.parse_reading);
    a reading that fails the checks is not stored, its error says why.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "waiting for the agent"
        READ = "read", "read"
        FAILED = "failed", "failed"

    host = models.ForeignKey(
        "clusters.Host",
        on_delete=models.CASCADE,
        related_name="kernel_readings",
    )
    requested_by_name = models.CharField(
        max_length=150,
        blank=True,
    )
    status = models.CharField(
        max_length=10,
        choices=Status.choices,
        default=Status.PENDING,
    )
    reading = models.JSONField(
        null=True,
        blank=True,
        help_text="What the agent read (lvsweb_agent.adopt's reading format), once checked.",
    )
    error = models.TextField(
        blank=True,
    )
    created_at = models.DateTimeField(
        auto_now_add=True,
    )
    finished_at = models.DateTimeField(
        null=True,
        blank=True,
    )
    expires_at = models.DateTimeField(
        help_text="When an unanswered read is given up (agent offline).",
    )

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"reading of {self.host} ({self.get_status_display()})"
