"""Drain now, enable now, disable now: one real server's change, as a revision of its own, on the directors' real
queues only; refused while an apply runs, before the first apply, and when no director can take it."""

from queue import Empty

import pytest
from django.conf import settings
from kombu import Connection
from lvsweb_agent.envelope import load_public_key, open_envelope
from rest_framework.test import APIClient

from audit.models import AuditEntry
from clusters import actions as inventory
from clusters.models import RealServer
from dispatch import actions
from dispatch.models import Deployment, Revision
from dispatch.signing import control_public_key_text
from dispatch.unapplied import unapplied_of
from teams.choices import TeamRole
from tests.dispatch.broker import take_commands
from tests.factories import make_member, make_real_server, make_user

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def api():
    client = APIClient()
    client.force_authenticate(make_user(staff=True, is_superuser=True))
    return client


@pytest.fixture
def applied(lab):
    """Revision 1 sent to every host and applied there; the queues emptied."""
    actions.apply_cluster(acting_user=None, cluster=lab.cluster)
    for queue in ("lvsweb.host.director", "lvsweb.host.rs1", "lvsweb.host.rs2"):
        take_commands(queue)
    Deployment.objects.update(status="applied")
    return lab


def queue_is_empty(queue: str) -> bool:
    with Connection(settings.CELERY_BROKER_URL) as connection:
        simple = connection.SimpleQueue(queue)
        try:
            simple.get(block=True, timeout=0.5)
        except Empty:
            return True
        finally:
            simple.close()
    return False


def director_weights(payload) -> dict[str, int]:
    [service] = payload["document"]["director"]["services"]
    return {rs["address"]: rs["weight"] for rs in service["real_servers"]}


def test_drain_now_sends_only_that_change_to_the_director_and_leaves_the_rest_unapplied(applied, api):
    lab = applied
    inventory.update_real_server(acting_user=None, real_server=lab.real_server2, changes={"weight": 7})

    response = api.post(f"/api/real-servers/{lab.real_server1.pk}/now/", {"state": "draining"}, format="json")

    assert response.status_code == 202, response.content
    assert response.json()["number"] == 2
    assert [d["host"] for d in response.json()["deployments"]] == ["director"]
    [envelope] = take_commands("lvsweb.host.director")
    payload = open_envelope(envelope, load_public_key(control_public_key_text()))
    assert payload["cluster_revision"] == 2 and payload["serial"] == 2
    assert director_weights(payload) == {"10.20.0.11": 0, "10.20.0.12": 1}  # the weight 7 waits for an apply
    assert queue_is_empty("lvsweb.host.rs1") and queue_is_empty("lvsweb.host.rs2")
    assert RealServer.objects.get(pk=lab.real_server1.pk).state == "draining"
    revision = Revision.objects.get(cluster=lab.cluster, number=2)
    [service] = revision.inventory["virtual_services"]
    assert [(rs["state"], rs["weight"]) for rs in service["real_servers"]] == [("draining", 1), ("active", 1)]
    [change] = unapplied_of([lab.cluster])[lab.cluster.pk].changes
    assert change["label"] == "TCP 10.10.0.100:80 → 10.20.0.12:80" and change["fields"] == {"weight": [1, 7]}
    entry = AuditEntry.objects.get(action="real_server.drain_now")
    assert entry.message.startswith("Drained 10.20.0.11:80 of TCP 10.10.0.100:80 now: revision 2")
    assert "sent to director (1 of 1 hosts)" in entry.message
    assert AuditEntry.objects.filter(action="real_server.drain").count() == 1  # the inventory change, as a click


def test_enable_now_undoes_a_drain_now(applied, api):
    lab = applied
    actions.apply_real_server_now(acting_user=None, real_server=lab.real_server1, state="draining")
    take_commands("lvsweb.host.director")
    Deployment.objects.update(status="applied")
    response = api.post(f"/api/real-servers/{lab.real_server1.pk}/now/", {"state": "active"}, format="json")
    assert response.status_code == 202, response.content
    [envelope] = take_commands("lvsweb.host.director")
    assert director_weights(open_envelope(envelope, load_public_key(control_public_key_text()))) == {
        "10.20.0.11": 1,
        "10.20.0.12": 1,
    }
    assert AuditEntry.objects.filter(action="real_server.enable_now").exists()
    assert unapplied_of([lab.cluster])[lab.cluster.pk].count == 0


def test_disable_now_also_tells_the_real_server_s_own_host_to_drop_the_vip(applied, api):
    lab = applied
    response = api.post(f"/api/real-servers/{lab.real_server1.pk}/now/", {"state": "disabled"}, format="json")
    assert response.status_code == 202, response.content
    assert sorted(d["host"] for d in response.json()["deployments"]) == ["director", "rs1"]
    [envelope] = take_commands("lvsweb.host.director")
    assert director_weights(open_envelope(envelope, load_public_key(control_public_key_text()))) == {"10.20.0.12": 1}
    [envelope] = take_commands("lvsweb.host.rs1")
    assert open_envelope(envelope, load_public_key(control_public_key_text()))["document"]["real_server"]["tun"] is None
    assert queue_is_empty("lvsweb.host.rs2")


def test_now_waits_for_an_apply_under_way(lab, api):
    actions.apply_cluster(acting_user=None, cluster=lab.cluster)  # still pending on every host
    response = api.post(f"/api/real-servers/{lab.real_server1.pk}/now/", {"state": "draining"}, format="json")
    assert response.status_code == 400
    [message] = response.json()["non_field_errors"]
    assert message.startswith("Revision 1 is still being applied on director, rs1, rs2; drain 10.20.0.11:80 now when")
    assert Revision.objects.count() == 1
    assert RealServer.objects.get(pk=lab.real_server1.pk).state == "active"
    assert not AuditEntry.objects.filter(action__startswith="real_server.drain").exists()


def test_now_before_the_first_apply_says_to_apply_first(lab, api):
    response = api.post(f"/api/real-servers/{lab.real_server1.pk}/now/", {"state": "draining"}, format="json")
    assert response.status_code == 400
    [message] = response.json()["non_field_errors"]
    assert "web was never applied, so 10.20.0.11:80 of TCP 10.10.0.100:80 is not in the kernel yet" in message
    assert "apply the cluster first" in message
    assert not Revision.objects.exists() and RealServer.objects.get(pk=lab.real_server1.pk).state == "active"


def test_now_refuses_a_real_server_added_since_the_last_apply(applied, api):
    added = make_real_server(virtual_service=applied.service, address="10.20.0.13")
    response = api.post(f"/api/real-servers/{added.pk}/now/", {"state": "draining"}, format="json")
    assert response.status_code == 400
    [message] = response.json()["non_field_errors"]
    assert message.startswith("10.20.0.13:80 of TCP 10.10.0.100:80 is not in revision 1, the last one sent")
    assert Revision.objects.count() == 1


def test_now_refuses_when_no_director_can_receive_it(applied, api):
    applied.director.public_key = ""
    applied.director.save()
    response = api.post(f"/api/real-servers/{applied.real_server1.pk}/now/", {"state": "draining"}, format="json")
    assert response.status_code == 400
    [message] = response.json()["non_field_errors"]
    assert message.startswith("No director of revision 1 can receive a command (director: never enrolled")
    assert Revision.objects.count() == 1 and RealServer.objects.get(pk=applied.real_server1.pk).state == "active"


def test_now_refuses_what_the_last_revision_already_has(applied, api):
    response = api.post(f"/api/real-servers/{applied.real_server1.pk}/now/", {"state": "active"}, format="json")
    assert response.status_code == 400
    assert "is already active in revision 1" in response.json()["non_field_errors"][0]


def test_a_viewer_may_not_drain_now(applied):
    viewer = make_user(staff=False)
    make_member(viewer, role=TeamRole.VIEWER)
    client = APIClient()
    client.force_authenticate(viewer)
    response = client.post(f"/api/real-servers/{applied.real_server1.pk}/now/", {"state": "draining"}, format="json")
    assert response.status_code == 403
    assert Revision.objects.count() == 1
