"""The REST API under /api/: one router for every app's viewsets, plus the dispatch endpoints."""

from rest_framework.routers import DefaultRouter

from agents.api.urls import register as register_agents
from agents.api.urls import urlpatterns as agent_urlpatterns
from clusters.api.urls import register as register_clusters

router = DefaultRouter()
register_clusters(router)
register_agents(router)

urlpatterns = [*agent_urlpatterns, *router.urls]
