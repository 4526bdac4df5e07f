"""What happened: alerts (one message, grouping events), open conditions, deliveries, and the audit cursor."""

from django.db import models
from django.urls import reverse

from alerts.choices import AlertKind, AlertStatus, DeliveryStatus, Severity


class Alert(models.Model):
    """One message of a rule: the events of one type that arrived within its grouping window.

    `items` holds one entry per event: `{"subject", "text", "at", "cluster", "entry"}` (entry: the audit entry's
    id). Team and cluster are kept by id and name so that a deleted rule or cluster leaves the history readable.
    """

    team = models.ForeignKey(
        "teams.Team",
        on_delete=models.CASCADE,
        related_name="alerts",
    )
    rule = models.ForeignKey(
        "alerts.Rule",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="alerts",
    )
    rule_name = models.CharField(
        max_length=100,
    )
    event_type = models.CharField(
        max_length=40,
        db_index=True,
    )
    severity = models.CharField(
        max_length=10,
        choices=Severity.choices,
    )
    kind = models.CharField(
        max_length=10,
        choices=AlertKind.choices,
    )
    status = models.CharField(
        max_length=12,
        choices=AlertStatus.choices,
        default=AlertStatus.COLLECTING,
        db_index=True,
    )
    title = models.CharField(
        max_length=300,
        blank=True,
    )
    items = models.JSONField(
        default=list,
    )
    cluster_ids = models.JSONField(
        default=list,
    )
    opened_at = models.DateTimeField()
    send_after = models.DateTimeField(
        db_index=True,
        help_text="The end of the grouping window: the alert is sent then.",
    )
    dispatched_at = models.DateTimeField(
        null=True,
        blank=True,
    )
    silence = models.ForeignKey(
        "alerts.Silence",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="alerts",
    )
    acknowledged_at = models.DateTimeField(
        null=True,
        blank=True,
    )
    acknowledged_by = models.CharField(
        max_length=150,
        blank=True,
    )

    class Meta:
        ordering = ["-opened_at", "-id"]
        indexes = [models.Index(fields=["rule", "event_type", "kind", "status"], name="alerts_alert_open_idx")]

    def __str__(self) -> str:
        return self.title or f"{self.event_type} ({self.kind})"

    def get_absolute_url(self) -> str:
        return reverse("alerts-alert-detail", kwargs={"pk": self.pk})


class Condition(models.Model):
    """A problem that is still open for a rule (a real server down, a host offline), until its clearing event."""

    rule = models.ForeignKey(
        "alerts.Rule",
        on_delete=models.CASCADE,
        related_name="conditions",
    )
    event_type = models.CharField(
        max_length=40,
    )
    subject = models.CharField(
        max_length=200,
    )
    alert = models.ForeignKey(
        "alerts.Alert",
        on_delete=models.CASCADE,
        related_name="conditions",
        help_text="The problem alert that announces (or will announce) it.",
    )
    opened_at = models.DateTimeField()

    class Meta:
        ordering = ["opened_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["rule", "event_type", "subject"], name="%(app_label)s_%(class)s_unique_subject"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event_type}: {self.subject}"


class Delivery(models.Model):
    """One alert to one channel, and every attempt to send it (`log`: `{"at", "outcome", "detail"}` each)."""

    alert = models.ForeignKey(
        "alerts.Alert",
        on_delete=models.CASCADE,
        related_name="deliveries",
    )
    channel = models.ForeignKey(
        "alerts.Channel",
        on_delete=models.CASCADE,
        related_name="deliveries",
    )
    status = models.CharField(
        max_length=12,
        choices=DeliveryStatus.choices,
        default=DeliveryStatus.PENDING,
    )
    attempts = models.PositiveIntegerField(
        default=0,
    )
    log = models.JSONField(
        default=list,
    )
    last_error = models.TextField(
        blank=True,
    )
    created_at = models.DateTimeField(
        auto_now_add=True,
        db_index=True,
    )
    sent_at = models.DateTimeField(
        null=True,
        blank=True,
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "deliveries"

    def __str__(self) -> str:
        return f"{self.alert} → {self.channel}: {self.get_status_display()}"


class Cursor(models.Model):
    """How far the alerts have read the audit history (the last entry id looked at)."""

    name = models.CharField(
        max_length=20,
        unique=True,
    )
    last_entry_id = models.BigIntegerField(
        default=0,
    )

    def __str__(self) -> str:
        return f"{self.name} at audit entry #{self.last_entry_id}"
