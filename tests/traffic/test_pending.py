"""Latest wins when the control plane is behind: a director's waiting batches are merged, and the merged batch
gives the same table, rates and history as taking them one by one."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lvsweb.celery import app
from tests.dispatch.broker import purge
from tests.traffic.conftest import Director, rs_row, service_row
from traffic import pending
from traffic.models import HostFeed, Sample, Series

SERVICES = ["tcp 10.10.0.100:80", "tcp 10.10.0.101:80"]
ADDRESSES = [None, "10.20.0.11", "10.20.0.12", "10.20.0.13"]
keys = st.tuples(st.sampled_from(SERVICES), st.sampled_from(ADDRESSES))


def row(key, value):
    service, address = key
    return [service, address, 0 if address is None else 80, value, 0, value, value, 0, value, 0]


@st.composite
def batches(draw, seq):
    changed = draw(st.dictionaries(keys, st.integers(0, 10**6), max_size=6))
    gone = draw(st.sets(keys, max_size=3)) - changed.keys()
    return {
        "epoch": "run-1",
        "seq": seq,
        "at": 1000.0 + seq,
        "full": draw(st.booleans()),
        "rows": [row(key, value) for key, value in changed.items()],
        "gone": [[*key[:1], key[1], 80] if key[1] else [key[0], None, 0] for key in gone],
    }


def apply(table: dict, batch: dict) -> dict:
    """What the control plane's table looks like after a batch (the agent's encoding, docs/traffic.md)."""
    table = {} if batch["full"] else dict(table)
    table.update({pending._key(r): r for r in batch["rows"]})
    for r in batch["gone"]:
        table.pop(pending._key(r), None)
    return table


@given(
    start=st.dictionaries(keys, st.integers(0, 10**6), max_size=6),
    data=st.data(),
    count=st.integers(2, 5),
)
def test_a_merged_batch_leaves_the_same_table_as_its_batches_one_by_one(start, data, count):
    table = {key: row(key, value) for key, value in start.items()}
    parts = [data.draw(batches(seq)) for seq in range(1, count + 1)]
    merged = parts[0]
    for part in parts[1:]:
        merged = pending.merge(merged, part)
    one_by_one = table
    for part in parts:
        one_by_one = apply(one_by_one, part)
    assert apply(table, merged) == one_by_one
    assert (merged["seq"], merged["at"], merged["first_seq"]) == (count, 1000.0 + count, 1)


def test_a_batch_of_another_run_or_an_older_one_is_not_merged():
    older = {"epoch": "run-1", "seq": 5, "at": 5.0, "rows": [row(("tcp 10.10.0.100:80", None), 1)], "gone": []}
    assert pending.merge(older, dict(older, epoch="run-2", seq=1)) == dict(older, epoch="run-2", seq=1)
    assert pending.merge(older, dict(older, seq=4)) == dict(older, seq=4)


@pytest.mark.django_db(transaction=True)
def test_batches_held_back_while_the_queue_is_behind_give_the_same_rates_and_history(lab, director, monkeypatch):
    monkeypatch.setattr(pending, "MAX_DEFER", 120.0)  # held back as long as the queue is behind, however slow
    results = []

    def second(s):
        # counters move at each 2-s estimator run: 50 conn/s on rs1, 20 on rs2; unchanged rows are not sent
        c1, c2 = 50 * (s // 2 * 2), 20 * (s // 2 * 2)
        rows = [rs_row("10.20.0.11", 3, 0, c1, 10 * c1), rs_row("10.20.0.12", 1, 0, c2, 10 * c2)]
        rows.append(service_row(4, 0, c1 + c2, 10 * (c1 + c2)))
        results.append(director.send(1000.0 + s, rows if s % 2 == 0 else [], full=s == 0))

    try:
        for s in range(3):
            second(s)
        # a real backlog: a batch waits in the control queue (no worker runs)
        app.send_task("lvsweb.control.traffic", args=[Director(lab, "other").envelope(999.0, [])], queue="control")
        for s in range(3, 6):
            second(s)
        held_seq = HostFeed.objects.get(host=lab.director).seq
    finally:
        purge("control")
    second(6)  # the queue is empty again: everything held back is taken in with this batch

    assert results == ["ok"] * 3 + ["held"] * 3 + ["ok"]
    assert held_seq == 3  # nothing of the held batches was stored while they waited
    feed = HostFeed.objects.get(host=lab.director)
    assert (feed.seq, feed.sampled_at) == (7, 1006.0)
    rs1 = Series.objects.get(host=lab.director, real_server=lab.real_server1)
    rs2 = Series.objects.get(host=lab.director, real_server=lab.real_server2)
    assert (rs1.cps, rs1.in_pps, rs2.cps) == (50.0, 500.0, 20.0)
    # history covers the same 6 s as one window per batch would: 2 s, then the 4 s held back, all at 50 conn/s
    samples = list(Sample.objects.filter(series=rs1).order_by("at").values_list("cps", "span"))
    assert samples == [(50.0, 2.0), (50.0, 4.0)]
