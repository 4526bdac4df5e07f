"""Sign-in pages."""

import pytest

from tests.factories import make_user

pytestmark = pytest.mark.django_db


def test_the_login_page_renders_the_form(client):
    response = client.get("/accounts/login/")
    assert response.status_code == 200
    html = response.content.decode()
    assert 'name="username"' in html
    assert 'name="password"' in html
    assert "csrfmiddlewaretoken" in html


def test_signing_in_leads_to_the_dashboard(client):
    make_user(username="ops", password="correct horse battery")
    response = client.post("/accounts/login/", {"username": "ops", "password": "correct horse battery"})
    assert response.status_code == 302
    assert response["Location"] == "/"
    assert client.get("/").status_code == 200


def test_a_wrong_password_shows_the_form_again_with_an_error(client):
    make_user(username="ops", password="correct horse battery")
    response = client.post("/accounts/login/", {"username": "ops", "password": "wrong"})
    assert response.status_code == 200
    assert "enter a correct username and password" in response.content.decode()
