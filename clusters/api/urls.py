"""Routes of the inventory API."""

from rest_framework.routers import BaseRouter

from clusters.api import ha, health, views


def register(router: BaseRouter) -> None:
    """Add the inventory endpoints to the API router."""
    router.register("clusters", views.ClusterViewSet, basename="cluster")
    router.register("hosts", views.HostViewSet, basename="host")
    router.register("cluster-hosts", views.ClusterHostViewSet, basename="clusterhost")
    router.register("virtual-services", views.VirtualServiceViewSet, basename="virtualservice")
    router.register("real-servers", views.RealServerViewSet, basename="realserver")
    router.register("vip-groups", ha.VipGroupViewSet, basename="vipgroup")
    router.register("health-checks", health.HealthCheckViewSet, basename="healthcheck")
    router.register("real-server-health", health.RealServerHealthViewSet, basename="realserverhealth")
    router.register("health-transitions", health.HealthTransitionViewSet, basename="healthtransition")
