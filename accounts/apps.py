"""App configuration for accounts."""

from django.apps import AppConfig


class AccountsConfig(AppConfig):
    """Sign-in and personal API tokens."""

    name = "accounts"
    default_auto_field = "django.db.models.BigAutoField"
