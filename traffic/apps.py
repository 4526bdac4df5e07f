"""App configuration of live traffic."""

from django.apps import AppConfig


class TrafficConfig(AppConfig):
    """IPVS counters from the agents: live figures, history tiers and the Prometheus endpoint."""

    name = "traffic"
    default_auto_field = "django.db.models.BigAutoField"
