"""Console URLs of the inventory."""

from django.urls import path

from clusters import views

urlpatterns = [
    path("", views.DashboardView.as_view(), name="dashboard"),
    path("clusters/<slug:slug>/", views.ClusterDetailView.as_view(), name="cluster-detail"),
]
