"""Entries written while handling a request carry its source address, user agent and request id."""

import pytest
from rest_framework.test import APIClient

from audit.models import AuditEntry
from tests.factories import default_team

pytestmark = pytest.mark.django_db


def test_api_change_records_address_agent_and_request_id(operator):
    client = APIClient(REMOTE_ADDR="192.0.2.44", HTTP_USER_AGENT="curl/8.5")
    client.force_authenticate(operator)
    response = client.post(
        "/api/clusters/",
        {"team": default_team().slug, "name": "web", "slug": "web"},
        format="json",
        HTTP_X_REQUEST_ID="req-1234",
    )
    assert response.status_code == 201, response.content
    assert response["X-Request-ID"] == "req-1234"
    entry = AuditEntry.objects.get(action="cluster.create")
    assert (entry.source_address, entry.user_agent, entry.request_id) == ("192.0.2.44", "curl/8.5", "req-1234")
    assert entry.actor_name == "olga"


def test_a_request_without_an_id_gets_one(operator, client):
    client.force_login(operator)
    response = client.get("/")
    assert len(response["X-Request-ID"]) == 32


def test_login_logout_and_failure_are_recorded(operator, client):
    client.post("/accounts/login/", {"username": "olga", "password": "wrong"}, REMOTE_ADDR="192.0.2.7")
    client.post(
        "/accounts/login/", {"username": "olga", "password": "a long enough passphrase"}, REMOTE_ADDR="192.0.2.7"
    )
    client.post("/accounts/logout/", REMOTE_ADDR="192.0.2.7")
    failed, login, logout = AuditEntry.objects.order_by("id")
    assert (failed.action, failed.result, failed.actor_type, failed.object_repr) == (
        "auth.login_failed",
        "failure",
        "anonymous",
        "olga",
    )
    assert "wrong" not in str(failed.changes) + failed.message
    assert (login.action, login.actor_name, login.source_address) == ("auth.login", "olga", "192.0.2.7")
    assert (logout.action, logout.actor_name) == ("auth.logout", "olga")
