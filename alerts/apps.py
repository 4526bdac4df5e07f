"""App configuration for alerts."""

from django.apps import AppConfig


class AlertsConfig(AppConfig):
    """Per-team alert channels (e-mail, webhooks) and rules; grouping, silences and the delivery log."""

    name = "alerts"
    default_auto_field = "django.db.models.BigAutoField"
