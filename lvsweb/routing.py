"""Websocket URL patterns; the live-status consumers of the dispatch issue register here."""

websocket_urlpatterns: list = []
