"""Console URLs of the inventory."""

from django.urls import path

from clusters import views
from clusters.views import health_checks as health_views
from clusters.views import vip_groups as vip_group_views

urlpatterns = [
    path("", views.DashboardView.as_view(), name="dashboard"),
    path("search/", views.SearchView.as_view(), name="search"),
    path("clusters/", views.ClusterListView.as_view(), name="cluster-list"),
    # Before the cluster page: “new” is not a cluster slug (ClusterForm refuses it).
    path("clusters/new/", views.ClusterCreateView.as_view(), name="cluster-create"),
    path("clusters/<slug:slug>/", views.ClusterDetailView.as_view(), name="cluster-detail"),
    path(
        "clusters/<slug:slug>/services/<int:pk>/health/",
        health_views.HealthCheckEditView.as_view(),
        name="health-service-edit",
    ),
    path(
        "clusters/<slug:slug>/real-servers/<int:pk>/health/",
        health_views.HealthCheckEditView.as_view(for_real_server=True),
        name="health-real-server-edit",
    ),
    # Reached from the team page, hence under teams/ (the view: clusters/views/transfer.py).
    path(
        "teams/<slug:slug>/clusters/<slug:cluster>/transfer/",
        views.ClusterTransferView.as_view(),
        name="team-cluster-transfer",
    ),
    path("clusters/<slug:slug>/edit/", views.ClusterEditView.as_view(), name="cluster-edit"),
    path("clusters/<slug:slug>/delete/", views.ClusterDeleteView.as_view(), name="cluster-delete"),
    path("clusters/<slug:slug>/vip-groups/new/", vip_group_views.VipGroupCreateView.as_view(), name="vip-group-create"),
    path(
        "clusters/<slug:slug>/vip-groups/<int:pk>/edit/",
        vip_group_views.VipGroupEditView.as_view(),
        name="vip-group-edit",
    ),
    path("clusters/<slug:slug>/services/new/", views.VirtualServiceCreateView.as_view(), name="virtual-service-create"),
    path(
        "clusters/<slug:slug>/services/<int:pk>/edit/",
        views.VirtualServiceEditView.as_view(),
        name="virtual-service-edit",
    ),
    path(
        "clusters/<slug:slug>/services/<int:pk>/delete/",
        views.VirtualServiceDeleteView.as_view(),
        name="virtual-service-delete",
    ),
    path(
        "clusters/<slug:slug>/services/<int:pk>/real-servers/new/",
        views.RealServerCreateView.as_view(),
        name="real-server-create",
    ),
    path(
        "clusters/<slug:slug>/real-servers/<int:pk>/edit/",
        views.RealServerEditView.as_view(),
        name="real-server-edit",
    ),
    path(
        "clusters/<slug:slug>/real-servers/<int:pk>/delete/",
        views.RealServerDeleteView.as_view(),
        name="real-server-delete",
    ),
    path(
        "clusters/<slug:slug>/real-servers/<int:pk>/connections/",
        views.RealServerConnectionsView.as_view(),
        name="real-server-connections",
    ),
    path(
        "clusters/<slug:slug>/real-servers/<int:pk>/now/<str:verb>/",
        views.RealServerNowView.as_view(),
        name="real-server-now",
    ),
    path(
        "clusters/<slug:slug>/real-servers/<int:pk>/<str:verb>/",
        views.RealServerStateView.as_view(),
        name="real-server-state",
    ),
]
