"""Grouping: events of a rule within its window are one message; their clearing is one resolved message.

The events are real: signed health reports handled as the control worker handles them, which write their audit
entries; alerts read those entries (alerts/grouping.py). Windows are passed as `now`, not slept through.
"""

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from alerts import actions, delivery, grouping
from alerts.choices import AlertKind, AlertStatus, DeliveryStatus
from alerts.models import Alert, Delivery
from dispatch import actions as dispatch_actions
from tests.alerts.conftest import rule_for, webhook_channel
from tests.factories import make_real_server
from tests.reports import sealed_report

pytestmark = pytest.mark.django_db(transaction=True)
SERVICE = "tcp 10.10.0.100:80"


def transition(address: str, before: str, after: str) -> dict:
    return {
        "service": SERVICE,
        "address": address,
        "port": 80,
        "from": before,
        "to": after,
        "at": time.time(),
        "message": "TCP connect: Connection refused" if after == "down" else "TCP connect: ok",
    }


def report(lab, transitions, quorum_lost=()) -> str:
    payload = {
        "kind": "health",
        "host": "director",
        "results": [],
        "transitions": list(transitions),
        "quorum_lost": list(quorum_lost),
    }
    return dispatch_actions.handle_report(sealed_report(payload, lab.keys["director"], "director"))


def forty(lab) -> list[str]:
    """The lab's two real servers and 38 more: 40 addresses."""
    for n in range(13, 51):
        make_real_server(virtual_service=lab.service, address=f"10.20.0.{n}")
    return [f"10.20.0.{n}" for n in range(11, 51)]


def close_windows(seconds: float = 6) -> list[Delivery]:
    """Read new entries, then send what is due `seconds` from now; each delivery attempted once, here."""
    grouping.ingest()
    grouping.dispatch_due(timezone.now() + timedelta(seconds=seconds))
    sent = list(Delivery.objects.filter(status=DeliveryStatus.PENDING).order_by("id"))
    for item in sent:
        delivery.attempt(item.pk)
    return sent


def test_forty_real_servers_down_are_one_message_and_their_recovery_one(lab, receiver, cursor):
    channel, _secret = webhook_channel(lab.cluster.team, receiver.url)
    rule_for(lab.cluster.team, [channel], group_seconds=5)
    addresses = forty(lab)

    # Two reports within the window: 25 down, then 15 more.
    report(lab, [transition(address, "up", "down") for address in addresses[:25]])
    grouping.ingest()
    report(lab, [transition(address, "up", "down") for address in addresses[25:]])
    assert grouping.dispatch_due() == 0, "sent before the grouping window closed"
    close_windows()

    assert len(receiver.received) == 1
    body = receiver.received[0].json()
    assert body["kind"] == "problem" and body["event_type"] == "real_server_down"
    assert body["title"] == "40 real servers down (web)"
    assert len(body["items"]) == 40
    assert {item["name"].split(":")[0] for item in body["items"]} == set(addresses)

    report(lab, [transition(address, "down", "up") for address in addresses])
    close_windows()
    assert len(receiver.received) == 2
    resolved = receiver.received[1].json()
    assert resolved["kind"] == "resolved" and resolved["title"] == "Resolved: 40 real servers up again (web)"
    assert len(resolved["items"]) == 40


def test_a_real_server_back_within_the_window_says_nothing(lab, receiver, cursor):
    channel, _secret = webhook_channel(lab.cluster.team, receiver.url)
    rule_for(lab.cluster.team, [channel], group_seconds=5)
    report(lab, [transition("10.20.0.11", "up", "down")])
    grouping.ingest()
    report(lab, [transition("10.20.0.11", "down", "up")])
    close_windows()
    assert receiver.received == []
    assert Alert.objects.get().status == AlertStatus.CANCELLED


def test_a_second_down_of_a_server_already_down_is_not_announced_again(lab, receiver, cursor):
    channel, _secret = webhook_channel(lab.cluster.team, receiver.url)
    rule_for(lab.cluster.team, [channel], group_seconds=1)
    report(lab, [transition("10.20.0.11", "up", "down")])
    close_windows()
    report(lab, [transition("10.20.0.11", "unknown", "down")])
    close_windows()
    assert len(receiver.received) == 1


def test_rules_filter_by_type_severity_and_cluster(lab, receiver, cursor):
    from tests.factories import make_cluster

    channel, _secret = webhook_channel(lab.cluster.team, receiver.url)
    rule_for(lab.cluster.team, [channel], name="quorum only", event_types=["quorum_lost"])
    rule_for(lab.cluster.team, [channel], name="critical only", min_severity="critical")
    other = rule_for(lab.cluster.team, [channel], name="another cluster")
    elsewhere = make_cluster(team=lab.cluster.team)
    actions.update_rule(acting_user=None, rule=other, fields={}, clusters=[elsewhere])
    report(lab, [transition("10.20.0.11", "up", "down")])  # a warning: none of the three rules
    close_windows()
    assert receiver.received == []

    report(lab, [], quorum_lost=[SERVICE])  # critical quorum loss: the first two
    close_windows()
    assert sorted(Alert.objects.filter(kind=AlertKind.PROBLEM).values_list("rule_name", flat=True)) == [
        "critical only",
        "quorum only",
    ]
    assert [request.json()["event_type"] for request in receiver.received] == ["quorum_lost", "quorum_lost"]


def test_a_rule_whose_clusters_were_deleted_matches_nothing_rather_than_everything(lab, receiver, cursor):
    from tests.factories import make_cluster

    channel, _secret = webhook_channel(lab.cluster.team, receiver.url)
    rule = rule_for(lab.cluster.team, [channel])
    doomed = make_cluster(team=lab.cluster.team)
    actions.update_rule(acting_user=None, rule=rule, fields={}, clusters=[doomed])
    doomed.delete()
    report(lab, [transition("10.20.0.11", "up", "down")])
    close_windows()
    assert receiver.received == []
    actions.update_rule(acting_user=None, rule=rule, fields={}, clusters=[])  # every cluster again
    report(lab, [transition("10.20.0.12", "up", "down")])
    close_windows()
    assert len(receiver.received) == 1


def test_an_offline_agent_and_its_return(lab, receiver, cursor):
    channel, _secret = webhook_channel(lab.cluster.team, receiver.url)
    rule_for(lab.cluster.team, [channel])
    lab.director.agent_status = "online"
    lab.director.last_heartbeat_at = timezone.now() - timedelta(minutes=5)
    lab.director.save()
    assert dispatch_actions.mark_offline_hosts() == 1
    close_windows()
    assert receiver.received[-1].json()["title"] == "1 agent offline (web)"

    heartbeat = {"kind": "heartbeat", "host": "director", "facts": {"drift": []}}
    dispatch_actions.handle_report(sealed_report(heartbeat, lab.keys["director"], "director"))
    close_windows()
    assert receiver.received[-1].json()["title"] == "Resolved: 1 agent back online (web)"
    assert len(receiver.received) == 2


def test_a_drifted_host_that_went_offline_is_resolved_by_its_next_in_sync_heartbeat(lab, receiver, cursor):
    channel, _secret = webhook_channel(lab.cluster.team, receiver.url)
    rule_for(lab.cluster.team, [channel], event_types=["host_drifted", "agent_offline"])

    def heartbeat(drift):
        payload = {"kind": "heartbeat", "host": "director", "facts": {"drift": drift}}
        dispatch_actions.handle_report(sealed_report(payload, lab.keys["director"], "director"))

    heartbeat([])
    heartbeat([{"op": "add_service", "service": SERVICE}])
    close_windows()
    lab.director.refresh_from_db()
    lab.director.last_heartbeat_at = timezone.now() - timedelta(minutes=5)
    lab.director.save()
    dispatch_actions.mark_offline_hosts()
    close_windows()
    heartbeat([])
    close_windows()
    titles = sorted(request.json()["title"] for request in receiver.received)
    assert titles == [
        "1 agent offline (web)",
        "1 host drifted from what was applied (web)",
        "Resolved: 1 agent back online (web)",
        "Resolved: 1 host in sync again (web)",
    ]
