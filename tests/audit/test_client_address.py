"""One answer to "which address is the client": the enrollment throttle, the sign-in lockout and the audit history.

X-Forwarded-For counts only behind the proxies LVSWEB_PROXY_COUNT declares; otherwise anyone could send a new
one with every request and escape the throttle and the lockout, or write any address into the history.
"""

import pytest
from django.conf import settings
from django.core.cache import cache
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from audit.models import AuditEntry
from dispatch.api.views import EnrollThrottle

pytestmark = pytest.mark.django_db

ENROLL = "/api/agent/enroll/"
LIMIT = int(EnrollThrottle.rate.split("/")[0])
PROXY = "10.9.9.9"  # the reverse proxy: every request arrives from it


@pytest.fixture(autouse=True)
def fresh_throttles():
    cache.clear()
    yield
    cache.clear()


def enroll(client: APIClient, forwarded: str):
    return client.post(ENROLL, {"token": "guess", "public_key": "x"}, format="json", HTTP_X_FORWARDED_FOR=forwarded)


def test_without_a_proxy_a_new_forwarded_address_per_request_does_not_escape_the_throttle():
    assert settings.LVSWEB_PROXY_COUNT == 0
    client = APIClient(REMOTE_ADDR="192.0.2.66")
    answers = [enroll(client, f"203.0.113.{n}").status_code for n in range(LIMIT)]
    assert answers == [400] * LIMIT  # refused tokens, but answered
    refused = enroll(client, "203.0.113.250")
    assert refused.status_code == 429
    assert "throttled" in refused.json()["detail"].lower()
    # Another machine is not affected.
    assert enroll(APIClient(REMOTE_ADDR="192.0.2.67"), "203.0.113.1").status_code == 400


def test_behind_a_proxy_each_forwarded_client_has_its_own_limit(settings):
    settings.LVSWEB_PROXY_COUNT = 1
    client = APIClient(REMOTE_ADDR=PROXY)
    for _ in range(LIMIT):
        assert enroll(client, "198.51.100.7").status_code == 400
    assert enroll(client, "198.51.100.7").status_code == 429
    # The proxy appends what it saw to whatever the client sent: the client's own part is not believed.
    assert enroll(client, "1.2.3.4, 198.51.100.7").status_code == 429
    assert enroll(client, "198.51.100.8").status_code == 400  # another client behind the same proxy


def sign_in(client: Client, password: str, forwarded: str):
    return client.post(reverse("login"), {"username": "vera", "password": password}, HTTP_X_FORWARDED_FOR=forwarded)


@pytest.fixture
def vera(django_user_model, settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    return django_user_model.objects.create_user(username="vera", password="correct horse battery")


def test_without_a_proxy_a_new_forwarded_address_does_not_escape_the_lockout(vera):
    attacker = Client(REMOTE_ADDR="192.0.2.66")
    for n in range(settings.AXES_FAILURE_LIMIT):
        sign_in(attacker, "wrong", f"203.0.113.{n}")
    assert sign_in(attacker, "correct horse battery", "203.0.113.200").status_code == 429


def test_behind_a_proxy_the_lockout_counts_the_forwarded_address(vera, settings):
    settings.LVSWEB_PROXY_COUNT = 1
    client = Client(REMOTE_ADDR=PROXY)
    for _ in range(settings.AXES_FAILURE_LIMIT):
        sign_in(client, "wrong", "198.51.100.7")
    assert sign_in(client, "correct horse battery", "198.51.100.7").status_code == 429
    assert sign_in(client, "correct horse battery", "198.51.100.8").status_code == 302  # vera at her own desk


def change_something(client: APIClient, forwarded: str) -> AuditEntry:
    client.post(reverse("login"), {"username": "vera", "password": "wrong"}, HTTP_X_FORWARDED_FOR=forwarded)
    return AuditEntry.objects.latest("id")


def test_the_audit_history_records_the_same_address(vera, settings):
    entry = change_something(APIClient(REMOTE_ADDR="192.0.2.66"), "203.0.113.9")
    assert entry.source_address == "192.0.2.66"  # no proxy: the header is ignored
    settings.LVSWEB_PROXY_COUNT = 1
    entry = change_something(APIClient(REMOTE_ADDR=PROXY), "203.0.113.9, 198.51.100.7")
    assert entry.source_address == "198.51.100.7"
    entry = change_something(APIClient(REMOTE_ADDR=PROXY), "not an address")
    assert entry.source_address == PROXY  # garbage from a misconfigured proxy: the connection's own address
