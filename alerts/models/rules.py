"""Alert rules (which events go to which channels) and silences (no delivery for a while)."""

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator
from django.db import models
from django.utils import timezone

from alerts.choices import Severity
from alerts.events import EVENT_TYPES


class Rule(models.Model):
    """Events of these types, in these clusters (none named: all of the team's), at least this severe → channels."""

    team = models.ForeignKey(
        "teams.Team",
        on_delete=models.CASCADE,
        related_name="alert_rules",
    )
    name = models.CharField(
        max_length=100,
    )
    event_types = models.JSONField(
        default=list,
        blank=True,
        help_text="Event type names (alerts/events.py, EVENT_TYPES); empty: every type.",
    )
    clusters = models.ManyToManyField(
        "clusters.Cluster",
        blank=True,
        related_name="alert_rules",
        help_text="Empty: every cluster of the team (and its hosts).",
    )
    all_clusters = models.BooleanField(
        default=True,
        editable=False,
        help_text="Set when no cluster was named: a rule whose named clusters were all deleted then matches none.",
    )
    min_severity = models.CharField(
        max_length=10,
        choices=Severity.choices,
        default=Severity.WARNING,
    )
    channels = models.ManyToManyField(
        "alerts.Channel",
        related_name="rules",
    )
    group_seconds = models.PositiveIntegerField(
        default=30,
        validators=[MaxValueValidator(3600)],
        help_text="Grouping window: events of one type within it make one message.",
    )
    enabled = models.BooleanField(
        default=True,
    )
    created_at = models.DateTimeField(
        auto_now_add=True,
    )
    updated_at = models.DateTimeField(
        auto_now=True,
    )

    class Meta:
        ordering = ["team_id", "name"]
        constraints = [
            models.UniqueConstraint(fields=["team", "name"], name="%(app_label)s_%(class)s_unique_team_name"),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if not isinstance(self.event_types, list):
            raise ValidationError({"event_types": "A list of event type names."})
        unknown = [name for name in self.event_types if name not in EVENT_TYPES]
        if unknown:
            raise ValidationError(
                {"event_types": f"Unknown event type “{unknown[0]}”; known: {', '.join(sorted(EVENT_TYPES))}."}
            )


class Silence(models.Model):
    """No alert of the team (of one cluster, of one event type, when named) is delivered until `ends_at`."""

    team = models.ForeignKey(
        "teams.Team",
        on_delete=models.CASCADE,
        related_name="alert_silences",
    )
    cluster = models.ForeignKey(
        "clusters.Cluster",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="alert_silences",
    )
    event_type = models.CharField(
        max_length=40,
        blank=True,
        help_text="Empty: every event type.",
    )
    starts_at = models.DateTimeField(
        default=timezone.now,
    )
    ends_at = models.DateTimeField()
    reason = models.CharField(
        max_length=300,
        blank=True,
    )
    created_by_name = models.CharField(
        max_length=150,
    )

    class Meta:
        ordering = ["-ends_at"]

    def __str__(self) -> str:
        return f"silence: {self.get_summary()}"

    def get_summary(self) -> str:
        """What is silenced, where, until when, in words."""
        what = self.event_type or "every alert"
        where = f" in {self.cluster}" if self.cluster_id else ""
        return f"{what}{where} silenced until {self.ends_at:%Y-%m-%d %H:%M} UTC by {self.created_by_name}"

    @property
    def active(self) -> bool:
        return self.starts_at <= timezone.now() < self.ends_at
