"""Console URLs of dispatch: revisions, plan, apply and its progress, deployments, hosts and enrollment."""

from django.urls import path

from dispatch.views import adopt, bundle, dispatch, ha, hosts, revisions

urlpatterns = [
    path("clusters/<slug:slug>/revisions/", revisions.RevisionListView.as_view(), name="cluster-revisions"),
    path("clusters/<slug:slug>/revisions/diff/", revisions.RevisionDiffView.as_view(), name="cluster-revision-diff"),
    path(
        "clusters/<slug:slug>/revisions/<int:number>/rollback/",
        revisions.RevisionRollbackView.as_view(),
        name="cluster-revision-rollback",
    ),
    path(
        "clusters/<slug:slug>/revisions/<int:number>/",
        dispatch.RevisionProgressView.as_view(),
        name="cluster-revision-progress",
    ),
    path("clusters/<slug:slug>/plan/", dispatch.PlanView.as_view(), name="cluster-plan"),
    path("clusters/<slug:slug>/apply/", dispatch.ApplyView.as_view(), name="cluster-apply"),
    path(
        "clusters/<slug:slug>/hosts/<str:hostname>/reconcile/",
        dispatch.ReconcileView.as_view(),
        name="cluster-host-reconcile",
    ),
    path(
        "clusters/<slug:slug>/deployments/<int:pk>/", dispatch.DeploymentDetailView.as_view(), name="cluster-deployment"
    ),
    path("clusters/<slug:slug>/directors/<int:pk>/drain/", ha.DirectorDrainView.as_view(), name="cluster-ha-drain"),
    path(
        "clusters/<slug:slug>/directors/<int:pk>/undrain/",
        ha.DirectorDrainView.as_view(drained=False),
        name="cluster-ha-undrain",
    ),
    path("hosts/", hosts.HostListView.as_view(), name="host-list"),
    path("hosts/new/", hosts.HostCreateView.as_view(), name="host-create"),
    path("hosts/<int:pk>/", hosts.HostDetailView.as_view(), name="host-detail"),
    path("hosts/<int:pk>/edit/", hosts.HostUpdateView.as_view(), name="host-edit"),
    path("hosts/<int:pk>/delete/", hosts.HostDeleteView.as_view(), name="host-delete"),
    path("hosts/<int:pk>/roles/", hosts.HostRoleAddView.as_view(), name="host-role-add"),
    path("hosts/<int:pk>/roles/<int:role>/remove/", hosts.HostRoleRemoveView.as_view(), name="host-role-remove"),
    path("hosts/<int:pk>/enroll/", hosts.HostEnrollView.as_view(), name="host-enroll"),
    path("hosts/<int:pk>/revoke/", hosts.HostRevokeView.as_view(), name="host-revoke"),
    path("hosts/<int:pk>/adopt/", adopt.HostAdoptReadView.as_view(), name="host-adopt-read"),
    path("hosts/<int:pk>/adopt/<int:reading>/", adopt.HostAdoptView.as_view(), name="host-adopt"),
    path("agent/download/", bundle.AgentDownloadIndexView.as_view(), name="agent-download"),
    path("agent/download/<str:name>", bundle.AgentDownloadFileView.as_view(), name="agent-download-file"),
]
