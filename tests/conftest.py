"""Fixtures shared by the console's tests: users and API clients signed in the ways operators sign in."""

import pytest
from rest_framework.test import APIClient

from tests.factories import make_user


@pytest.fixture
def staff_user(db):
    """A staff user (the only kind the console lets in until the teams issue)."""
    return make_user(staff=True)


@pytest.fixture
def api(staff_user):
    """An API client with a staff user's session."""
    client = APIClient()
    client.force_login(staff_user)
    return client


@pytest.fixture
def anonymous_api():
    """An API client that has not signed in."""
    return APIClient()
