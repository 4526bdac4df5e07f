"""Signed reports replayed by anyone on the broker — old, repeated, out of order — are refused and counted, and
change nothing; the next fresh report is taken as usual (docs/dispatch.md, "Reports: replay")."""

import time
from datetime import timedelta

import pytest
import redis
from django.conf import settings
from django.utils import timezone
from hypothesis import given
from hypothesis import strategies as st

from audit.models import AuditEntry
from clusters.models import HealthTransition, sync_state
from dispatch import actions, counters
from dispatch.actions import replay
from dispatch.models import Deployment, ReportStream
from tests.reports import next_sequence, sealed_report
from tests.traffic.conftest import Director, rs_row
from traffic.actions import handle_batch
from traffic.models import HostFeed

pytestmark = pytest.mark.django_db(transaction=True)
DAY = 86400
DRIFT = [{"op": "add-dest", "target": "tcp 10.10.0.100:80 -> 10.20.0.11:80", "reason": "missing", "done": False}]


@pytest.fixture(autouse=True)
def fresh_counters():
    client = redis.Redis.from_url(settings.REDIS_URL)
    client.delete(counters.REFUSED_KEY)
    yield
    client.close()


def heartbeat(lab, drift, **fields):
    payload = {"host": "director", "kind": "heartbeat", "facts": {"drift": drift, "applied_serial": 1}, **fields}
    return sealed_report(payload, lab.keys["director"], "director")


def refusals(action="agent.report_refused"):
    return list(AuditEntry.objects.filter(action=action).values_list("message", flat=True))


def test_an_old_in_sync_heartbeat_replayed_does_not_hide_a_drift(lab):
    in_sync = heartbeat(lab, [])  # captured by someone on the broker
    assert actions.handle_report(in_sync) == "heartbeat"
    assert actions.handle_report(heartbeat(lab, DRIFT)) == "heartbeat"
    entries = AuditEntry.objects.count()

    assert actions.handle_report(in_sync) == "refused"

    lab.director.refresh_from_db()
    assert lab.director.drift == DRIFT
    assert sync_state(lab.director) == "drifted"
    assert AuditEntry.objects.count() == entries + 1
    [message] = refusals()
    assert "heartbeat report from “director” was refused: out of order: sequence" in message
    assert counters.refused_reports() == {("heartbeat", "out_of_order"): 1}
    # The agent's next heartbeat is taken as usual.
    assert actions.handle_report(heartbeat(lab, [])) == "heartbeat"
    lab.director.refresh_from_db()
    assert lab.director.drift == []


def test_a_heartbeat_sent_400_days_ago_is_refused_as_stale(lab):
    old = heartbeat(lab, [], sent_at=time.time() - 400 * DAY)
    assert actions.handle_report(old) == "refused"
    lab.director.refresh_from_db()
    assert lab.director.last_heartbeat_at is None and lab.director.agent_status != "online"
    assert "stale: sent 34560000 s ago, more than the 300 s accepted" in refusals()[0]
    assert actions.handle_report(heartbeat(lab, [])) == "heartbeat"


def test_a_report_from_the_future_is_refused_with_a_hint_about_the_clock(lab):
    assert actions.handle_report(heartbeat(lab, [], sent_at=time.time() + 3600)) == "refused"
    assert "is the host's clock right?" in refusals()[0]
    assert counters.refused_reports() == {("heartbeat", "future"): 1}


def test_a_report_without_a_sequence_is_refused(lab):
    payload = {"host": "director", "kind": "heartbeat", "facts": {"drift": []}, "sequence": None}
    assert actions.handle_report(sealed_report(payload, lab.keys["director"], "director")) == "refused"
    assert "carries no valid sequence (None)" in refusals()[0]


def health_report(lab):
    now = time.time()
    item = {"service": "tcp 10.10.0.100:80", "address": "10.20.0.11", "port": 80}
    payload = {
        "kind": "health",
        "host": "director",
        "results": [{**item, "status": "down", "message": "refused", "checked_at": now, "check": "tcp"}],
        "transitions": [{**item, "from": "up", "to": "down", "at": now, "message": "TCP connect: refused"}],
        "quorum_lost": [],
    }
    return sealed_report(payload, lab.keys["director"], "director")


def test_a_health_report_replayed_three_times_makes_one_transition(lab):
    report = health_report(lab)
    assert actions.handle_report(report) == "health (1 transitions)"
    assert [actions.handle_report(report) for _ in range(3)] == ["refused"] * 3

    assert HealthTransition.objects.count() == 1
    assert AuditEntry.objects.filter(action="health.down").count() == 1
    # Audited once a minute per stream, however many replays: the flood is counted, not written out.
    [message] = refusals()
    assert "health report from “director” was refused: repeated: sequence" in message
    stream = ReportStream.objects.get(host=lab.director, stream="health")
    assert (stream.refused, stream.refused_unaudited) == (3, 2)
    assert counters.refused_reports() == {("health", "repeated"): 3}
    assert actions.handle_report(health_report(lab)) == "health (1 transitions)"


def test_the_next_audit_entry_tells_how_many_were_refused_meanwhile(lab):
    report = health_report(lab)
    actions.handle_report(report)
    actions.handle_report(report)
    actions.handle_report(report)
    from django.db import transaction

    payload = {"kind": "health", "host": "director", "sequence": 1, "sent_at": time.time()}
    with transaction.atomic():
        assert replay.accept(lab.director, payload, now=timezone.now() + timedelta(seconds=61)) == "out_of_order"
    messages = refusals()
    assert len(messages) == 2
    assert (
        "out of order" in messages[0] and "1 other health reports were refused since the previous entry" in messages[0]
    )


def test_a_replayed_result_is_refused_and_changes_nothing(lab):
    deployment = actions.apply_cluster(acting_user=None, cluster=lab.cluster).deployments.get(host=lab.rs1)
    payload = {"host": "rs1", "kind": "deployment", "deployment": deployment.pk, "status": "failed", "error": "x"}
    failed = sealed_report(payload, lab.keys["rs1"], "rs1")
    assert actions.handle_report(failed) == "failed"
    entries = AuditEntry.objects.count()
    assert actions.handle_report(failed) == "refused"
    assert Deployment.objects.get(pk=deployment.pk).status == "failed"
    assert AuditEntry.objects.count() == entries + 1
    assert "deployment report from “rs1” was refused: repeated" in refusals()[0]


def test_streams_are_independent(lab):
    # The heartbeat thread may seal its report before the worker seals a result, and send it after.
    early = next_sequence()
    assert actions.handle_report(health_report(lab)).startswith("health")
    assert actions.handle_report(heartbeat(lab, [], sequence=early)) == "heartbeat"


def test_an_old_traffic_batch_does_not_reset_the_feed(lab, settings):
    settings.TRAFFIC_STORE_EVERY = 0  # the feed row says which batch was last taken in, with every batch
    director = Director(lab, epoch="run-1")
    old = director.envelope(1000.0, [rs_row("10.20.0.11", 1, 0, 10)], full=True)
    assert handle_batch(old) == "ok"
    restarted = Director(lab, epoch="run-2")
    assert restarted.send(1100.0, [rs_row("10.20.0.11", 2, 0, 5)], full=True) == "ok"
    assert restarted.send(1101.0, [rs_row("10.20.0.11", 2, 0, 9)]) == "ok"
    feed = HostFeed.objects.get(host=lab.director)
    before = (feed.epoch, feed.seq, feed.sampled_at)

    assert handle_batch(old) == "refused"

    feed.refresh_from_db()
    assert (feed.epoch, feed.seq, feed.sampled_at) == before == ("run-2", 2, 1101.0)
    assert refusals() == []  # traffic batches are not audited: counted on /metrics
    assert counters.refused_reports() == {("traffic", "out_of_order"): 1}
    assert restarted.send(1102.0, [rs_row("10.20.0.11", 2, 0, 12)]) == "ok"


def test_metrics_count_the_refusals(lab, api):
    report = health_report(lab)
    actions.handle_report(report)
    actions.handle_report(report)
    body = b"".join(api.get("/metrics").streaming_content).decode()
    assert 'lvsweb_agent_reports_refused_total{kind="health",reason="repeated"} 1' in body


# -- the rule alone ----------------------------------------------------------------------------------------
WINDOW = 300.0
NOW = 1_800_000_000.0
sequences = st.integers(min_value=1, max_value=2**63 - 1)


@given(last=st.integers(min_value=0, max_value=2**63 - 1), sequence=sequences, offset=st.floats(-1e6, 1e6))
def test_accepted_exactly_when_fresh_and_newer(last, sequence, offset):
    try:
        replay.check(sequence, NOW + offset, last_sequence=last, now=NOW, window=WINDOW)
        accepted = True
    except replay.Refused as refusal:
        accepted = False
        reason = refusal.reason
    assert accepted == (abs(offset) <= WINDOW and sequence > last)
    if not accepted:
        expected = "stale" if offset < -WINDOW else "future" if offset > WINDOW else None
        expected = expected or ("repeated" if sequence == last else "out_of_order")
        assert reason == expected


@given(st.lists(st.tuples(sequences, st.floats(-600, 600)), max_size=40))
def test_a_stream_accepts_each_sequence_once_and_only_ever_higher(reports):
    last, accepted = 0, []
    for sequence, offset in reports:
        try:
            replay.check(sequence, NOW + offset, last_sequence=last, now=NOW, window=WINDOW)
        except replay.Refused:
            continue
        accepted.append(sequence)
        last = sequence
    assert accepted == sorted(set(accepted))


@pytest.mark.parametrize("sequence", [None, 0, -5, True, 1.5, "7", 2**63])
def test_anything_but_a_positive_bigint_is_no_sequence(sequence):
    with pytest.raises(replay.Refused) as refused:
        replay.check(sequence, NOW, last_sequence=0, now=NOW, window=WINDOW)
    assert refused.value.reason == "no_sequence"
