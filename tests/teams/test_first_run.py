"""`make run`'s first start: the admin account owns a first team, so the README's first cluster has a home."""

import pytest
from django.core.management import call_command
from rest_framework.test import APIClient

from accounts.actions import create_api_token
from teams.models import Membership, Team

pytestmark = pytest.mark.django_db


def test_ensure_admin_makes_a_default_team_owned_by_admin(capsys):
    call_command("ensure_admin")
    assert "password:" in capsys.readouterr().out
    [membership] = Membership.objects.select_related("team", "user")
    assert (membership.team.slug, membership.user.username, membership.role) == ("default", "admin", "owner")
    call_command("ensure_admin")  # a second start changes nothing
    assert Team.objects.count() == 1 and not capsys.readouterr().out


def test_the_readme_example_creates_a_cluster_without_naming_the_team():
    call_command("ensure_admin")
    admin = Membership.objects.get().user
    _token, key = create_api_token(acting_user=None, user=admin, name="my laptop")
    api = APIClient(HTTP_AUTHORIZATION=f"Token {key}")
    response = api.post("/api/clusters/", {"name": "web frontend", "slug": "web"}, format="json")
    assert response.status_code == 201 and response.json()["team"] == "default"
