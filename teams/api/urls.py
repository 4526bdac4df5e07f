"""Routes of the teams API."""

from rest_framework.routers import BaseRouter

from teams.api import views


def register(router: BaseRouter) -> None:
    """Add the teams endpoints to the API router."""
    router.register("teams", views.TeamViewSet, basename="team")
