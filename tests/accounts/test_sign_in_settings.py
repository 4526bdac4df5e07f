"""Production sign-in settings: secure cookies and HSTS behind TLS, sessions that end, CSRF on forms."""

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

ROOT = Path(__file__).resolve().parents[2]


def production_settings(**env) -> dict:
    """Import the settings in a fresh interpreter with `env`, as a deployment would."""
    code = (
        "import json, lvsweb.settings as s; print(json.dumps({k: getattr(s, k, None) for k in ["
        "'SESSION_COOKIE_SECURE', 'CSRF_COOKIE_SECURE', 'SECURE_HSTS_SECONDS', 'SECURE_SSL_REDIRECT', "
        "'SESSION_COOKIE_HTTPONLY', 'SESSION_EXPIRE_AT_BROWSER_CLOSE', 'SESSION_COOKIE_AGE', 'AXES_FAILURE_LIMIT']}))"
    )
    environment = {**os.environ, "SECRET_KEY": "x" * 60, **env}
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=environment, capture_output=True, check=True)
    return json.loads(result.stdout.decode().strip().splitlines()[-1])


def test_behind_tls_cookies_are_secure_and_hsts_is_on():
    values = production_settings(LVSWEB_TLS="1")
    assert values["SESSION_COOKIE_SECURE"] and values["CSRF_COOKIE_SECURE"] and values["SECURE_SSL_REDIRECT"]
    assert values["SECURE_HSTS_SECONDS"] == 31536000


def test_sessions_end_and_the_lockout_limit_is_configurable():
    values = production_settings(SESSION_COOKIE_AGE="3600", LVSWEB_LOCKOUT_FAILURES="3")
    assert values["SESSION_COOKIE_HTTPONLY"] and values["SESSION_EXPIRE_AT_BROWSER_CLOSE"]
    assert values["SESSION_COOKIE_AGE"] == 3600 and values["AXES_FAILURE_LIMIT"] == 3


def test_the_deploy_check_passes_behind_tls():
    env = {
        **os.environ,
        "SECRET_KEY": secrets.token_urlsafe(50),
        "LVSWEB_TLS": "1",
        "ALLOWED_HOSTS": "lvs.example.com",
        "DEBUG": "0",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
    )
    assert result.returncode == 0, result.stderr.decode()


@pytest.mark.django_db
def test_forms_refuse_a_post_without_the_csrf_token(django_user_model):
    user = django_user_model.objects.create_user(username="vera")
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    response = client.post(reverse("token-list"), {"name": "ci", "expires": "30"})
    assert response.status_code == 403
    page = client.get(reverse("token-list")).content.decode()
    assert 'name="csrfmiddlewaretoken"' in page
    assert settings.CSRF_COOKIE_HTTPONLY
