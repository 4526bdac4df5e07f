"""Console URLs to import rules into a cluster and export its rules."""

from django.urls import path

from clusters.views import interchange as views_interchange

urlpatterns = [
    path("clusters/<slug:slug>/import/", views_interchange.ClusterImportView.as_view(), name="cluster-import"),
    path("clusters/<slug:slug>/export/", views_interchange.ClusterExportView.as_view(), name="cluster-export"),
]
