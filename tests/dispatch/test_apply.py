"""Plan, apply and reconcile: revisions, deployments, and signed commands on each host's real queue."""

import pytest
from django.core.exceptions import ValidationError
from lvsweb_agent.envelope import EnvelopeError, load_public_key, open_envelope
from rest_framework.test import APIClient

from audit.models import AuditEntry
from dispatch import actions
from dispatch.models import Deployment, Revision
from dispatch.signing import control_public_key_text
from tests.dispatch.broker import take_commands
from tests.factories import make_user

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def api():
    client = APIClient()
    client.force_authenticate(make_user(staff=True, is_superuser=True))
    return client


def test_apply_makes_revision_one_and_sends_each_host_its_signed_document(lab, api):
    response = api.post("/api/clusters/web/apply/")
    assert response.status_code == 202, response.content
    assert response.json()["number"] == 1
    revision = Revision.objects.get(cluster=lab.cluster)
    assert revision.inventory["virtual_services"][0]["address"] == "10.10.0.100"
    assert sorted(Deployment.objects.values_list("host__hostname", "status", "serial")) == [
        ("director", "pending", 1),
        ("rs1", "pending", 1),
        ("rs2", "pending", 1),
    ]
    [envelope] = take_commands("lvsweb.host.director")
    payload = open_envelope(envelope, load_public_key(control_public_key_text()))
    assert (payload["kind"], payload["host"], payload["serial"], payload["cluster"]) == ("apply", "director", 1, "web")
    assert payload["document"]["director"]["services"][0]["address"] == "10.10.0.100"
    assert payload["expires_at"] > payload["issued_at"]
    [envelope] = take_commands("lvsweb.host.rs1")
    payload = open_envelope(envelope, load_public_key(control_public_key_text()))
    assert payload["document"]["real_server"]["tun"]["vips"] == ["10.10.0.100"]
    entry = AuditEntry.objects.get(action="cluster.apply")
    assert entry.changes == {"revision": [None, 1]} and entry.message == "Revision 1 sent to 3 of 3 hosts."


def test_a_command_cannot_be_altered_on_the_way(lab):
    actions.apply_cluster(acting_user=None, cluster=lab.cluster)
    [envelope] = take_commands("lvsweb.host.director")
    envelope["payload"] = envelope["payload"][:-8] + "AAAAAAA="
    with pytest.raises(EnvelopeError, match="bad signature"):
        open_envelope(envelope, load_public_key(control_public_key_text()))


def test_a_second_apply_waits_for_the_first(lab, api):
    actions.apply_cluster(acting_user=None, cluster=lab.cluster)
    response = api.post("/api/clusters/web/apply/")
    assert response.status_code == 400
    [message] = response.json()["non_field_errors"]
    assert message.startswith(
        "Revision 1 is still being applied on director, rs1, rs2; apply again when it has finished"
    )
    assert Revision.objects.count() == 1


def test_hosts_that_cannot_take_commands_fail_at_once_with_the_reason(lab):
    lab.rs2.public_key = ""
    lab.rs2.save()
    revision = actions.apply_cluster(acting_user=None, cluster=lab.cluster)
    rs2 = revision.deployments.get(host=lab.rs2)
    assert rs2.status == "failed" and rs2.error.startswith("never enrolled: run `lvsweb-agent enroll`")
    assert take_commands("lvsweb.host.rs1")  # the others still get theirs
    actions.revoke_host(acting_user=None, host=lab.rs1)
    Deployment.objects.update(status="applied")
    revision = actions.apply_cluster(acting_user=None, cluster=lab.cluster)
    assert revision.deployments.get(host=lab.rs1).error.startswith("revoked:")


def test_serials_only_grow(lab):
    for number in (1, 2):
        revision = actions.apply_cluster(acting_user=None, cluster=lab.cluster)
        assert set(revision.deployments.values_list("serial", flat=True)) == {number}
        Deployment.objects.update(status="applied")
    lab.director.refresh_from_db()
    assert lab.director.document_serial == 2


def test_plan_sends_dry_runs_without_a_revision(lab, api):
    response = api.post("/api/clusters/web/plan/")
    assert response.status_code == 202
    assert {d["kind"] for d in response.json()} == {"plan"}
    assert Revision.objects.count() == 0
    [envelope] = take_commands("lvsweb.host.rs2")
    assert open_envelope(envelope, load_public_key(control_public_key_text()))["kind"] == "plan"


def test_a_cluster_without_hosts_cannot_be_applied(db, api):
    from tests.factories import make_cluster

    make_cluster(slug="empty")
    response = api.post("/api/clusters/empty/apply/")
    assert response.status_code == 400
    assert "no hosts yet" in response.json()["non_field_errors"][0]


def test_reconcile_sends_one_host_a_reconcile(lab, api):
    response = api.post("/api/clusters/web/reconcile/", {"host": "rs1"}, format="json")
    assert response.status_code == 202
    [envelope] = take_commands("lvsweb.host.rs1")
    payload = open_envelope(envelope, load_public_key(control_public_key_text()))
    assert payload["kind"] == "reconcile" and "document" not in payload
    with pytest.raises(ValidationError):
        actions.reconcile_host(acting_user=None, cluster=lab.cluster, host=make_user_host())


def make_user_host():
    from tests.factories import make_host

    return make_host()


def test_a_plan_flags_what_a_hosts_kernel_lacks(lab, api):
    lab.director.facts = {
        "check": {"ip_vs": "loaded", "schedulers": {"rr": "missing"}, "tunnels": {"ipip": "loadable"}}
    }
    lab.director.save()
    lab.rs1.facts = {"check": {"ip_vs": "missing", "schedulers": {}, "tunnels": {"ipip": "missing"}}}
    lab.rs1.save()
    response = api.post("/api/clusters/web/plan/")
    warnings = {d["host"]: d["warnings"] for d in response.json()}
    assert warnings == {
        "director": ["Scheduler rr: the kernel module ip_vs_rr is missing on this host."],
        "rs1": ["Tunnel type ipip: the kernel module ipip is missing on this host."],
        "rs2": [],  # no heartbeat yet: nothing known, nothing flagged
    }


def test_an_apply_that_no_host_can_receive_is_refused_naming_each_host_and_why(lab, api):
    for host in (lab.director, lab.rs1):
        host.public_key = ""
        host.save()
    actions.revoke_host(acting_user=None, host=lab.rs2)
    before = AuditEntry.objects.filter(action="cluster.apply").count()

    response = api.post("/api/clusters/web/apply/")

    assert response.status_code == 400, response.content
    [message] = response.json()["non_field_errors"]
    assert message.startswith("No host can receive this revision: director and rs1 were never enrolled (run ")
    assert "rs2 is revoked (enroll its agent again to manage it)" in message
    assert message.endswith("Nothing was applied.")
    assert not Revision.objects.exists() and not Deployment.objects.exists()
    assert AuditEntry.objects.filter(action="cluster.apply").count() == before
    with pytest.raises(ValidationError, match="No host can receive this revision"):
        actions.apply_cluster(acting_user=None, cluster=lab.cluster)


def test_an_apply_some_hosts_cannot_receive_is_recorded_as_partly_done_naming_them(lab):
    for host in (lab.rs1, lab.rs2):
        host.public_key = ""
        host.save()

    revision = actions.apply_cluster(acting_user=None, cluster=lab.cluster)

    assert take_commands("lvsweb.host.director")  # the host that can receive it still gets it
    entry = AuditEntry.objects.get(action="cluster.apply")
    assert entry.message == "Revision 1 sent to 1 of 3 hosts; rs1 and rs2 were never enrolled."
    assert (entry.result, entry.get_result_display()) == ("partial", "partly done")
    assert sorted(revision.deployments.values_list("host__hostname", "status")) == [
        ("director", "pending"),
        ("rs1", "failed"),
        ("rs2", "failed"),
    ]
    not_sent = [d.not_sent for d in revision.deployments.order_by("host__hostname")]
    assert not_sent == ["", "never enrolled", "never enrolled"]
