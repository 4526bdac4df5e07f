"""Fixtures of the team tests (built in team_world.py, so that other test packages can import them too)."""

from tests.teams.team_world import world

__all__ = ["world"]
