"""Revisions: compare any two, and roll the inventory back to one as a new audited change."""

import pytest
from rest_framework.test import APIClient

from audit.models import AuditEntry
from clusters import actions as inventory
from clusters.models import RealServer, VirtualService
from dispatch import actions
from dispatch.models import Deployment, Revision
from tests.factories import make_user

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def api():
    client = APIClient()
    client.force_authenticate(make_user(staff=True, is_superuser=True))
    return client


def applied(lab):
    revision = actions.apply_cluster(acting_user=None, cluster=lab.cluster)
    Deployment.objects.update(status="applied")
    return revision


@pytest.fixture
def two_revisions(lab):
    """Revision 1: the lab; revision 2: rs2 weight 5, rs1 removed, a UDP service added."""
    first = applied(lab)
    inventory.update_real_server(acting_user=None, real_server=lab.real_server2, changes={"weight": 5})
    inventory.delete_real_server(acting_user=None, real_server=lab.real_server1)
    dns = inventory.create_virtual_service(
        acting_user=None, cluster=lab.cluster, fields={"protocol": "udp", "address": "10.10.0.53", "port": 53}
    )
    inventory.create_real_server(
        acting_user=None, virtual_service=dns, fields={"address": "10.20.0.11", "host": lab.rs1}
    )
    second = applied(lab)
    return first, second


def test_the_diff_of_two_revisions_lists_each_change(two_revisions, api):
    first, second = two_revisions
    response = api.get(f"/api/revisions/{first.pk}/diff/", {"to": second.number})
    assert response.status_code == 200
    rows = {(row["change"], row["object"], row["label"]): row["fields"] for row in response.json()}
    assert rows == {
        ("changed", "real server", "TCP 10.10.0.100:80 → 10.20.0.12:80"): {"weight": [1, 5]},
        ("removed", "real server", "TCP 10.10.0.100:80 → 10.20.0.11:80"): {},
        ("added", "virtual service", "UDP 10.10.0.53:53"): {},
        ("added", "real server", "UDP 10.10.0.53:53 → 10.20.0.11:53"): {},
    }
    assert api.get(f"/api/revisions/{second.pk}/diff/").json() == []  # nothing changed since revision 2
    bad = api.get(f"/api/revisions/{first.pk}/diff/", {"to": "99"})
    assert bad.status_code == 400 and "to" in bad.json()


def test_rollback_restores_the_inventory_and_is_audited(lab, two_revisions, api):
    first, _second = two_revisions
    response = api.post(f"/api/revisions/{first.pk}/rollback/")
    assert response.status_code == 200, response.content
    assert len(response.json()) == 4
    assert list(VirtualService.objects.filter(cluster=lab.cluster).values_list("address", "port")) == [
        ("10.10.0.100", 80)
    ]
    assert sorted(RealServer.objects.values_list("address", "weight", "host__hostname")) == [
        ("10.20.0.11", 1, "rs1"),
        ("10.20.0.12", 1, "rs2"),
    ]
    entry = AuditEntry.objects.get(action="cluster.rollback")
    assert entry.changes == {"restored_revision": [None, 1]}
    assert "plan and apply to send it to the hosts" in entry.message
    # each object change is in the history too, and the rollback made no revision of its own
    assert AuditEntry.objects.filter(action="virtual_service.delete").exists()
    assert Revision.objects.count() == 2
    # applying it makes revision 3, identical to revision 1
    third = applied(lab)
    assert api.get(f"/api/revisions/{first.pk}/diff/", {"to": third.number}).json() == []


def test_revisions_and_deployments_filter_by_cluster_and_host_like_the_inventory(two_revisions, api):
    """`?cluster=<slug>` and `?host=<hostname>`, as on /api/virtual-services/ and /api/hosts/."""
    first, _ = two_revisions
    slug = first.cluster.slug
    assert [r["number"] for r in api.get("/api/revisions/", {"cluster": slug}).json()["results"]] == [2, 1]
    assert api.get("/api/revisions/", {"cluster": "no-such-cluster"}).json()["results"] == []
    deployments = api.get("/api/deployments/", {"cluster": slug}).json()["results"]
    assert len(deployments) == Deployment.objects.filter(cluster__slug=slug).count() > 0
    host = Deployment.objects.filter(cluster__slug=slug).first().host.hostname
    by_host = api.get("/api/deployments/", {"cluster": slug, "host": host}).json()["results"]
    assert len(by_host) == Deployment.objects.filter(cluster__slug=slug, host__hostname=host).count()
    assert len(by_host) < len(deployments)
    assert api.get("/api/deployments/", {"host": "no-such-host"}).json()["results"] == []
