"""Personal API tokens made on the console page: shown once, hashed at rest, never more than their user."""

import hashlib
import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.actions import create_api_token
from accounts.models import ApiToken
from teams.models import Membership
from tests.teams.team_world import World

pytestmark = pytest.mark.django_db


def token_client(key: str) -> APIClient:
    return APIClient(HTTP_AUTHORIZATION=f"Token {key}")


def create_on_page(world: World, role: str, **form) -> tuple[str, str]:
    """Create a token on the tokens page; return the key shown and the page."""
    response = world.client(role).post(reverse("token-list"), {"name": "ci", "expires": "30", **form})
    assert response.status_code == 201
    page = response.content.decode()
    key = re.search(r'<pre id="new-key">(lvs_[\w-]+)</pre>', page).group(1)
    return key, page


def test_the_key_is_shown_once_and_stored_only_as_a_hash(world):
    key, page = create_on_page(world, "operator", name="terraform on ci-01", read_only="on")
    assert "it is shown only this once" in page
    token = ApiToken.objects.get(name="terraform on ci-01")
    assert token.user == world.user("operator") and token.read_only
    assert token.key_hash == hashlib.sha256(key.encode()).hexdigest()
    stored = " ".join(str(value) for value in ApiToken.objects.filter(pk=token.pk).values().get().values())
    assert key not in stored and key[12:] not in stored
    assert 29 <= (token.expires_at - timezone.now()).days <= 30
    again = world.client("operator").get(reverse("token-list"))
    text = again.content.decode()
    assert key not in text
    assert "terraform on ci-01" in text and token.key_prefix in text and "read-only" in text
    assert again["Cache-Control"].startswith("max-age=0")


def test_the_token_form_keeps_what_was_typed(world):
    response = world.client("operator").post(reverse("token-list"), {"name": "", "expires": "forever"})
    assert response.status_code == 400
    text = response.content.decode()
    assert "This field is required" in text and "Select a valid choice" in text
    assert not ApiToken.objects.filter(user=world.user("operator"), name="").exists()


def test_a_token_acts_with_its_users_rights_and_records_its_use(world):
    key, _ = create_on_page(world, "viewer")
    api = token_client(key)
    assert api.get("/api/clusters/alpha-web/").status_code == 200
    assert api.get("/api/clusters/bravo-web/").status_code == 404
    response = api.patch("/api/clusters/alpha-web/", {"description": "x"}, format="json")
    assert response.status_code == 403  # a read-write token of a viewer still cannot write
    assert ApiToken.objects.get(name="ci").last_used_at is not None
    operator_key, _ = create_on_page(world, "operator")
    assert token_client(operator_key).patch("/api/clusters/alpha-web/", {"description": "x"}).status_code == 200


def test_a_read_only_token_cannot_write_whatever_its_user_may_do(world):
    key, _ = create_on_page(world, "owner", read_only="on")
    api = token_client(key)
    assert api.get("/api/virtual-services/").status_code == 200
    for method, url in [
        ("patch", "/api/clusters/alpha-web/"),
        ("delete", f"/api/real-servers/{world.alpha.real_server.pk}/"),
        ("post", "/api/hosts/"),
    ]:
        response = getattr(api, method)(url, {}, format="json")
        assert response.status_code == 403
        assert response.json() == {"detail": "This API token is read-only."}
    assert world.alpha.service.real_servers.count() == 1


def test_revoked_and_expired_tokens_are_refused(world):
    key, _ = create_on_page(world, "operator")
    token = ApiToken.objects.get(user=world.user("operator"), name="ci")
    client = world.client("operator")
    confirm = client.get(reverse("token-revoke", args=[token.pk]))
    assert "Revoke “ci”?" in confirm.content.decode()
    assert client.post(reverse("token-revoke", args=[token.pk])).status_code == 302
    response = token_client(key).get("/api/clusters/")
    assert response.status_code == 401
    assert response.json() == {"detail": "Invalid, expired or revoked token."}
    assert "revoked" in client.get(reverse("token-list")).content.decode()

    _token, expired = create_api_token(
        acting_user=None, user=world.user("operator"), name="old", expires_at=timezone.now() + timedelta(seconds=30)
    )
    ApiToken.objects.filter(name="old").update(expires_at=timezone.now() - timedelta(seconds=1))
    assert token_client(expired).get("/api/clusters/").status_code == 401


def test_nobody_sees_or_revokes_another_users_token(world):
    create_on_page(world, "viewer")
    token = ApiToken.objects.get(user=world.user("viewer"), name="ci")
    for role in ("operator", "superuser"):
        client = world.client(role)
        assert client.get(reverse("token-revoke", args=[token.pk])).status_code == 404
        assert client.post(reverse("token-revoke", args=[token.pk])).status_code == 404
        assert client.delete(f"/api/tokens/{token.pk}/").status_code == 404
        assert "viewer laptop" not in client.get(reverse("token-list")).content.decode()
    token.refresh_from_db()
    assert token.revoked_at is None


def test_the_api_lists_and_revokes_the_users_own_tokens(world):
    key, _ = create_on_page(world, "operator")
    api = token_client(key)
    body = api.get("/api/tokens/").json()
    assert sorted(t["name"] for t in body["results"]) == ["ci", "operator laptop"]
    assert "key_hash" not in str(body) and key not in str(body)
    token = ApiToken.objects.get(user=world.user("operator"), name="ci")
    assert api.delete(f"/api/tokens/{token.pk}/").status_code == 204
    assert api.get("/api/tokens/").status_code == 401  # it revoked itself


def test_a_token_of_a_user_who_left_the_team_sees_nothing(world):
    key, _ = create_on_page(world, "operator")
    Membership.objects.filter(user=world.user("operator")).delete()
    api = token_client(key)
    assert api.get("/api/clusters/").json()["count"] == 0
    assert api.get("/api/clusters/alpha-web/").status_code == 404
