"""App configuration for teams."""

from django.apps import AppConfig


class TeamsConfig(AppConfig):
    """Teams, memberships with roles, invitations, and the one policy that decides who may do what."""

    name = "teams"
    default_auto_field = "django.db.models.BigAutoField"
