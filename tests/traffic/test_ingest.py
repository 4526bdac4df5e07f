"""Taking in the directors' batches: verified per host, rates from counters, history, live events."""

import time

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from lvsweb_agent.envelope import generate_private_key

from audit.models import AuditEntry
from lvsweb.celery import app
from tests.reports import sealed_report
from tests.traffic.conftest import rs_row, service_row
from traffic.actions import handle_batch
from traffic.live import active_connections
from traffic.models import HostFeed, Sample, Series

pytestmark = pytest.mark.django_db(transaction=True)


def series(lab, real_server=None):
    return Series.objects.get(host=lab.director, virtual_service=lab.service, real_server=real_server)


def steady(director, seconds, per_second_rs1, per_second_rs2, start=1000.0, active=(3, 1)):
    """Batches at 1 Hz whose counters move every 2 s, as the kernel's estimator makes them."""
    results = []
    for second in range(seconds):
        at = start + second
        refreshed = (second // 2) * 2
        c1, c2 = per_second_rs1 * refreshed, per_second_rs2 * refreshed
        rows = [
            rs_row("10.20.0.11", active[0], 0, c1, 10 * c1, 600 * c1),
            rs_row("10.20.0.12", active[1], 0, c2, 10 * c2, 600 * c2),
            service_row(sum(active), 0, c1 + c2, 10 * (c1 + c2), 600 * (c1 + c2)),
        ]
        results.append(director.send(at, rows, full=second == 0))
    return results


def test_rates_come_from_counters_over_2_second_windows(lab, director):
    assert steady(director, 9, 50, 20) == ["ok"] * 9

    rs1 = series(lab, lab.real_server1)
    assert (rs1.active, rs1.cps, rs1.in_pps, rs1.in_bps, rs1.out_pps) == (3, 50.0, 500.0, 30000.0, 0.0)
    assert series(lab, lab.real_server2).cps == 20.0
    assert series(lab).cps == 70.0
    # history: one raw sample per closed window, never a 0/2x saw-tooth
    samples = list(Sample.objects.filter(series=rs1).order_by("at").values_list("cps", "span"))
    assert samples == [(50.0, 2.0)] * 4
    assert active_connections([lab.real_server1.pk, lab.real_server2.pk]) == {
        lab.real_server1.pk: (3, 0),
        lab.real_server2.pk: (1, 0),
    }


def test_an_agent_restart_resets_counters_without_a_negative_or_huge_rate(lab, director):
    steady(director, 5, 50, 20)
    restarted = director.batch(2000.0, [rs_row("10.20.0.11", 1, 0, 3)], full=True, epoch="run-2")

    assert handle_batch(sealed_report(restarted, lab.keys["director"], "director")) == "ok"
    rs1 = series(lab, lab.real_server1)
    assert 0 <= rs1.cps <= 50.0
    assert HostFeed.objects.get(host=lab.director).epoch == "run-2"


def test_a_repeated_or_old_batch_is_ignored(lab, director):
    envelope = director.envelope(1000.0, [rs_row("10.20.0.11", 1, 0, 3)], full=True)

    assert handle_batch(envelope) == "ok"
    assert handle_batch(envelope) == "refused"  # the same signed batch again: a replay (tests/dispatch/test_replay.py)
    director.seq -= 1  # a batch of the feed's past, freshly sealed (a merged batch that lagged behind)
    assert director.send(999.0, [rs_row("10.20.0.11", 1, 0, 2)]) == "late"


def test_a_batch_signed_with_another_key_or_for_another_host_is_rejected_and_audited(lab, director):
    assert director.send(1000.0, [rs_row("10.20.0.11", 9, 9, 9)], key=generate_private_key()) == "rejected"

    # rs1 signs with its own key but speaks for the director
    assert handle_batch(sealed_report(director.batch(1001.0, []), lab.keys["rs1"], "rs1")) == "rejected"
    assert not Series.objects.exists()
    messages = list(AuditEntry.objects.filter(action="agent.report_rejected").values_list("message", flat=True))
    assert len(messages) == 2
    assert any("bad signature" in message for message in messages)
    assert any("not a traffic batch of rs1 (host 'director')" in message for message in messages)


def test_a_malformed_batch_is_rejected_naming_the_field(lab, director):
    assert director.send(1000.0, [["tcp 10.10.0.100:80", "10.20.0.11", 80, -1, 0, 0, 0, 0, 0, 0]]) == "rejected"
    entry = AuditEntry.objects.get(action="agent.report_rejected")
    assert "malformed traffic batch: a row must be" in entry.message


def test_a_real_server_that_left_the_kernel_is_shown_as_gone(lab, director):
    steady(director, 3, 5, 5)
    director.send(1003.0, [], gone=[("tcp 10.10.0.100:80", "10.20.0.12", 80)])
    rs2 = series(lab, lab.real_server2)
    assert (rs2.present, rs2.active, rs2.cps) == (False, 0, 0.0)
    assert lab.real_server2.pk not in active_connections([lab.real_server2.pk])


def test_an_idle_cluster_costs_no_writes(lab, director):
    steady(director, 4, 0, 0, active=(0, 0))
    with CaptureQueriesContext(connection) as queries:
        director.send(1004.0, [])
    writes = [q["sql"] for q in queries.captured_queries if q["sql"].startswith(("INSERT", "UPDATE"))]
    assert len(writes) <= 2  # the feed's own row (and the audit-free batch record) only
    assert HostFeed.objects.get(host=lab.director).seq == 5


def test_a_batch_through_the_broker_reaches_the_database(lab, director, control_worker):

    app.send_task(
        "lvsweb.control.traffic", args=[director.envelope(1000.0, [rs_row("10.20.0.11", 4, 2, 10)], full=True)]
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not Series.objects.filter(real_server=lab.real_server1).exists():
        time.sleep(0.2)
    assert active_connections([lab.real_server1.pk]) == {lab.real_server1.pk: (4, 2)}
