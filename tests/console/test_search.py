"""Global search: VIPs, real servers, hosts and clusters — of the user's teams only."""

import pytest

from teams.choices import TeamRole
from tests.factories import (
    make_cluster,
    make_host,
    make_member,
    make_real_server,
    make_team,
    make_user,
    make_virtual_service,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def member(client, team_owner):
    client.force_login(team_owner)
    return client


def test_an_empty_search_explains_what_can_be_found(member):
    html = member.get("/search/").content.decode()
    assert "Type part of an address" in html


def test_a_vip_is_found_by_part_of_its_address(member):
    make_virtual_service(cluster=make_cluster(name="shop", slug="shop"), address="198.51.100.42", port=443, name="web")
    html = member.get("/search/?q=198.51.100").content.decode()
    assert "TCP 198.51.100.42:443" in html
    assert 'href="/clusters/shop/' in html


def test_real_servers_and_hosts_are_found(member):
    host = make_host(hostname="rs7.fra.example.net", management_address="192.0.2.77")
    service = make_virtual_service(cluster=make_cluster(slug="shop"))
    make_real_server(virtual_service=service, address="203.0.113.77", host=host)
    html = member.get("/search/?q=77").content.decode()
    assert "203.0.113.77" in html
    assert "rs7.fra.example.net" in html
    assert "192.0.2.77" in html


def test_other_teams_objects_are_never_found(client):
    other = make_team(name="Other", slug="other")
    cluster = make_cluster(team=other, name="their shop", slug="their-shop")
    service = make_virtual_service(cluster=cluster, address="198.51.100.99")
    make_real_server(virtual_service=service, address="203.0.113.99")
    make_host(team=other, hostname="theirs.example.net", management_address="192.0.2.99")
    user = make_user(staff=False)
    make_member(user, role=TeamRole.VIEWER)
    client.force_login(user)
    for query in ("99", "their", "theirs.example.net"):
        html = client.get(f"/search/?q={query}").content.decode()
        assert "Nothing found" in html, query
        assert "<table" not in html  # no result list at all


def test_a_firewall_mark_is_found_by_its_number(member):
    make_virtual_service(cluster=make_cluster(slug="fw"), protocol="fwmark", address=None, port=None, fwmark=4711)
    assert "FWM 4711" in member.get("/search/?q=4711").content.decode()


def test_the_search_box_keeps_the_query(member):
    html = member.get("/search/?q=shop%20%3Cb%3E").content.decode()
    assert 'value="shop &lt;b&gt;"' in html  # escaped, kept
