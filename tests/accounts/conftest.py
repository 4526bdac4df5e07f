"""Fixtures of the account tests: the two-team world of tests/teams (users with every role)."""

from tests.teams.team_world import world

__all__ = ["world"]
