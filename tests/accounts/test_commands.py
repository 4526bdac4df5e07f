"""Management commands of accounts: create_api_token and ensure_admin."""

from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from accounts.models import ApiToken
from tests.factories import make_member, make_user

pytestmark = pytest.mark.django_db


def run(*args) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_create_api_token_prints_a_key_that_works():
    user = make_user(username="ops")
    make_member(user)
    key = run("create_api_token", "ops", "laptop").strip()
    assert ApiToken.objects.get(user=user).name == "laptop"
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert client.get("/api/clusters/").status_code == 200
    assert client.post("/api/clusters/", {"name": "web", "slug": "web"}, format="json").status_code == 201


def test_create_api_token_read_only():
    make_user(username="ops")
    key = run("create_api_token", "ops", "grafana", "--read-only").strip()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert client.get("/api/clusters/").status_code == 200
    assert client.post("/api/clusters/", {"name": "web", "slug": "web"}, format="json").status_code == 403


def test_create_api_token_for_an_unknown_user_says_so():
    with pytest.raises(CommandError, match="No user named “ghost”"):
        run("create_api_token", "ghost", "laptop")
    assert not ApiToken.objects.exists()


def test_ensure_admin_creates_admin_once_and_prints_the_password_once():
    first = run("ensure_admin")
    password = first.split("password:")[1].split()[0]
    admin = get_user_model().objects.get(username="admin")
    assert admin.is_superuser and admin.is_staff
    assert admin.check_password(password)
    assert run("ensure_admin") == ""
    assert get_user_model().objects.filter(is_superuser=True).count() == 1
    assert get_user_model().objects.get(username="admin").check_password(password)


def test_ensure_admin_leaves_a_demoted_admin_alone_and_says_what_to_do():
    make_user(username="admin", staff=False)
    err = StringIO()
    call_command("ensure_admin", stdout=StringIO(), stderr=err)
    assert "manage.py createsuperuser" in err.getvalue()
    assert not get_user_model().objects.filter(is_superuser=True).exists()


@pytest.mark.parametrize(("name", "says"), [("", "name: This field cannot be blank."), ("x" * 101, "name: Ensure")])
def test_create_api_token_with_a_bad_name_says_what_is_wrong(name, says):
    make_user(username="ops")
    with pytest.raises(CommandError, match=says):
        run("create_api_token", "ops", name)
    assert not ApiToken.objects.exists()


def test_ensure_admin_takes_the_password_from_a_secret_file_and_does_not_print_it(tmp_path):
    secret = tmp_path / "admin_password"
    secret.write_text("a passphrase from a secret\n")  # files written by editors end with a newline
    out = run("ensure_admin", "--password-file", str(secret))
    assert get_user_model().objects.get(username="admin").check_password("a passphrase from a secret")
    assert "a passphrase from a secret" not in out
    assert "the password in " + str(secret) in out


def test_ensure_admin_with_an_empty_password_file_option_makes_a_random_password():
    """The compose file passes --password-file "$ADMIN_PASSWORD_FILE", which is empty when no secret is set."""
    out = run("ensure_admin", "--password-file", "")
    password = out.split("password:")[1].split()[0]
    assert get_user_model().objects.get(username="admin").check_password(password)


def test_ensure_admin_refuses_a_missing_or_empty_password_file_and_creates_nobody(tmp_path):
    (tmp_path / "empty").write_text("\n")
    for path in (tmp_path / "missing", tmp_path / "empty"):
        with pytest.raises(CommandError, match=f"--password-file: {path}"):
            run("ensure_admin", "--password-file", str(path))
    assert not get_user_model().objects.exists()
