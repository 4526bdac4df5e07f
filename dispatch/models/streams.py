"""What the console last accepted from each host's report streams, to refuse replays (docs/dispatch.md)."""

from django.db import models


class ReportStream(models.Model):
    """One host's stream of signed reports (heartbeat, deployment, health, traffic): the last sequence accepted,
    and how many reports were refused as stale, repeated or out of order."""

    host = models.ForeignKey(
        "clusters.Host",
        on_delete=models.CASCADE,
        related_name="report_streams",
    )
    stream = models.CharField(
        max_length=20,
    )
    last_sequence = models.BigIntegerField(
        default=0,
    )
    last_sent_at = models.DateTimeField(
        null=True,
        blank=True,
    )
    refused = models.PositiveIntegerField(
        default=0,
    )
    #: Refusals since the last audit entry about them (entries are written at most once a minute per stream).
    refused_unaudited = models.PositiveIntegerField(
        default=0,
    )
    refusal_audited_at = models.DateTimeField(
        null=True,
        blank=True,
    )

    class Meta:
        ordering = ["host", "stream"]
        constraints = [
            models.UniqueConstraint(fields=["host", "stream"], name="%(app_label)s_%(class)s_unique_host_stream"),
        ]

    def __str__(self) -> str:
        return f"{self.stream} reports of {self.host}"
