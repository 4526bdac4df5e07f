"""Console URLs of live traffic."""

from django.urls import path

from traffic import views

urlpatterns = [
    path("metrics", views.metrics_view, name="metrics"),
    path("clusters/<slug:slug>/traffic/", views.ClusterTrafficView.as_view(), name="cluster-traffic"),
    path(
        "clusters/<slug:slug>/services/<int:pk>/traffic/",
        views.VirtualServiceTrafficView.as_view(),
        name="virtual-service-traffic",
    ),
    path(
        "clusters/<slug:slug>/services/<int:pk>/traffic/history/",
        views.TrafficHistoryView.as_view(),
        name="traffic-history",
    ),
]
