"""App configuration for the Django side of the agents (enrollment and deployments come with dispatch)."""

from django.apps import AppConfig


class AgentsConfig(AppConfig):
    """The console's view of host agents."""

    name = "agents"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from agents import signals  # noqa: F401 - connects the receivers
