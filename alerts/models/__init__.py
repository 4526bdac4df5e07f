"""Models of alerts: channels and rules (what the team configures), alerts and deliveries (what happened)."""

from alerts.models.alerts import Alert, Condition, Cursor, Delivery
from alerts.models.channels import Channel
from alerts.models.rules import Rule, Silence

__all__ = ["Alert", "Channel", "Condition", "Cursor", "Delivery", "Rule", "Silence"]
