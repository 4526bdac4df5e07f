"""Console URLs of revisions."""

from django.urls import path

from agents import views

urlpatterns = [
    path("clusters/<slug:slug>/revisions/", views.RevisionListView.as_view(), name="cluster-revisions"),
    path("clusters/<slug:slug>/revisions/diff/", views.RevisionDiffView.as_view(), name="cluster-revision-diff"),
    path(
        "clusters/<slug:slug>/revisions/<int:number>/rollback/",
        views.RevisionRollbackView.as_view(),
        name="cluster-revision-rollback",
    ),
]
