"""A busy director's series rows are written every TRAFFIC_STORE_EVERY seconds, not with every batch: the browsers
still get every batch, raw history is still written with every batch, and a worker that stops without storing
loses at most that stretch of the rows (docs/traffic.md, "What is stored when")."""

import time

import pytest

from tests.traffic.conftest import rs_row, service_row
from traffic import inventory
from traffic.actions import ingest, store_pending
from traffic.models import HostFeed, Sample, Series

pytestmark = pytest.mark.django_db(transaction=True)

BOUND = 1.5


@pytest.fixture(autouse=True)
def deferred(settings):
    settings.TRAFFIC_STORE_EVERY = BOUND


def busy(second, rs1_active=3):
    """The kernel at `second`: counters moved at each 2-s estimator run, 50 conn/s on rs1 and 20 on rs2."""
    c1, c2 = 50 * (second // 2 * 2), 20 * (second // 2 * 2)
    return [
        rs_row("10.20.0.11", rs1_active, 0, c1, 10 * c1),
        rs_row("10.20.0.12", 1, 0, c2, 10 * c2),
        service_row(rs1_active + 1, 0, c1 + c2, 10 * (c1 + c2)),
    ]


def stored(lab, real_server):
    return Series.objects.get(host=lab.director, real_server=real_server)


def test_rows_are_written_within_the_bound_not_with_every_batch(lab, director):
    assert director.send(1000.0, busy(0), full=True) == "ok"  # a worker's first batch of a director: stored
    started = time.monotonic()
    for second in range(1, 4):
        assert director.send(1000.0 + second, busy(second, rs1_active=10 + second)) == "ok"
    in_between = stored(lab, lab.real_server1)
    feed = HostFeed.objects.get(host=lab.director)
    assert time.monotonic() - started < BOUND  # (the assertion below is only meaningful then)
    assert (in_between.active, in_between.cps) == (3, 0.0)  # the rows wait: still as of the first batch
    assert feed.seq == 1 and feed.last_batch_at > in_between.updated_at  # but the feed is fresh with each batch

    time.sleep(BOUND)
    assert director.send(1004.0, busy(4, rs1_active=14)) == "ok"
    rs1, rs2 = stored(lab, lab.real_server1), stored(lab, lab.real_server2)
    assert (rs1.active, rs1.cps, rs1.in_pps, rs2.cps) == (14, 50.0, 500.0, 20.0)
    assert (HostFeed.objects.get(host=lab.director).seq, rs1.read_at) == (5, 1004.0)
    # history was written with every batch meanwhile: one raw sample per closed window
    assert list(Sample.objects.filter(series=rs1).order_by("at").values_list("cps", "span")) == [(50.0, 2.0)] * 2


def test_a_worker_that_stops_without_storing_loses_at_most_the_bound(lab, director):
    director.send(1000.0, busy(0), full=True)
    for second in range(1, 5):
        director.send(1000.0 + second, busy(second, rs1_active=20 + second))
    before = stored(lab, lab.real_server1)
    assert before.read_at == 1000.0  # what the database has: the first batch

    ingest._directors.clear()  # the worker was killed: its live state is gone
    assert director.send(1005.0, busy(5, rs1_active=25)) == "ok"  # another worker goes on from the rows
    rs1, rs2, totals = stored(lab, lab.real_server1), stored(lab, lab.real_server2), stored(lab, None)
    assert (rs1.active, rs1.read_at, HostFeed.objects.get(host=lab.director).seq) == (25, 1005.0, 6)
    # the rates over the lost stretch are the honest mean of the counters, never negative or inflated
    assert 0 < rs1.cps <= 50.0 and 0 < rs2.cps <= 20.0 and 0 < totals.cps <= 70.0
    # history is complete: the windows closed while the rows waited were written with their batches
    spans = list(Sample.objects.filter(series=rs1).order_by("at").values_list("span", flat=True))
    assert sum(spans) >= 4.0

    director.send(1006.0, busy(6, rs1_active=26))
    time.sleep(BOUND)
    director.send(1007.0, busy(7, rs1_active=27))
    assert (stored(lab, lab.real_server1).active, stored(lab, lab.real_server1).cps) == (27, 50.0)


def test_a_worker_shutting_down_stores_what_waits(lab, director):
    director.send(1000.0, busy(0), full=True)
    director.send(1001.0, busy(1, rs1_active=7))
    director.send(1002.0, busy(2, rs1_active=8))

    assert store_pending() == 3  # the three series changed since the first batch
    rs1 = stored(lab, lab.real_server1)
    assert (rs1.active, rs1.read_at, HostFeed.objects.get(host=lab.director).seq) == (8, 1002.0, 3)
    # the next worker (or this one) goes on from the rows as if nothing happened: same rates
    director.send(1003.0, busy(3, rs1_active=9))
    director.send(1004.0, busy(4, rs1_active=9))
    assert store_pending() == 3
    assert stored(lab, lab.real_server1).cps == 50.0
    assert stored(lab, lab.real_server2).cps == 20.0


def test_an_inventory_change_between_stores_loses_nothing(lab, director):
    director.send(1000.0, busy(0), full=True)
    director.send(1001.0, [rs_row("10.20.0.11", 8, 0, 0)])  # only rs1 changed: 8 connections, not stored yet
    lab.real_server2.weight = 0
    lab.real_server2.save()
    inventory.forget()  # the mapping is read again (as after its 10 s): the worker's series are read back

    assert director.send(1002.0, [rs_row("10.20.0.12", 1, 0, 40, 400)]) == "ok"  # rs1 unchanged since
    assert stored(lab, lab.real_server1).active == 8
