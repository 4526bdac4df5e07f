"""Helpers of the import/export tests: the samples, and clients signed in with a role in the default team."""

from pathlib import Path

from rest_framework.test import APIClient

from tests.factories import make_member, make_user

SAMPLES = Path(__file__).parent / "samples"


def sample(name: str) -> str:
    """The text of a sample under samples/."""
    return (SAMPLES / name).read_text()


def signed_in(role: str) -> APIClient:
    """A client with the session of a new member of the default team with `role` (pages and API alike)."""
    user = make_user(staff=False)
    make_member(user, role=role)
    client = APIClient()
    client.force_login(user)
    return client
