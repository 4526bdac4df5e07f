"""App configuration for the audit history."""

from django.apps import AppConfig


class AuditConfig(AppConfig):
    """Audit history; connects the sign-in signal receivers on start."""

    name = "audit"
    verbose_name = "Audit history"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from audit import receivers  # noqa: F401  (connects the auth signal receivers)
