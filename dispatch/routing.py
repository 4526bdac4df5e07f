"""Websocket routes of dispatch."""

from django.urls import path

from dispatch.consumers import ClusterStatusConsumer

websocket_urlpatterns = [
    path("ws/clusters/<slug:slug>/", ClusterStatusConsumer.as_asgi()),
]
