"""The REST API under /api/: one router for every app's viewsets."""

from rest_framework.routers import DefaultRouter

from accounts.api.urls import register as register_accounts
from alerts.api.urls import register as register_alerts
from clusters.api.interchange import urlpatterns as interchange_urlpatterns
from clusters.api.urls import register as register_clusters
from dispatch.api.urls import register as register_agents
from dispatch.api.urls import urlpatterns as agent_urlpatterns
from teams.api.urls import register as register_teams

router = DefaultRouter()
register_clusters(router)
register_agents(router)
register_teams(router)
register_accounts(router)
register_alerts(router)

urlpatterns = [*agent_urlpatterns, *interchange_urlpatterns, *router.urls]
