"""Sign-in lockout (django-axes, on for real): repeated failures lock a user out from that address until the
cool-off passes; even the right password is refused meanwhile; API tokens are not affected."""

from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django.core.management import call_command
from django.db.models import F
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from accounts.actions import create_api_token

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery"


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    """A fast hasher: these tests check dozens of passwords, and the lockout does not depend on the hash."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def vera(django_user_model):
    return django_user_model.objects.create_user(username="vera", password=PASSWORD)


def sign_in(client: Client, password: str, username: str = "vera"):
    return client.post(reverse("login"), {"username": username, "password": password})


def signed_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


def lock_out(client: Client):
    """Fail as many times as the limit allows; return the last answer."""
    for _ in range(settings.AXES_FAILURE_LIMIT):
        response = sign_in(client, "wrong password")
    return response


def test_failures_below_the_limit_show_the_form_error(vera, client):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        response = sign_in(client, "wrong password")
        assert response.status_code == 200
        assert "Please enter a correct username and password" in response.content.decode()
    assert sign_in(client, PASSWORD).status_code == 302
    assert signed_in(client)


def test_the_limit_locks_out_and_the_right_password_is_refused(vera, client):
    assert settings.AXES_FAILURE_LIMIT == 5
    response = lock_out(client)
    assert response.status_code == 429
    assert "Sign-in locked" in response.content.decode()
    response = sign_in(client, PASSWORD)
    assert response.status_code == 429
    text = response.content.decode()
    assert "Too many failed sign-ins for “vera”" in text and "even the right password is refused" in text
    assert "Try again in 15 minutes" in text
    assert not signed_in(client)
    assert client.get(reverse("dashboard")).status_code == 302


def test_the_lock_lifts_after_the_cool_off(vera, client):
    lock_out(client)
    assert sign_in(client, PASSWORD).status_code == 429
    # Let the cool-off pass: the failures now lie further back than AXES_COOLOFF_TIME.
    AccessAttempt.objects.update(attempt_time=F("attempt_time") - settings.AXES_COOLOFF_TIME - timedelta(seconds=1))
    response = sign_in(client, PASSWORD)
    assert response.status_code == 302 and response["Location"] == reverse("dashboard")
    assert signed_in(client)


def test_an_administrator_lifts_the_lock(vera, client):
    lock_out(client)
    call_command("axes_reset_username", "vera", verbosity=0)
    assert sign_in(client, PASSWORD).status_code == 302


def test_the_lock_is_per_user_and_address(vera, django_user_model):
    django_user_model.objects.create_user(username="otto", password=PASSWORD)
    attacker = Client(REMOTE_ADDR="192.0.2.66")
    lock_out(attacker)
    assert sign_in(attacker, PASSWORD).status_code == 429
    assert sign_in(attacker, PASSWORD, username="otto").status_code == 302  # another user from there
    colleague = Client(REMOTE_ADDR="192.0.2.7")
    assert sign_in(colleague, PASSWORD).status_code == 302  # the same user from their own desk


def test_the_admin_sign_in_is_guarded_too(django_user_model):
    django_user_model.objects.create_superuser(username="root", password=PASSWORD)
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post(reverse("admin:login"), {"username": "root", "password": "nope"})
    response = client.post(reverse("admin:login"), {"username": "root", "password": PASSWORD})
    assert response.status_code == 429
    assert client.get(reverse("admin:index")).status_code == 302


def test_api_tokens_keep_working_while_the_password_is_locked(vera, client):
    _token, key = create_api_token(acting_user=None, user=vera, name="ci")
    lock_out(client)
    response = APIClient(HTTP_AUTHORIZATION=f"Token {key}").get("/api/clusters/")
    assert response.status_code == 200


def test_a_success_resets_the_count(vera, client):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        sign_in(client, "wrong password")
    assert sign_in(client, PASSWORD).status_code == 302
    client.logout()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert sign_in(client, "wrong password").status_code == 200
    assert sign_in(client, PASSWORD).status_code == 302


def test_the_test_clients_login_works_with_the_guard_on(vera, client):
    """`Client.login()` calls authenticate() without a request; the guard lets the password check decide."""
    assert settings.AXES_ENABLED
    assert not client.login(username="vera", password="wrong password")
    assert client.login(username="vera", password=PASSWORD)
    assert client.get(reverse("dashboard")).status_code == 200
