"""Enumerations of alerts."""

from django.db import models


class ChannelKind(models.TextChoices):
    """Where an alert channel sends its messages."""

    EMAIL = "email", "e-mail"
    WEBHOOK = "webhook", "webhook (JSON)"
    SLACK = "slack", "webhook (Slack / Mattermost)"


class Severity(models.TextChoices):
    """How urgent an event is; rules pick a minimum."""

    INFO = "info", "info"
    WARNING = "warning", "warning"
    CRITICAL = "critical", "critical"

    @property
    def rank(self) -> int:
        return ["info", "warning", "critical"].index(self.value)


class AlertKind(models.TextChoices):
    """What a message says: a problem, that it cleared, a one-off notice, or a test."""

    PROBLEM = "problem", "problem"
    RESOLVED = "resolved", "resolved"
    NOTICE = "notice", "notice"
    TEST = "test", "test"


class AlertStatus(models.TextChoices):
    """Where an alert is on its way out."""

    COLLECTING = "collecting", "collecting (grouping window open)"
    DISPATCHED = "dispatched", "dispatched to its channels"
    SILENCED = "silenced", "silenced (not sent)"
    CANCELLED = "cancelled", "cancelled (cleared within the grouping window)"


class DeliveryStatus(models.TextChoices):
    """One message to one channel."""

    PENDING = "pending", "pending"
    RETRYING = "retrying", "failed, will retry"
    SENT = "sent", "sent"
    FAILED = "failed", "failed (gave up)"
    RATE_LIMITED = "rate_limited", "not sent: channel's rate limit"
