"""Fixtures of the team tests (the objects themselves are built in team_world.py)."""

import pytest

from tests.teams.team_world import World, build_world


@pytest.fixture
def world(db) -> World:
    """Two teams with every role (see `World`)."""
    return build_world()
