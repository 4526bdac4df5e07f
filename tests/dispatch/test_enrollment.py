"""Enrollment: a one-time, expiring token exchanged for the agent's configuration."""

import re
from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone
from lvsweb_agent.envelope import generate_private_key, public_key_text
from rest_framework.test import APIClient

from audit.models import AuditEntry
from dispatch.models import EnrollmentToken
from dispatch.signing import control_public_key_text
from tests.factories import make_host, make_member, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_api():
    client = APIClient()
    client.force_authenticate(make_user(staff=True, is_superuser=True))
    return client


def new_token(api, host):
    response = api.post(f"/api/hosts/{host.pk}/enrollment-token/")
    assert response.status_code == 201, response.content
    return response.json()


def test_the_console_shows_the_exact_command_and_stores_only_a_hash(staff_api):
    host = make_host(hostname="rs9")
    answer = new_token(staff_api, host)
    assert answer["command"] == f"lvsweb-agent enroll --server http://testserver --token {answer['token']}"
    stored = EnrollmentToken.objects.get(host=host)
    assert answer["token"] not in stored.token_hash


def test_enrollment_returns_the_configuration_and_trusts_the_key(staff_api):
    host = make_host(hostname="rs9")
    token = new_token(staff_api, host)["token"]
    key = public_key_text(generate_private_key())
    response = APIClient().post(
        "/api/agent/enroll/", {"token": token, "public_key": key, "facts": {"kernel": "6.1.0"}}, format="json"
    )
    assert response.status_code == 200, response.content
    answer = response.json()
    assert answer == {
        "host": "rs9",
        "queue": "lvsweb.host.rs9",
        "broker_url": answer["broker_url"],
        "control_public_key": control_public_key_text(),
        "heartbeat_interval": 10,
    }
    # The broker as AGENT_BROKER_URL names it, with the host's own Redis user (tests/dispatch/test_broker_acl.py).
    user = f"{settings.BROKER_USER_PREFIX}rs9"
    assert re.fullmatch(f"redis://{re.escape(user)}:[0-9a-f]{{64}}@127.0.0.1:6379/[0-9]+", answer["broker_url"])
    assert answer["broker_url"].endswith(settings.AGENT_BROKER_URL.removeprefix("redis://"))
    host.refresh_from_db()
    assert (host.public_key, host.kernel_version) == (key, "6.1.0")
    assert AuditEntry.objects.get(action="host.enroll").actor_type == "agent"
    again = APIClient().post("/api/agent/enroll/", {"token": token, "public_key": key}, format="json")
    assert again.status_code == 400
    assert again.json() == {
        "token": ["This enrollment token is unknown, used or expired; create a new one in the console."]
    }


def test_an_expired_token_is_refused(staff_api):
    host = make_host()
    token = new_token(staff_api, host)["token"]
    EnrollmentToken.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    response = APIClient().post(
        "/api/agent/enroll/", {"token": token, "public_key": public_key_text(generate_private_key())}, format="json"
    )
    assert response.status_code == 400 and "token" in response.json()


def test_a_bad_public_key_is_named(staff_api):
    token = new_token(staff_api, make_host())["token"]
    response = APIClient().post("/api/agent/enroll/", {"token": token, "public_key": "hello"}, format="json")
    assert response.status_code == 400
    assert response.json() == {"public_key": ["The agent's public key is not a base64 Ed25519 public key (32 bytes)."]}
    assert EnrollmentToken.objects.get().used_at is None  # the token still works with a good key


def test_revoking_needs_the_operator_role_and_is_audited(staff_api):
    host = make_host(public_key=public_key_text(generate_private_key()))
    assert APIClient().post(f"/api/hosts/{host.pk}/revoke/").status_code in (401, 403)
    viewer = APIClient()
    viewer.force_authenticate(make_member(make_user(staff=True), role="viewer").user)
    refused = viewer.post(f"/api/hosts/{host.pk}/revoke/")
    assert refused.status_code == 403 and "you need the operator or owner role" in refused.json()["detail"]
    response = staff_api.post(f"/api/hosts/{host.pk}/revoke/")
    assert response.status_code == 200
    host.refresh_from_db()
    assert host.revoked_at is not None and host.public_key == "" and host.agent_status == "revoked"
    assert staff_api.post(f"/api/hosts/{host.pk}/revoke/").json() == {"host": [f"{host} is already revoked."]}
    assert AuditEntry.objects.filter(action="host.revoke").count() == 1
