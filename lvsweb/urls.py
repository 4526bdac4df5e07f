"""Top-level URL configuration."""

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerSplitView

from lvsweb.csp import api_docs_policy

handler404 = "lvsweb.api.page_not_found"
handler500 = "lvsweb.errors.server_error"


def superuser_only(request) -> bool:
    """The admin shows every team's objects unfiltered, so it cannot follow the team policy: superusers only."""
    return request.user.is_active and request.user.is_superuser


admin.site.has_permission = superuser_only

urlpatterns = [
    path("", include("clusters.urls")),
    path("", include("clusters.urls_interchange")),
    path("", include("clusters.urls_history")),
    path("", include("dispatch.urls")),
    path("", include("teams.urls")),
    path("", include("traffic.urls")),
    path("", include("alerts.urls")),
    path("accounts/", include("accounts.urls")),
    path("admin/", admin.site.urls),
    path("api/", include(("lvsweb.api_urls", "api"))),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # The split view serves Swagger UI's start-up script as a file (?script), so the page has no inline script.
    path("api/docs/", api_docs_policy(SpectacularSwaggerSplitView.as_view(url_name="api-schema")), name="api-docs"),
    path(
        "api/redoc/",
        api_docs_policy(SpectacularRedocView.as_view(url_name="api-schema", template_name="api/redoc.html")),
        name="api-redoc",
    ),
]
