"""The same VIP:port in two clusters is accepted, and said: on the form, the cluster page and in the API."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from clusters.overlaps import endpoint_overlaps
from tests.factories import make_cluster, make_team, make_virtual_service

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client, team_owner):
    client.force_login(team_owner)
    return client


@pytest.fixture
def two_clusters():
    site_a = make_cluster(name="site a", slug="site-a")
    site_b = make_cluster(name="site b", slug="site-b")
    make_virtual_service(cluster=site_b, address="198.51.100.10", port=443)
    return site_a, site_b


def test_form_warns_when_another_cluster_has_the_same_vip_and_port(staff_client, two_clusters):
    site_a, _ = two_clusters
    response = staff_client.post(
        f"/clusters/{site_a.slug}/services/new/",
        {
            "protocol": "tcp",
            "address": "198.51.100.10",
            "port": "443",
            "scheduler": "wlc",
            "forward_method": "tun",
            "address_family": "ipv4",
            "persistence_timeout": "0",
            "enabled": "on",
        },
        follow=True,
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert "TCP 198.51.100.10:443 is also a virtual service of cluster “site b”" in body
    assert site_a.virtual_services.filter(address="198.51.100.10", port=443).exists()  # accepted, not refused
    page = staff_client.get(f"/clusters/{site_a.slug}/").content.decode()
    assert "data-overlap>TCP 198.51.100.10:443 is also a virtual service of cluster “site b”" in page


def test_no_warning_for_another_port_or_protocol(staff_client, two_clusters):
    site_a, _ = two_clusters
    response = staff_client.post(
        f"/clusters/{site_a.slug}/services/new/",
        {
            "protocol": "udp",
            "address": "198.51.100.10",
            "port": "443",
            "scheduler": "wlc",
            "forward_method": "tun",
            "address_family": "ipv4",
            "persistence_timeout": "0",
            "enabled": "on",
        },
        follow=True,
    )
    assert "is also a virtual service of" not in response.content.decode()


def test_api_answers_carry_the_warning(api, two_clusters):
    site_a, _ = two_clusters
    response = api.post(
        "/api/virtual-services/",
        {"cluster": site_a.slug, "protocol": "tcp", "address": "198.51.100.10", "port": 443, "scheduler": "wlc"},
        format="json",
    )
    assert response.status_code == 201, response.content
    assert response.json()["warnings"] == [
        "TCP 198.51.100.10:443 is also a virtual service of cluster “site b”. Fine while the two clusters have "
        "separate directors (say, one per site); if they ever share a director, both would set it up there and "
        "that director's agent would refuse its document."
    ]
    listed = api.get("/api/virtual-services/", {"cluster": site_a.slug}).json()["results"]
    assert [len(service["warnings"]) for service in listed] == [1]


def test_another_teams_cluster_is_not_named(team_owner, two_clusters):
    _, site_b = two_clusters
    hidden = make_cluster(name="secret", slug="secret", team=make_team())
    hidden_service = make_virtual_service(cluster=hidden, address="198.51.100.10", port=443)
    warnings = endpoint_overlaps([site_b.virtual_services.get()], team_owner)
    texts = warnings[site_b.virtual_services.get().pk]
    assert any("a cluster of another team" in text for text in texts)
    assert not any("secret" in text for text in texts)
    assert hidden_service.pk not in warnings


def test_a_page_of_services_costs_a_fixed_number_of_queries(team_owner):
    cluster = make_cluster()
    other = make_cluster()
    services = [make_virtual_service(cluster=cluster, port=80) for _ in range(20)]
    for service in services:
        make_virtual_service(cluster=other, address=service.address, port=80)
    with CaptureQueriesContext(connection) as queries:
        warnings = endpoint_overlaps(services, team_owner)
    assert len(warnings) == 20
    assert len(queries) == 3
    lone = make_virtual_service(cluster=other, port=81)
    with CaptureQueriesContext(connection) as queries:
        assert endpoint_overlaps([lone], team_owner) == {}
    assert len(queries) == 1  # the usual case, no other cluster has it: one query
