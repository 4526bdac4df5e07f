"""A control plane scaled out (docs/scaling.md): a router on `control` and two partition workers, real Celery
workers on the real broker, many directors' traffic batches — each director's taken in order, nothing lost,
and both workers doing their share."""

from __future__ import annotations

import time

import pytest
import redis
from django.conf import settings
from lvsweb_agent.envelope import generate_private_key, public_key_text

from dispatch.models import ReportStream
from dispatch.partitions import partition_of, partition_queue, task_routes
from lvsweb.celery import app
from tests.dispatch.broker import purge
from tests.dispatch.conftest import ControlWorker
from tests.factories import make_cluster, make_cluster_host, make_host, make_real_server, make_virtual_service
from tests.reports import sealed_report
from traffic import inventory
from traffic.models import HostFeed, Series

QUEUES = ("control", "control.0", "control.1", "control.jobs")
DIRECTORS = 12
ROUNDS = 8


def test_a_hosts_partition_is_stable_and_hosts_spread_over_the_partitions():
    names = [f"director-{n:02}.example.net" for n in range(200)]
    assert [partition_of(name, 4) for name in names] == [partition_of(name, 4) for name in names]
    assert partition_of("director-00.example.net", 4) == 2  # the same on every process, release and machine
    shares = [sum(partition_of(name, 4) == k for name in names) for k in range(4)]
    assert min(shares) >= 30, shares
    assert {partition_of(name, 1) for name in names} == {0}


def test_agents_tasks_go_to_control_and_the_consoles_own_to_the_jobs_queue_when_partitioned():
    assert task_routes(1)["lvsweb.control.traffic"] == {"queue": "control"}
    assert task_routes(1)["lvsweb.control.*"] == {"queue": "control"}
    assert task_routes(3)["lvsweb.control.report"] == {"queue": "control"}
    assert task_routes(3)["lvsweb.control.*"] == {"queue": "control.jobs"}


class Site:
    """DIRECTORS clusters, each with one director (its own key), one service and two real servers."""

    SERVICE = "tcp 10.10.0.100:80"

    def __init__(self):
        self.keys, self.hosts, self.real_servers, self.seq = {}, [], {}, {}
        for n in range(DIRECTORS):
            name = f"director-{n:02}.example.net"
            self.keys[name] = generate_private_key()
            host = make_host(hostname=name, public_key=public_key_text(self.keys[name]))
            cluster = make_cluster()
            make_cluster_host(cluster=cluster, host=host)
            service = make_virtual_service(cluster=cluster, address="10.10.0.100", port=80)
            self.real_servers[name] = make_real_server(virtual_service=service, address="10.20.0.11")
            make_real_server(virtual_service=service, address="10.20.0.12")
            self.hosts.append(host)
            self.seq[name] = 0

    def send(self, name: str, round_: int) -> None:
        """The director's batch of `round_`: real server 1 has made 10 connections a round so far."""
        self.seq[name] += 1
        conns = 10 * round_
        batch = {
            "kind": "traffic",
            "host": name,
            "epoch": "run-1",
            "seq": self.seq[name],
            "at": 1000.0 + round_,
            "interval": 1.0,
            "full": round_ == 1,
            "rows": [[self.SERVICE, "10.20.0.11", 80, round_, 0, conns, 8 * conns, 0, 600 * conns, 0]],
            "gone": [],
        }
        # As the agent sends it (agents/lvsweb_agent/worker.py): to `control`, whatever the console's partitions.
        app.send_task(
            "lvsweb.control.traffic", args=[sealed_report(batch, self.keys[name], name)], queue="control", retry=False
        )


def wait_for(condition, timeout: float = 60, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


@pytest.fixture
def site(db):
    inventory.forget()
    purge(*QUEUES)
    yield Site()
    purge(*QUEUES)
    inventory.forget()


@pytest.fixture
def partitioned(tmp_path):
    """The router (`-Q control`) and one worker per partition queue, all with LVSWEB_CONTROL_PARTITIONS=2."""
    # Series rows stored with every batch: the test reads each director's last figures from them at once.
    env = {"LVSWEB_CONTROL_PARTITIONS": "2", "TRAFFIC_STORE_EVERY": "0"}
    workers = {
        "router": ControlWorker(tmp_path / "router.log", queues="control", name="router", level="info", **env),
        "control.0": ControlWorker(
            tmp_path / "w0.log", queues="control.0,control.jobs", name="w0", level="info", **env
        ),
        "control.1": ControlWorker(tmp_path / "w1.log", queues="control.1", name="w1", level="info", **env),
    }
    for worker in workers.values():
        wait_for(lambda worker=worker: " ready." in worker.log() or not worker.alive(), what="workers ready")
        assert worker.alive(), worker.log()
    yield workers
    for worker in workers.values():
        worker.stop()


@pytest.mark.django_db(transaction=True)
def test_two_partition_workers_take_many_directors_batches_each_in_order_and_lose_none(site, partitioned):
    names = [host.hostname for host in site.hosts]
    assert {partition_of(name, 2) for name in names} == {0, 1}  # both workers have directors to serve
    # Each director's batches back to back on `control`: with two consumers of one queue, a director's next
    # batch would often be taken before the one in front of it commits (and refused as out of order).
    for name in names:
        for round_ in range(1, ROUNDS + 1):
            site.send(name, round_)
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    wait_for(lambda: sum(client.llen(queue) for queue in QUEUES) == 0, what="the queues to drain")
    # A batch that arrived while others waited may be held to be merged into the director's next one (latest
    # wins, traffic/pending.py): the agents' next second sends it, here one director at a time.
    time.sleep(0.6)
    for name in names:
        site.send(name, ROUNDS + 1)
        wait_for(
            lambda name=name: HostFeed.objects.filter(host__hostname=name, seq=site.seq[name]).exists(),
            what=f"{name}'s last batch",
        )

    for host in site.hosts:
        stream = ReportStream.objects.get(host=host, stream="traffic")
        assert stream.refused == 0, f"{host.hostname}: {stream.refused} batches refused (out of order or repeated)"
        real_server = site.real_servers[host.hostname]
        figures = Series.objects.values_list("active", "conns").get(host=host, real_server=real_server)
        assert figures == (ROUNDS + 1, 10 * (ROUNDS + 1))  # the last batch's figures: nothing lost on the way

    router = partitioned["router"].log()
    assert "forwarded to control.0" in router and "forwarded to control.1" in router
    for queue in ("control.0", "control.1"):
        log = partitioned[queue].log()
        done = [line for line in log.splitlines() if "lvsweb.control.traffic[" in line and " succeeded " in line]
        directors = sum(partition_queue(partition_of(name, 2)) == queue for name in names)
        assert len(done) == directors * (ROUNDS + 1), f"{queue}: {len(done)} batches for {directors} directors"
        assert not [line for line in done if line.endswith(("'refused'", "'late'", "'rejected'"))]
        assert "forwarded" not in log
