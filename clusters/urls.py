"""Console URLs of the inventory."""

from django.urls import path

from clusters import health_views, views

urlpatterns = [
    path("", views.DashboardView.as_view(), name="dashboard"),
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
]
