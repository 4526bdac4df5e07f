"""Routes of the alerts API."""

from rest_framework.routers import BaseRouter

from alerts.api import views


def register(router: BaseRouter) -> None:
    """Add the alerts endpoints to the API router."""
    router.register("alert-channels", views.ChannelViewSet, basename="alertchannel")
    router.register("alert-rules", views.RuleViewSet, basename="alertrule")
    router.register("alert-silences", views.SilenceViewSet, basename="alertsilence")
    router.register("alerts", views.AlertViewSet, basename="alert")
