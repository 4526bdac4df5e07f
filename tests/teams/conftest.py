"""Fixtures of the team tests (the objects themselves are built in team_world.py)."""

import pytest

from tests.teams.team_world import World, build_world, plain_static_files  # noqa: F401 (an autouse fixture)


@pytest.fixture
def world(db) -> World:
    """Two teams with every role (see `World`)."""
    return build_world()
