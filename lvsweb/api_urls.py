"""The REST API under /api/: one router for every app's viewsets."""

from rest_framework.routers import DefaultRouter

from clusters.api.urls import register as register_clusters

router = DefaultRouter()
register_clusters(router)

urlpatterns = router.urls
