"""App configuration of dispatch: the console side of the host agents (enrollment, revisions, deployments,
reports). Its label stays "agents", the app's name before the agent became a package of its own, so that its
tables, migrations and permissions keep their names."""

from django.apps import AppConfig


class DispatchConfig(AppConfig):
    """The console's view of host agents."""

    name = "dispatch"
    label = "agents"
    verbose_name = "Dispatch"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from dispatch import signals  # noqa: F401 - connects the receivers
