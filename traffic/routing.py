"""Websocket routes of live traffic."""

from django.urls import path

from traffic.consumers import TrafficConsumer

websocket_urlpatterns = [
    path("ws/clusters/<slug:slug>/traffic/", TrafficConsumer.as_asgi()),
]
