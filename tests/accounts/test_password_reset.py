"""Password reset by e-mail (printed on the console by default) and password change."""

import re

import pytest
from django.core import mail
from django.urls import reverse

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def vera(django_user_model):
    return django_user_model.objects.create_user(username="vera", email="vera@example.net", password="old pass phrase")


def test_the_console_prints_mail_by_default(settings):
    from lvsweb import settings as project_settings

    assert project_settings.EMAIL_BACKEND == "django.core.mail.backends.console.EmailBackend"


def test_a_reset_link_sets_a_new_password_once(vera, client):
    page = client.get(reverse("login")).content.decode()
    assert reverse("password_reset") in page
    response = client.post(reverse("password_reset"), {"email": "vera@example.net"})
    assert response.status_code == 302 and response["Location"] == reverse("password_reset_done")
    [message] = mail.outbox
    assert message.to == ["vera@example.net"] and message.subject == "Your lvsweb password"
    link = re.search(r"http://testserver(/accounts/password/reset/\S+/)", message.body).group(1)

    form_page = client.get(link, follow=True)
    assert "Choose a new password" in form_page.content.decode()
    set_url = form_page.redirect_chain[-1][0]
    response = client.post(set_url, {"new_password1": "short", "new_password2": "short"})
    assert response.status_code == 200 and "too short" in response.content.decode()
    response = client.post(set_url, {"new_password1": "a brand new phrase", "new_password2": "a brand new phrase"})
    assert response.status_code == 302 and response["Location"] == reverse("password_reset_complete")

    assert client.post(reverse("login"), {"username": "vera", "password": "old pass phrase"}).status_code == 200
    assert client.post(reverse("login"), {"username": "vera", "password": "a brand new phrase"}).status_code == 302
    client.logout()
    assert "This link no longer works" in client.get(link, follow=True).content.decode()


def test_an_unknown_address_gets_the_same_answer_and_no_mail(client):
    response = client.post(reverse("password_reset"), {"email": "nobody@example.net"})
    assert response.status_code == 302 and response["Location"] == reverse("password_reset_done")
    assert not mail.outbox


def test_a_signed_in_user_changes_their_password(vera, client):
    client.force_login(vera)
    url = reverse("password_change")
    response = client.post(url, {"old_password": "wrong", "new_password1": "x", "new_password2": "x"})
    assert response.status_code == 200 and "Your old password was entered incorrectly" in response.content.decode()
    form = {
        "old_password": "old pass phrase",
        "new_password1": "a brand new phrase",
        "new_password2": "a brand new phrase",
    }
    assert client.post(url, form).status_code == 302
    vera.refresh_from_db()
    assert vera.check_password("a brand new phrase")
