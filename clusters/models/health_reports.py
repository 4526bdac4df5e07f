"""What directors' agents report about their real servers' health (docs/health.md, "Reports")."""

from django.db import models

from clusters.choices import HealthStatus


class RealServerHealth(models.Model):
    """A real server's health as its director's agent last reported it."""

    cluster = models.ForeignKey(
        "clusters.Cluster",
        on_delete=models.CASCADE,
        related_name="real_server_health",
    )
    real_server = models.OneToOneField(
        "clusters.RealServer",
        on_delete=models.CASCADE,
        related_name="health",
    )
    status = models.CharField(
        max_length=7,
        choices=HealthStatus.choices,
        default=HealthStatus.UNKNOWN,
    )
    check_kind = models.CharField(
        max_length=20,
        blank=True,
        verbose_name="check",
        help_text="The check that ran, e.g. http or tcp+tunnel.",
    )
    message = models.CharField(
        max_length=1000,
        blank=True,
        verbose_name="last result",
    )
    latency_ms = models.FloatField(
        null=True,
        blank=True,
    )
    checked_at = models.DateTimeField(
        null=True,
        blank=True,
    )
    changed_at = models.DateTimeField(
        null=True,
        blank=True,
    )
    reported_by = models.CharField(
        max_length=253,
        blank=True,
        help_text="The director whose agent checked.",
    )

    class Meta:
        ordering = ["real_server"]
        verbose_name_plural = "real server health"

    def __str__(self) -> str:
        return f"{self.real_server}: {self.status}"


class HealthTransition(models.Model):
    """One change of a real server's health (or of a service's quorum), as the director's agent reported it."""

    cluster = models.ForeignKey(
        "clusters.Cluster",
        on_delete=models.CASCADE,
        related_name="health_transitions",
    )
    real_server = models.ForeignKey(
        "clusters.RealServer",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="health_transitions",
    )
    service = models.CharField(
        max_length=100,
        help_text="The service as the agent names it, e.g. tcp 10.10.0.100:80.",
    )
    endpoint = models.CharField(
        max_length=60,
        blank=True,
        help_text="The real server, e.g. 10.20.0.11:80; empty for a quorum change.",
    )
    from_status = models.CharField(
        max_length=12,
    )
    to_status = models.CharField(
        max_length=12,
    )
    at = models.DateTimeField()
    message = models.CharField(
        max_length=1000,
        blank=True,
    )
    latency_ms = models.FloatField(
        null=True,
        blank=True,
    )
    reported_by = models.CharField(
        max_length=253,
    )

    class Meta:
        ordering = ["-at", "-pk"]
        indexes = [models.Index(fields=["cluster", "-at"], name="clusters_health_cluster_at")]

    def __str__(self) -> str:
        return f"{self.endpoint or self.service}: {self.from_status} → {self.to_status}"
