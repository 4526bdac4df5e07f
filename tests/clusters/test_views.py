"""Console pages: the dashboard and a cluster's page, for signed-in members of the cluster's team."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.factories import (
    make_cluster,
    make_cluster_host,
    make_host,
    make_real_server,
    make_user,
    make_virtual_service,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client, team_owner):
    client.force_login(team_owner)
    return client


def test_anonymous_users_are_sent_to_sign_in(client):
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/"


def test_signed_in_users_outside_the_team_see_no_clusters(client):
    make_cluster(name="web frontend", slug="web")
    client.force_login(make_user(staff=True))
    response = client.get("/")
    assert response.status_code == 200
    assert "web frontend" not in response.content.decode()
    assert "ask an owner" in response.content.decode().lower()
    assert client.get("/clusters/web/").status_code == 404


def test_the_dashboard_lists_clusters_with_what_they_hold(staff_client):
    web = make_cluster(name="web frontend", slug="web")
    make_cluster(name="mail relays", slug="mail")
    make_real_server(virtual_service=make_virtual_service(cluster=web))
    response = staff_client.get("/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "web frontend" in html
    assert "mail relays" in html
    assert 'href="/clusters/web/"' in html


def test_an_empty_dashboard_says_how_to_begin(staff_client):
    html = staff_client.get("/").content.decode()
    assert "No clusters yet" in html
    assert 'href="/accounts/tokens/"' in html  # where to make the API token the example uses


def test_the_dashboard_uses_the_same_queries_for_one_cluster_or_many(staff_client, django_assert_num_queries):
    make_real_server(virtual_service=make_virtual_service(cluster=make_cluster()))
    staff_client.get("/")  # the first request of a session may do extra work
    with django_assert_num_queries(5) as one:  # session, user, their team roles, count, page
        staff_client.get("/")
    for _ in range(6):
        cluster = make_cluster()
        make_cluster_host(cluster=cluster)
        make_real_server(virtual_service=make_virtual_service(cluster=cluster))
    with django_assert_num_queries(len(one.captured_queries)):
        response = staff_client.get("/")
    assert response.content.decode().count('href="/clusters/') == 7


def test_the_cluster_page_shows_hosts_services_and_real_servers(staff_client):
    cluster = make_cluster(name="shop", slug="shop")
    director = make_cluster_host(cluster=cluster).host
    service = make_virtual_service(cluster=cluster, address="2001:db8::443", port=443, name="shop https")
    make_real_server(virtual_service=service, address="2001:db8::11", state="draining")
    make_virtual_service(cluster=cluster, protocol="fwmark", address=None, port=None, fwmark=7)
    response = staff_client.get("/clusters/shop/")
    assert response.status_code == 200
    html = response.content.decode()
    for text in (director.hostname, "TCP [2001:db8::443]:443", "shop https", "[2001:db8::11]:443", "draining", "FWM 7"):
        assert text in html
    assert "No real servers" in html  # the firewall-mark service has none yet


def test_an_unknown_cluster_page_is_404(staff_client):
    assert staff_client.get("/clusters/nope/").status_code == 404


def test_the_cluster_page_uses_the_same_queries_for_few_or_many_services(staff_client):
    cluster = make_cluster(slug="big")
    make_cluster_host(cluster=cluster)
    make_real_server(virtual_service=make_virtual_service(cluster=cluster), host=make_host())
    staff_client.get("/clusters/big/")
    with CaptureQueriesContext(connection) as few:
        staff_client.get("/clusters/big/")
    for _ in range(5):
        make_cluster_host(cluster=cluster, role="real_server")
        service = make_virtual_service(cluster=cluster)
        make_real_server(virtual_service=service, host=make_host())
        make_real_server(virtual_service=service)
    with CaptureQueriesContext(connection) as many:
        response = staff_client.get("/clusters/big/")
    assert response.content.decode().count("<section") == 6
    assert len(many.captured_queries) == len(few.captured_queries)
