"""Health reports: signed by the director's agent, stored per real server, transitions audited and pushed live."""

import time

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator

from audit.models import AuditEntry
from clusters.models import HealthTransition, RealServerHealth
from dispatch import actions
from dispatch.routing import websocket_urlpatterns
from tests.factories import make_member, make_user
from tests.reports import sealed_report

pytestmark = pytest.mark.django_db(transaction=True)
SERVICE = "tcp 10.10.0.100:80"


def result(address, status, message="HTTP GET / on it: status 200", latency=1.5):
    return {
        "service": SERVICE,
        "address": address,
        "port": 80,
        "status": status,
        "message": message,
        "latency_ms": latency,
        "checked_at": time.time(),
        "check": "http",
    }


def transition(address, before, after, message="TCP connect: Connection refused"):
    return {
        "service": SERVICE,
        "address": address,
        "port": 80,
        "from": before,
        "to": after,
        "at": time.time(),
        "message": message,
        "latency_ms": None,
    }


def health(lab, host="director", key=None, results=(), transitions=(), quorum_lost=()):
    payload = {
        "kind": "health",
        "host": host,
        "sent_at": time.time(),
        "results": list(results),
        "transitions": list(transitions),
        "quorum_lost": list(quorum_lost),
    }
    return actions.handle_report(sealed_report(payload, key or lab.keys[host], host))


def test_results_are_stored_per_real_server(lab):
    assert (
        health(lab, results=[result("10.20.0.11", "up"), result("10.20.0.12", "unknown")]) == "health (0 transitions)"
    )
    rows = {row.real_server.address: row for row in RealServerHealth.objects.select_related("real_server")}
    assert (rows["10.20.0.11"].status, rows["10.20.0.11"].latency_ms) == ("up", 1.5)
    assert rows["10.20.0.11"].message == "HTTP GET / on it: status 200"
    assert (rows["10.20.0.12"].status, rows["10.20.0.12"].reported_by) == ("unknown", "director")
    health(lab, results=[result("10.20.0.11", "down", "status 503, expected 200-399", 2.0)])
    assert RealServerHealth.objects.get(real_server=lab.real_server1).status == "down"
    assert RealServerHealth.objects.count() == 2


def test_a_transition_is_kept_in_the_timeline_and_audited(lab):
    health(lab, results=[result("10.20.0.11", "down")], transitions=[transition("10.20.0.11", "up", "down")])
    kept = HealthTransition.objects.get()
    assert (kept.real_server, kept.endpoint, kept.from_status, kept.to_status) == (
        lab.real_server1,
        "10.20.0.11:80",
        "up",
        "down",
    )
    entry = AuditEntry.objects.get(action="health.down")
    assert (entry.actor_name, entry.object_id, entry.cluster_id) == (
        "director",
        str(lab.real_server1.pk),
        lab.cluster.pk,
    )
    assert entry.changes == {"health": ["up", "down"]}
    assert "10.20.0.11:80 of TCP 10.10.0.100:80 is down: TCP connect: Connection refused" in entry.message


def test_a_lost_and_regained_quorum_is_recorded_once_each(lab):
    health(lab, quorum_lost=[SERVICE])
    health(lab, quorum_lost=[SERVICE])
    health(lab, quorum_lost=[])
    assert [e.action for e in AuditEntry.objects.filter(action__startswith="health.quorum").order_by("pk")] == [
        "health.quorum_lost",
        "health.quorum_regained",
    ]
    assert [t.to_status for t in HealthTransition.objects.order_by("pk")] == ["sorry server", "quorum"]


def test_only_the_real_servers_of_the_clusters_it_directs_count(lab):
    # rs1 is no director: what it says about the service is not heard.
    health(lab, host="rs1", transitions=[transition("10.20.0.11", "up", "down")])
    # Unknown real servers and services, and malformed entries, are skipped.
    health(
        lab,
        results=[result("10.20.0.99", "up"), {**result("10.20.0.11", "up"), "service": "tcp 10.9.9.9:80"}, "junk"],
        transitions=[{**transition("10.20.0.11", "up", "down"), "to": "exploded"}],
    )
    assert not HealthTransition.objects.exists()
    assert not RealServerHealth.objects.exists()


def test_a_health_report_signed_with_another_key_changes_nothing(lab):
    assert health(lab, key=lab.keys["rs1"], transitions=[transition("10.20.0.11", "up", "down")]) == "rejected"
    assert not HealthTransition.objects.exists()
    assert AuditEntry.objects.filter(action="agent.report_rejected").exists()


def test_transitions_reach_the_cluster_page_live(lab):
    user = make_user(staff=False)
    make_member(user, role="viewer")

    async def scenario():
        client = WebsocketCommunicator(URLRouter(websocket_urlpatterns), "/ws/clusters/web/")
        client.scope["user"] = user
        assert (await client.connect())[0]
        await database_sync_to_async(health)(
            lab, results=[result("10.20.0.11", "down")], transitions=[transition("10.20.0.11", "up", "down")]
        )
        event = await client.receive_json_from(timeout=5)
        await client.disconnect()
        return event

    event = async_to_sync(scenario)()
    assert event["type"] == "health"
    assert [(t["endpoint"], t["from"], t["to"]) for t in event["transitions"]] == [("10.20.0.11:80", "up", "down")]
    assert [(r["endpoint"], r["status"]) for r in event["real_servers"]] == [("10.20.0.11:80", "down")]
