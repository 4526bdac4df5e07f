"""A member of team alpha cannot learn what team bravo has by trying names, slugs, hostnames or filter ids.

Cluster names are per team, so bravo's name is as free for alpha as an unused one. Slugs (in every URL) and
hostnames (each agent's queue is named after its host) stay unique across the console: the refusal for bravo's
reads exactly as the refusal for alpha's own, so it says neither which team holds it nor what it is.
"""

import pytest
from django.urls import reverse

from clusters.actions import transfer_cluster
from clusters.models import Cluster, Host
from clusters.models.clusters import SLUG_TAKEN
from clusters.models.hosts import HOSTNAME_TAKEN

pytestmark = pytest.mark.django_db


def new_cluster(world, **fields):
    body = {"team": "alpha", "name": "fresh", "slug": "fresh", **fields}
    return world.client("owner").post("/api/clusters/", body, format="json")


def test_another_teams_cluster_name_is_free_like_an_unused_one(world):
    theirs = new_cluster(world, name=world.bravo.cluster.name, slug="one")
    unused = new_cluster(world, name="nobody has this", slug="two")
    assert theirs.status_code == unused.status_code == 201
    assert Cluster.objects.filter(name=world.bravo.cluster.name).count() == 2


def test_a_cluster_name_is_unique_within_its_team(world):
    response = new_cluster(world, name=world.alpha.cluster.name)
    assert response.status_code == 400
    assert response.json() == {"name": ["This team already has a cluster with this name; choose another."]}
    renamed = world.client("owner").patch(
        f"/api/clusters/{world.alpha.cluster.slug}/", {"name": "alpha web"}, format="json"
    )
    assert renamed.status_code == 200  # its own name again is no conflict


def test_a_slug_taken_by_another_team_is_refused_exactly_as_ones_own(world):
    theirs = new_cluster(world, slug=world.bravo.cluster.slug)
    own = new_cluster(world, slug=world.alpha.cluster.slug)
    assert theirs.status_code == own.status_code == 400
    assert theirs.json() == own.json() == {"slug": [SLUG_TAKEN]}
    moved = world.client("owner").patch(f"/api/clusters/{world.alpha.cluster.slug}/", {"slug": "bravo-web"})
    assert moved.json() == {"slug": [SLUG_TAKEN]}


def test_the_console_form_refuses_a_taken_slug_the_same_way(world):
    client = world.client("owner")
    url = reverse("cluster-create")
    pages = [
        client.post(url, {"team": world.alpha.team.pk, "name": "fresh", "slug": slug, "drain_timeout": 300})
        for slug in (world.bravo.cluster.slug, world.alpha.cluster.slug)
    ]
    assert pages[0].status_code == pages[1].status_code == 400
    for page in pages:
        assert SLUG_TAKEN in page.content.decode()
    assert not Cluster.objects.filter(name="fresh").exists()


def new_host(world, hostname):
    body = {"team": "alpha", "hostname": hostname, "management_address": "192.0.2.99"}
    return world.client("owner").post("/api/hosts/", body, format="json")


def test_a_hostname_of_another_team_is_refused_exactly_as_ones_own(world):
    theirs = new_host(world, world.bravo.spare_host.hostname)
    own = new_host(world, world.alpha.spare_host.hostname)
    assert theirs.status_code == own.status_code == 400
    assert theirs.json() == own.json() == {"hostname": [HOSTNAME_TAKEN]}
    renamed = world.client("owner").patch(
        f"/api/hosts/{world.alpha.spare_host.pk}/", {"hostname": world.bravo.host.hostname}, format="json"
    )
    assert renamed.json() == {"hostname": [HOSTNAME_TAKEN]}


def test_the_console_host_form_refuses_a_taken_hostname_the_same_way(world):
    client = world.client("owner")
    bodies = [
        {
            "team": world.alpha.team.pk,
            "hostname": hostname,
            "management_address": "192.0.2.99",
            "vip_interface": "lo",
            "uplinks": "eth0",
        }
        for hostname in (world.bravo.spare_host.hostname, world.alpha.spare_host.hostname)
    ]
    pages = [client.post(reverse("host-create"), body) for body in bodies]
    assert pages[0].status_code == pages[1].status_code
    for page in pages:
        assert HOSTNAME_TAKEN.replace("'", "&#x27;") in page.content.decode()
    assert Host.objects.filter(team=world.alpha.team).count() == 2


@pytest.mark.parametrize(
    ("url", "name", "of"),
    [
        ("/api/real-servers/", "virtual_service", "service"),
        ("/api/health-checks/", "virtual_service", "service"),
        ("/api/health-checks/", "real_server", "real_server"),
        ("/api/real-server-health/", "real_server", "real_server"),
        ("/api/health-transitions/", "real_server", "real_server"),
    ],
)
def test_filtering_by_another_teams_object_answers_as_for_an_unknown_one(world, url, name, of):
    client = world.client("owner")
    theirs = client.get(url, {name: getattr(world.bravo, of).pk})
    unknown = client.get(url, {name: 999_999})
    assert theirs.status_code == unknown.status_code == 400
    assert theirs.json() == unknown.json()
    mine = client.get(url, {name: getattr(world.alpha, of).pk})
    assert mine.status_code == 200


def test_a_transfer_into_a_team_with_the_same_cluster_name_is_refused_by_name(world):
    owner = world.users["owner"]
    clash = Cluster.objects.create(team=world.alpha_two, name=world.alpha.cluster.name, slug="clash")
    with pytest.raises(Exception) as caught:
        transfer_cluster(acting_user=owner, cluster=world.alpha.cluster, team=world.alpha_two)
    assert caught.value.message_dict == {
        "team": [f"Team “Alpha two” already has a cluster named “{clash.name}”; rename one of them first."]
    }
