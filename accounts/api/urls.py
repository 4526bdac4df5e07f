"""Routes of the accounts API."""

from rest_framework.routers import BaseRouter

from accounts.api import views


def register(router: BaseRouter) -> None:
    """Add the personal token endpoints to the API router."""
    router.register("tokens", views.ApiTokenViewSet, basename="token")
