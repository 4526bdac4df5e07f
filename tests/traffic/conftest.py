"""Fixtures of the traffic tests: the dispatch lab inventory (a TUN director with two real servers)."""

import time

import pytest

from tests.dispatch.broker import purge
from tests.dispatch.conftest import (
    LAB_QUEUES,
    Lab,
    control_worker,  # noqa: F401  (the real `celery worker -Q control`)
)
from tests.reports import sealed_report
from traffic import inventory
from traffic.actions import handle_batch, ingest


@pytest.fixture(autouse=True)
def series_stored_with_each_batch(settings):
    """The tests of what a batch does read the series rows right after it: stored with every batch here, and
    no director's live state left over from another test. The deferred store is tested in test_store.py."""
    settings.TRAFFIC_STORE_EVERY = 0.0
    ingest._directors.clear()
    yield
    ingest._directors.clear()


@pytest.fixture
def lab(db):
    """The lab inventory with empty queues and no cached inventory from an earlier test."""
    inventory.forget()
    purge(*LAB_QUEUES)
    yield Lab()
    purge(*LAB_QUEUES)
    inventory.forget()


class Director:
    """Sends the director's signed batches the way agents/lvsweb_agent/stats.py makes them."""

    SERVICE = "tcp 10.10.0.100:80"

    def __init__(self, lab, epoch="run-1"):
        self.lab = lab
        self.epoch = epoch
        self.seq = 0

    def batch(self, at, rows, *, full=False, gone=(), epoch=None):
        self.seq += 1
        return {
            "kind": "traffic",
            "host": "director",
            "epoch": epoch or self.epoch,
            "seq": self.seq,
            "at": at,
            "sent_at": time.time(),
            "interval": 1.0,
            "full": full,
            "rows": [list(row) for row in rows],
            "gone": [list(row) for row in gone],
        }

    def envelope(self, *args, key=None, **kwargs):
        return sealed_report(self.batch(*args, **kwargs), key or self.lab.keys["director"], "director")

    def send(self, *args, **kwargs):
        return handle_batch(self.envelope(*args, **kwargs))


def rs_row(address, active, inactive, conns, packets=0, bytes_=0, service=Director.SERVICE):
    """A real server's row: in packets/bytes as given, out 0 (a TUN director never sees replies)."""
    return (service, address, 80, active, inactive, conns, packets, 0, bytes_, 0)


def service_row(active, inactive, conns, packets=0, bytes_=0, service=Director.SERVICE):
    return (service, None, 0, active, inactive, conns, packets, 0, bytes_, 0)


@pytest.fixture
def director(lab):
    return Director(lab)
