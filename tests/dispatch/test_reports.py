"""Agent reports: accepted only from the host they name, signed with its own key; silence has consequences."""

import time
from datetime import timedelta

import pytest
from django.utils import timezone
from lvsweb_agent.envelope import generate_private_key

from audit.models import AuditEntry
from dispatch import actions
from dispatch.models import Deployment
from tests.reports import sealed_report

pytestmark = pytest.mark.django_db(transaction=True)


def report(lab, host, key=None, **payload):
    payload = {"host": host, "sent_at": time.time(), **payload}
    return actions.handle_report(sealed_report(payload, key or lab.keys[host], host))


def test_deployment_moves_applying_then_applied(lab):
    revision = actions.apply_cluster(acting_user=None, cluster=lab.cluster)
    deployment = revision.deployments.get(host=lab.director)
    assert report(lab, "director", kind="deployment", deployment=deployment.pk, status="applying") == "applying"
    ops = [{"op": "add-service", "target": "tcp 10.10.0.100:80", "reason": "not in the kernel", "done": True}]
    assert (
        report(lab, "director", kind="deployment", deployment=deployment.pk, status="applied", operations=ops, serial=1)
        == "applied"
    )
    deployment.refresh_from_db()
    assert (deployment.status, deployment.operations) == ("applied", ops)
    assert deployment.started_at <= deployment.finished_at
    lab.director.refresh_from_db()
    assert lab.director.applied_serial == 1
    assert AuditEntry.objects.filter(action="deployment.applied", actor_name="director").exists()


def test_a_kernel_failure_is_kept_in_operator_words(lab):
    deployment = actions.apply_cluster(acting_user=None, cluster=lab.cluster).deployments.get(host=lab.director)
    error = "the kernel refused real server 10.20.0.11:80: no route to it in this namespace (EINVAL)"
    report(lab, "director", kind="deployment", deployment=deployment.pk, status="failed", error=error)
    deployment.refresh_from_db()
    assert (deployment.status, deployment.error) == ("failed", error)


def test_a_report_signed_with_another_key_is_rejected_and_audited(lab):
    deployment = actions.apply_cluster(acting_user=None, cluster=lab.cluster).deployments.get(host=lab.director)
    outcome = report(
        lab, "director", key=generate_private_key(), kind="deployment", deployment=deployment.pk, status="applied"
    )
    assert outcome == "rejected"
    deployment.refresh_from_db()
    assert deployment.status == "pending"
    entry = AuditEntry.objects.get(action="agent.report_rejected")
    assert entry.result == "refused" and "bad signature" in entry.message


def test_a_host_cannot_report_for_another(lab):
    deployment = actions.apply_cluster(acting_user=None, cluster=lab.cluster).deployments.get(host=lab.director)
    # rs1 signs correctly with its own key, but names the director's deployment
    assert report(lab, "rs1", kind="deployment", deployment=deployment.pk, status="applied") == "rejected"
    # rs1 signs with its own key but claims to be the director in the payload
    envelope = sealed_report({"host": "director", "kind": "heartbeat", "facts": {}}, lab.keys["rs1"], "rs1")
    assert actions.handle_report(envelope) == "rejected"
    assert Deployment.objects.get(pk=deployment.pk).status == "pending"
    assert AuditEntry.objects.filter(action="agent.report_rejected").count() == 2


def test_a_revoked_host_is_not_heard(lab):
    actions.revoke_host(acting_user=None, host=lab.rs1)
    assert report(lab, "rs1", kind="heartbeat", facts={}) == "rejected"
    assert "the host is revoked" in AuditEntry.objects.get(action="agent.report_rejected").message


def test_heartbeats_bring_a_host_online_and_report_drift(lab):
    assert (
        report(lab, "director", kind="heartbeat", facts={"kernel": "6.1.0-40-amd64", "applied_serial": 3, "drift": []})
        == "heartbeat"
    )
    lab.director.refresh_from_db()
    assert (lab.director.agent_status, lab.director.kernel_version, lab.director.applied_serial) == (
        "online",
        "6.1.0-40-amd64",
        3,
    )
    drift = [{"op": "add-service", "target": "tcp 10.10.0.100:80", "reason": "not in the kernel"}]
    report(lab, "director", kind="heartbeat", facts={"drift": drift})
    lab.director.refresh_from_db()
    assert lab.director.drift == drift
    assert AuditEntry.objects.filter(action="host.sync_state").order_by("id").last().changes == {
        "state": ["in_sync", "drifted"]
    }


def test_an_agent_refusal_fails_the_deployment(lab):
    deployment = actions.apply_cluster(acting_user=None, cluster=lab.cluster).deployments.get(host=lab.rs2)
    report(lab, "rs2", kind="refusal", deployment=deployment.pk, error="stale serial 1: serial 2 is applied")
    deployment.refresh_from_db()
    assert deployment.status == "failed"
    assert deployment.error == "refused by the agent: stale serial 1: serial 2 is applied"
    assert AuditEntry.objects.get(action="agent.command_refused").result == "refused"


def test_unanswered_commands_expire_as_agent_offline(lab):
    revision = actions.apply_cluster(acting_user=None, cluster=lab.cluster)
    assert actions.expire_deployments() == 0
    assert actions.expire_deployments(now=timezone.now() + timedelta(seconds=121)) == 3
    deployment = revision.deployments.get(host=lab.rs1)
    assert deployment.status == "failed"
    assert deployment.error.startswith(
        "agent offline: the command expired unanswered after 120 s (last heartbeat: never)"
    )
    # the next apply is no longer blocked
    assert actions.apply_cluster(acting_user=None, cluster=lab.cluster).number == 2


def test_three_missed_heartbeats_make_a_host_offline(lab):
    report(lab, "rs1", kind="heartbeat", facts={})
    assert actions.mark_offline_hosts(now=timezone.now() + timedelta(seconds=25)) == 0
    assert actions.mark_offline_hosts(now=timezone.now() + timedelta(seconds=31)) == 1
    lab.rs1.refresh_from_db()
    assert lab.rs1.agent_status == "offline"


def test_a_heartbeat_that_cannot_read_the_kernel_is_unknown_not_in_sync(lab):
    from clusters.models import sync_state

    report(
        lab, "director", kind="heartbeat", facts={"drift": None, "drift_error": "cannot compute the drift: no ip_vs"}
    )
    lab.director.refresh_from_db()
    assert sync_state(lab.director) == "unknown"
    entry = AuditEntry.objects.filter(action="host.sync_state").order_by("id").last()
    assert entry.changes == {"state": ["offline", "unknown"]}
    assert entry.message == "cannot compute the drift: no ip_vs"


def test_a_refusal_of_an_unreadable_command_is_recorded_as_such(lab):
    assert report(lab, "rs1", kind="refusal", deployment=None, error="bad signature") == "refused"
    entry = AuditEntry.objects.get(action="agent.command_refused")
    assert (entry.actor_name, entry.message) == ("rs1", "refused by the agent: bad signature")
    assert not AuditEntry.objects.filter(action="agent.report_rejected").exists()


def test_a_plan_the_agent_could_not_make_fails_with_its_reason(lab):
    [deployment] = [d for d in actions.plan_cluster(acting_user=None, cluster=lab.cluster) if d.host == lab.director]
    report(lab, "director", kind="plan", deployment=deployment.pk, error="cannot read IPVS: Protocol not available")
    deployment.refresh_from_db()
    assert (deployment.status, deployment.error) == ("failed", "cannot read IPVS: Protocol not available")
