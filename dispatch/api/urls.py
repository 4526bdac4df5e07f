"""Routes of the dispatch API."""

from django.urls import path
from rest_framework.routers import BaseRouter

from dispatch.api import adopt, ha, views

urlpatterns = [
    path("agent/enroll/", views.AgentEnrollView.as_view(), name="agent-enroll"),
    path("clusters/<slug:slug>/plan/", views.ClusterPlanView.as_view(), name="cluster-plan"),
    path("clusters/<slug:slug>/apply/", views.ClusterApplyView.as_view(), name="cluster-apply"),
    path("clusters/<slug:slug>/ha/", ha.ClusterHaView.as_view(), name="cluster-ha"),
    path("cluster-hosts/<int:pk>/drain/", ha.DirectorDrainView.as_view(), name="director-drain"),
    path("cluster-hosts/<int:pk>/undrain/", ha.DirectorDrainView.as_view(drained=False), name="director-undrain"),
    path("clusters/<slug:slug>/reconcile/", views.ClusterReconcileView.as_view(), name="cluster-reconcile"),
    path("real-servers/<int:pk>/now/", views.RealServerNowView.as_view(), name="real-server-now"),
    path("hosts/<int:pk>/enrollment-token/", views.HostEnrollmentTokenView.as_view(), name="host-enrollment-token"),
    path("hosts/<int:pk>/revoke/", views.HostRevokeView.as_view(), name="host-revoke"),
    path("hosts/<int:pk>/adopt/", adopt.HostAdoptReadView.as_view(), name="host-adopt-read"),
    path("hosts/<int:pk>/adopt/<int:reading>/", adopt.HostAdoptReadingView.as_view(), name="host-adopt"),
    path(
        "hosts/<int:pk>/adopt/<int:reading>/preview/", adopt.HostAdoptPreviewView.as_view(), name="host-adopt-preview"
    ),
    path("hosts/<int:pk>/adopt/<int:reading>/commit/", adopt.HostAdoptCommitView.as_view(), name="host-adopt-commit"),
]


def register(router: BaseRouter) -> None:
    """Add the dispatch viewsets to the API router."""
    router.register("revisions", views.RevisionViewSet, basename="revision")
    router.register("deployments", views.DeploymentViewSet, basename="deployment")
    router.register("director-roles", ha.DirectorRoleViewSet, basename="directorrole")
