"""A member of team alpha never sees team bravo's objects: not in lists, counts, search, filters or pages."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from audit.recording import record
from clusters.models import Cluster
from tests.teams.team_world import World

pytestmark = pytest.mark.django_db

API_LISTS = ["/api/clusters/", "/api/hosts/", "/api/cluster-hosts/", "/api/virtual-services/", "/api/real-servers/"]


def bravo_details(world: World) -> list[str]:
    """Every page and API object of team bravo."""
    b = world.bravo
    return [
        reverse("cluster-detail", args=[b.cluster.slug]),
        reverse("cluster-history", args=[b.cluster.slug]),
        reverse("team-detail", args=[b.team.slug]),
        reverse("team-cluster-transfer", args=[b.team.slug, b.cluster.slug]),
        f"/api/clusters/{b.cluster.slug}/",
        f"/api/hosts/{b.host.pk}/",
        f"/api/cluster-hosts/{b.cluster_host.pk}/",
        f"/api/virtual-services/{b.service.pk}/",
        f"/api/real-servers/{b.real_server.pk}/",
        f"/api/teams/{b.team.slug}/",
        f"/api/clusters/{b.cluster.slug}/plan/",
        f"/api/clusters/{b.cluster.slug}/apply/",
        f"/api/clusters/{b.cluster.slug}/reconcile/",
        f"/api/hosts/{b.host.pk}/enrollment-token/",
        f"/api/hosts/{b.host.pk}/revoke/",
    ]


@pytest.mark.parametrize("role", ["viewer", "operator", "owner"])
def test_another_teams_objects_answer_404_for_every_method(world, role):
    client = world.client(role)
    for url in bravo_details(world):
        for method in ("get", "patch", "put", "delete", "post"):
            response = getattr(client, method)(url, {}, format="json") if method != "get" else client.get(url)
            assert response.status_code in (404, 405), f"{method} {url} as alpha {role}: {response.status_code}"
            assert b"bravo" not in response.content.lower(), f"{method} {url} leaks bravo"
    assert Cluster.objects.filter(slug="bravo-web").exists()
    assert not world.bravo.cluster.revisions.exists()
    world.bravo.host.refresh_from_db()
    assert world.bravo.host.revoked_at is None


@pytest.mark.parametrize("role", ["no_team", "viewer", "operator", "owner"])
def test_api_lists_counts_and_search_hold_only_the_users_teams(world, role):
    client = world.client(role)
    alpha_rows = {"/api/hosts/": 2}  # alpha's director and its spare host; one of everything else
    for url in API_LISTS:
        for query in ({}, {"search": "bravo"}, {"search": "example.net"}, {"cluster": "bravo-web"}):
            body = client.get(url, query).json()
            text = str(body).lower()
            assert "bravo" not in text, f"{url} {query} as {role}: {text[:300]}"
            if not query:
                expected = 0 if role == "no_team" else alpha_rows.get(url, 1)
                assert body["count"] == expected, f"{url} as {role}"
    teams = client.get("/api/teams/").json()
    expected_teams = {"no_team": [], "owner": ["alpha", "alpha-two"]}.get(role, ["alpha"])
    assert [team["slug"] for team in teams["results"]] == expected_teams


def test_hosts_of_another_team_are_visible_where_they_serve_the_users_cluster(world):
    """A bravo host that is a real server in alpha's cluster shows up for alpha — read-only."""
    from clusters.models import ClusterHost

    ClusterHost.objects.create(cluster=world.alpha.cluster, host=world.bravo.spare_host, role="real_server")
    client = world.client("operator")
    hostnames = [host["hostname"] for host in client.get("/api/hosts/").json()["results"]]
    assert world.bravo.spare_host.hostname in hostnames and world.bravo.host.hostname not in hostnames
    assert client.get(f"/api/hosts/{world.bravo.spare_host.pk}/").status_code == 200
    response = client.patch(f"/api/hosts/{world.bravo.spare_host.pk}/", {"description": "mine"}, format="json")
    assert response.status_code == 403
    assert "not a member of team “Bravo”" in response.json()["detail"]


def test_the_superuser_sees_every_team(world):
    body = world.client("superuser").get("/api/clusters/").json()
    assert sorted(c["slug"] for c in body["results"]) == ["alpha-web", "bravo-web"]


@pytest.mark.parametrize(
    ("url", "body"),
    [
        ("/api/virtual-services/", {"cluster": "bravo-web", "protocol": "tcp", "address": "198.51.100.77", "port": 80}),
        ("/api/cluster-hosts/", {"cluster": "bravo-web", "host": "spare.alpha.example.net", "role": "real_server"}),
        ("/api/cluster-hosts/", {"cluster": "alpha-web", "host": "spare.bravo.example.net", "role": "real_server"}),
        ("/api/clusters/", {"team": "bravo", "name": "sneaky", "slug": "sneaky"}),
        ("/api/hosts/", {"team": "bravo", "hostname": "sneaky.example.net", "management_address": "192.0.2.77"}),
    ],
)
def test_naming_another_teams_object_is_answered_as_if_it_did_not_exist(world, url, body):
    client = world.client("owner")
    response = client.post(url, body, format="json")
    assert response.status_code == 400
    [(field, [message])] = [(k, v) for k, v in response.json().items()]
    assert "does not exist" in message
    unknown = {k: ("nothing-here" if v == body[field] else v) for k, v in body.items()}
    assert client.post(url, unknown, format="json").json() == {field: [message.replace(body[field], "nothing-here")]}


def test_a_real_server_of_another_teams_service_cannot_be_created(world):
    response = world.client("owner").post(
        "/api/real-servers/", {"virtual_service": world.bravo.service.pk, "address": "203.0.113.77"}, format="json"
    )
    assert response.status_code == 400
    assert "does not exist" in response.json()["virtual_service"][0]
    assert world.bravo.service.real_servers.count() == 1


def test_console_pages_list_only_the_users_teams(world):
    client = world.client("viewer")
    dashboard = client.get(reverse("dashboard")).content.decode()
    assert "alpha web" in dashboard and "bravo web" not in dashboard
    teams = client.get(reverse("team-list")).content.decode()
    assert "Alpha" in teams and "Bravo" not in teams


def test_audit_history_holds_only_the_users_teams(world):
    for objects in (world.alpha, world.bravo):
        record(
            action="virtual_service.update", obj=objects.service, team_id=objects.team.pk, cluster_id=objects.cluster.pk
        )
    client = world.client("viewer")
    alpha = client.get(reverse("audit-object", args=["clusters.virtualservice", world.alpha.service.pk]))
    assert alpha.status_code == 200 and "TCP 198.51.100.10:80" in alpha.content.decode()
    bravo = client.get(reverse("audit-object", args=["clusters.virtualservice", world.bravo.service.pk]))
    assert bravo.status_code == 404


def test_a_user_without_a_team_sees_an_empty_dashboard_that_says_what_to_do(world):
    response = world.client("no_team").get(reverse("dashboard"))
    assert response.status_code == 200
    text = response.content.decode()
    assert "You are not in a team yet" in text and "Ask an owner" in text
    assert "alpha web" not in text


def test_the_dashboard_needs_the_same_queries_for_many_clusters(world):
    client = world.client("owner")
    client.get(reverse("dashboard"))
    with CaptureQueriesContext(connection) as few:
        client.get(reverse("dashboard"))
    for n in range(5):
        Cluster.objects.create(team=world.alpha.team, name=f"more {n}", slug=f"more-{n}")
    with CaptureQueriesContext(connection) as many:
        response = client.get(reverse("dashboard"))
    assert response.content.decode().count("more ") == 5
    assert len(many) == len(few)


def test_the_cluster_list_api_needs_the_same_queries_for_many_clusters(world):
    client = world.client("owner")
    client.get("/api/clusters/")
    with CaptureQueriesContext(connection) as few:
        client.get("/api/clusters/")
    for n in range(5):
        Cluster.objects.create(team=world.alpha.team, name=f"more {n}", slug=f"more-{n}")
    with CaptureQueriesContext(connection) as many:
        assert client.get("/api/clusters/").json()["count"] == 6
    assert len(many) == len(few)


def test_filtering_by_another_teams_service_answers_as_for_an_unknown_one(world):
    client = world.client("owner")
    theirs = client.get("/api/real-servers/", {"virtual_service": world.bravo.service.pk})
    unknown = client.get("/api/real-servers/", {"virtual_service": 999999})
    assert theirs.status_code == unknown.status_code == 400
    assert theirs.json() == unknown.json()
    mine = client.get("/api/real-servers/", {"virtual_service": world.alpha.service.pk}).json()
    assert [rs["address"] for rs in mine["results"]] == [world.alpha.real_server.address]
