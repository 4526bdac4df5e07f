"""URLs of the audit pages."""

from django.urls import path

from audit import views

urlpatterns = [
    path("audit/", views.GlobalAuditView.as_view(), name="audit-global"),
    path(
        "audit/<str:object_type>/<int:object_id>/",
        views.ObjectHistoryView.as_view(),
        name="audit-object",
    ),
    path("clusters/<slug:slug>/history/", views.ClusterHistoryView.as_view(), name="cluster-history"),
]
