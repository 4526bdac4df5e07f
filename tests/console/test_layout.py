"""The console's layout: navigation, CSRF header for htmx, assets from npm, error pages."""

import pytest
from django.test import Client

from teams.choices import TeamRole
from tests.factories import make_member, make_team, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def member_client(team_owner):
    client = Client(enforce_csrf_checks=True)
    client.force_login(team_owner)
    return client


def test_the_navigation_lists_the_users_teams_only(client):
    user = make_user(staff=False)
    make_member(user, team=make_team(name="Storage", slug="storage"), role=TeamRole.VIEWER)
    make_team(name="Secret", slug="secret")
    client.force_login(user)
    html = client.get("/").content.decode()
    assert 'href="/teams/storage/"' in html
    assert "Secret" not in html
    for link in ('href="/clusters/"', 'href="/hosts/"', 'href="/accounts/tokens/"', 'action="/accounts/logout/"'):
        assert link in html, link
    assert 'href="/audit/"' not in html  # the global history is for superusers


def test_superusers_get_the_global_history(client):
    client.force_login(make_user(is_superuser=True))
    assert 'href="/audit/"' in client.get("/").content.decode()


def test_every_page_sends_the_csrf_token_with_htmx_requests(member_client):
    html = member_client.get("/").content.decode()
    token = member_client.cookies["csrftoken"].value
    assert token
    assert 'hx-headers=\'{"X-CSRFToken": "' in html
    assert '<script src="/static/vendor/htmx/htmx.min.js" defer></script>' in html
    assert '<script src="/static/js/console.js" defer></script>' in html


def test_an_htmx_post_with_the_pages_header_passes_csrf(member_client):
    from tests.factories import make_cluster, make_real_server, make_virtual_service

    rs = make_real_server(virtual_service=make_virtual_service(cluster=make_cluster(slug="web")))
    html = member_client.get("/clusters/web/").content.decode()
    header = html.split("hx-headers='", 1)[1].split("'", 1)[0]
    import json

    token = json.loads(header)["X-CSRFToken"]
    refused = member_client.post(f"/clusters/web/real-servers/{rs.pk}/drain/", HTTP_HX_REQUEST="true")
    assert refused.status_code == 403  # no token: CSRF protection is on
    accepted = member_client.post(
        f"/clusters/web/real-servers/{rs.pk}/drain/", HTTP_HX_REQUEST="true", HTTP_X_CSRFTOKEN=token
    )
    assert accepted.status_code == 200
    rs.refresh_from_db()
    assert rs.state == "draining"


def test_the_assets_the_layout_loads_are_found_by_staticfiles():
    """Whitenoise serves what collectstatic gathers; the browser tests load them for real."""
    from django.contrib.staticfiles import finders

    for path in ("css/lvsweb.css", "js/console.js", "vendor/htmx/htmx.min.js"):
        found = finders.find(path)
        assert found, f"{path} is not collected (npm ci not run, or STATICFILES_DIRS wrong)"
        with open(found, "rb") as asset:
            assert len(asset.read()) > 500, path


def test_the_403_page_gives_the_policys_reason(client):
    from tests.factories import make_cluster

    user = make_user(staff=False)
    make_member(user, role=TeamRole.VIEWER)
    make_cluster(slug="web")
    client.force_login(user)
    response = client.get("/clusters/web/delete/")
    assert response.status_code == 403
    html = response.content.decode()
    assert "<h1>Not allowed</h1>" in html
    assert "You are a viewer of team “Ops”; to delete cluster" in html


def test_the_404_page_says_other_teams_objects_are_hidden(member_client):
    response = member_client.get("/clusters/does-not-exist/")
    assert response.status_code == 404
    assert "Objects of other teams are not shown" in response.content.decode()


def test_pages_have_a_skip_link_and_labelled_search(member_client):
    html = member_client.get("/").content.decode()
    assert '<a class="skip-link" href="#main">' in html
    assert '<label class="visually-hidden" for="global-search">' in html
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in html
