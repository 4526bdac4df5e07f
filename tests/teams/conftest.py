"""Fixtures of the team tests (built in team_world.py, so that other test packages can import them too)."""

import pytest
from django.core.cache import cache

from tests.teams.team_world import world

__all__ = ["world"]


@pytest.fixture(autouse=True)
def fresh_throttles():
    """The matrix makes hundreds of requests from one address: empty the rate-limit counters around each test."""
    cache.clear()
    yield
    cache.clear()
