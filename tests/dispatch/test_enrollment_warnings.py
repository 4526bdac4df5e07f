"""Enrollment warns when the addresses it hands out cannot work from another host (issue 14, item 7)."""

import pytest
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from dispatch.enrollment_warnings import enrollment_warnings, is_loopback_host
from tests.factories import make_host, make_user

PUBLIC_BROKER = "rediss://broker.example.com:6380/0"


@pytest.mark.parametrize(
    "host",
    ["127.0.0.1", "127.1.2.3", "::1", "[::1]", "::ffff:127.0.0.1", "localhost", "LOCALHOST.", "console.localhost"],
)
def test_loopback_names_and_addresses(host):
    assert is_loopback_host(host)


@pytest.mark.parametrize("host", ["10.0.0.5", "2001:db8::1", "lvs.example.com", "localhost.example.com", "", None])
def test_other_hosts_are_not_loopback(host):
    assert not is_loopback_host(host)


def test_defaults_give_all_three_warnings():
    warnings = enrollment_warnings("http://127.0.0.1:8000", "redis://127.0.0.1:6379/0")
    assert len(warnings) == 3
    loopback, plain, broker = warnings
    assert "http://127.0.0.1:8000" in loopback and "loopback" in loopback
    assert "unencrypted" in plain and "LVSWEB_TLS=1" in plain
    assert "AGENT_BROKER_URL" in broker and "rediss://" in broker


@pytest.mark.parametrize("server", ["http://[::1]:8000", "https://localhost", "https://[::1]"])
def test_a_loopback_console_is_named(server):
    warnings = enrollment_warnings(server, PUBLIC_BROKER)
    assert any("loopback: a host elsewhere cannot reach it" in w and server in w for w in warnings)


def test_plain_http_on_a_network_name_warns_only_about_encryption():
    warnings = enrollment_warnings("http://lvs.example.com", PUBLIC_BROKER)
    assert len(warnings) == 1 and "the enrollment token travels unencrypted" in warnings[0]


def test_a_public_https_console_and_a_real_broker_give_no_warning():
    assert enrollment_warnings("https://lvs.example.com", PUBLIC_BROKER) == []
    assert enrollment_warnings("https://10.0.0.5:8443", "redis://10.0.0.6:6379/0") == []


@pytest.mark.parametrize("broker", ["redis://127.0.0.1:6379/0", "redis://:pw@localhost/1", "rediss://[::1]:6380/0"])
def test_a_loopback_broker_warns_without_showing_its_password(broker):
    warnings = enrollment_warnings("https://lvs.example.com", broker)
    assert len(warnings) == 1 and "set AGENT_BROKER_URL to the address hosts reach Redis at" in warnings[0]
    assert "pw" not in warnings[0]


@pytest.fixture
def staff(db):
    return make_user(staff=True, is_superuser=True)


def enroll_page(staff, **extra):
    client = Client()
    client.force_login(staff)
    host = make_host(hostname="rs9")
    return client.post(reverse("host-enroll", args=[host.pk]), **extra)


def token_answer(staff, **extra):
    api = APIClient()
    api.force_authenticate(staff)
    host = make_host(hostname="rs9")
    response = api.post(f"/api/hosts/{host.pk}/enrollment-token/", **extra)
    assert response.status_code == 201, response.content
    return response.json()


def test_the_page_warns_on_default_settings(staff, settings):
    settings.AGENT_BROKER_URL = "redis://127.0.0.1:6379/0"
    response = enroll_page(staff, SERVER_NAME="127.0.0.1", SERVER_PORT="8000")
    assert response.status_code == 200
    page = response.content.decode()
    assert "lvsweb-agent enroll --server http://127.0.0.1:8000 --token" in page
    assert 'id="enroll-warnings"' in page
    assert "which is this machine&#x27;s loopback: a host elsewhere cannot reach it" in page
    assert "LVSWEB_TLS=1" in page
    assert "set AGENT_BROKER_URL to the address hosts reach Redis at" in page


def test_the_page_is_quiet_for_a_public_https_console(staff, settings):
    settings.AGENT_BROKER_URL = PUBLIC_BROKER
    settings.ALLOWED_HOSTS = ["lvs.example.com"]
    response = enroll_page(staff, SERVER_NAME="lvs.example.com", SERVER_PORT="443", secure=True)
    assert response.status_code == 200
    page = response.content.decode()
    assert "lvsweb-agent enroll --server https://lvs.example.com --token" in page
    assert 'id="enroll-warnings"' not in page and "AGENT_BROKER_URL" not in page


def test_the_api_answer_warns_on_default_settings(staff, settings):
    settings.AGENT_BROKER_URL = "redis://127.0.0.1:6379/0"
    answer = token_answer(staff, SERVER_NAME="127.0.0.1", SERVER_PORT="8000")
    assert answer["command"].startswith("lvsweb-agent enroll --server http://127.0.0.1:8000 --token ")
    assert answer["warnings"] == enrollment_warnings("http://127.0.0.1:8000", "redis://127.0.0.1:6379/0")
    assert len(answer["warnings"]) == 3


def test_the_api_answer_has_no_warning_for_a_public_https_console(staff, settings):
    settings.AGENT_BROKER_URL = PUBLIC_BROKER
    settings.ALLOWED_HOSTS = ["lvs.example.com"]
    answer = token_answer(staff, SERVER_NAME="lvs.example.com", SERVER_PORT="443", secure=True)
    assert answer["command"].startswith("lvsweb-agent enroll --server https://lvs.example.com --token ")
    assert answer["warnings"] == []
