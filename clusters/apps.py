"""App configuration for the inventory."""

from django.apps import AppConfig


class ClustersConfig(AppConfig):
    """The LVS inventory app."""

    name = "clusters"
    verbose_name = "LVS inventory"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from clusters import checks  # noqa: F401  (registers the system checks)
