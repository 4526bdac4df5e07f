"""URLs of the history (audit) pages: the global history, one object's, a cluster's History tab."""

from django.urls import path

from clusters.views import history as views

urlpatterns = [
    path("audit/", views.GlobalAuditView.as_view(), name="audit-global"),
    path(
        "audit/<str:object_type>/<int:object_id>/",
        views.ObjectHistoryView.as_view(),
        name="audit-object",
    ),
    path("clusters/<slug:slug>/history/", views.ClusterHistoryView.as_view(), name="cluster-history"),
]
