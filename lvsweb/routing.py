"""Websocket URL patterns of every app."""

from dispatch.routing import websocket_urlpatterns as agent_patterns
from traffic.routing import websocket_urlpatterns as traffic_patterns

websocket_urlpatterns: list = [*agent_patterns, *traffic_patterns]
