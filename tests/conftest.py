"""Fixtures shared by the console's tests: users and API clients signed in the ways operators sign in."""

import pytest
from rest_framework.test import APIClient

from tests.factories import make_member, make_user


@pytest.fixture
def team_owner(db):
    """An owner of the default team, which every factory object belongs to: may do everything there."""
    user = make_user(staff=False)
    make_member(user)
    return user


@pytest.fixture
def api(team_owner):
    """An API client with the session of an owner of the default team."""
    client = APIClient()
    client.force_login(team_owner)
    return client


@pytest.fixture
def anonymous_api():
    """An API client that has not signed in."""
    return APIClient()
