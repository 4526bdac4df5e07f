"""Live traffic at scale: N services x 10 real servers sampled at 1 Hz, from the agent to 50 browsers.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/lvsweb REDIS_URL=redis://127.0.0.1:6379/12 \\
        .venv/bin/python bench/traffic.py --services 1000 --dests 10 --seconds 60 --clients 50 \\
        --json /tmp/traffic-bench.json

Runs on this machine: a throw-away database (`<DATABASE_URL's name>_traffic_bench`, created and dropped),
daphne and a real control worker (`celery worker -Q control`, as in the browser tests), `--clients`
websocket clients signed in as a member of the cluster's team, and a director's agent played in this
process: the agent's own `BatchEncoder` and envelope signing over a table whose counters move like the
kernel's (every real server busy, counters and connection counts changing at each 2-s estimator run), sent
to the broker exactly as `agents/lvsweb_agent/worker.py` sends them. The kernel read itself (the netlink dump) needs
the lab VM and is measured there:

    scripts/lab/vm-run python bench/traffic.py --lab-read --services 1000 --dests 10 --seconds 30

which installs the table in a namespace of the VM with the agent, then times the stats thread's tick
(dump + encode) at 1 Hz, its CPU, and `ipvsadm -Ln --stats --exact` reading the same table as a reference
(the VM emulates its CPU: compare the ratio, not the seconds).

Reported: the agent's CPU for encoding and signing (share of one core), the control worker's and daphne's
CPU (from /proc), bytes per second through the broker (the Redis list entries as kombu writes them), and
the lag from the agent's read of the kernel to each websocket client (p50/p95/max), plus how many events
each client got and the control queue's backlog at the end.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlparse

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[max(math.ceil(share * len(ordered)) - 1, 0)] if ordered else float("nan")


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (and its waited-for children) from /proc, in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = sum(int(value) for value in fields[11:15])
    return ticks / os.sysconf("SC_CLK_TCK")


def bench_database() -> tuple[str, str]:
    """Point DATABASE_URL at a fresh throw-away database; returns (the server's admin URL, its name)."""
    import psycopg

    url = urlparse(os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/lvsweb"))
    name = f"{url.path.lstrip('/') or 'lvsweb'}_traffic_bench"
    admin = url._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    os.environ["DATABASE_URL"] = url._replace(path=f"/{name}").geturl()
    return admin, name


def drop_database(admin: str, name: str) -> None:
    import psycopg

    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def make_inventory(services: int, dests: int):
    """Cluster `big`: SERVICES TCP services x DESTS TUN real servers on one enrolled director."""
    from lvsweb_agent.envelope import generate_private_key, public_key_text

    from clusters.choices import HostRole
    from clusters.models import Cluster, ClusterHost, Host, RealServer, VirtualService
    from teams.models import Membership, Team

    team = Team.objects.create(name="Bench", slug="bench")
    key = generate_private_key()
    cluster = Cluster.objects.create(team=team, name="big", slug="big")
    director = Host.objects.create(
        team=team, hostname="director", management_address="192.0.2.1", public_key=public_key_text(key)
    )
    ClusterHost.objects.create(cluster=cluster, host=director, role=HostRole.DIRECTOR)
    made = VirtualService.objects.bulk_create(
        [
            VirtualService(cluster=cluster, protocol="tcp", address="10.10.0.101", port=10001 + i, scheduler="wlc")
            for i in range(services)
        ]
    )
    RealServer.objects.bulk_create(
        [
            RealServer(virtual_service=service, address=f"10.20.0.{11 + j}", port=service.port)
            for service in made
            for j in range(dests)
        ],
        batch_size=5000,
    )
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.create_user("bench-viewer")  # signs in by session only
    Membership.objects.create(team=team, user=user, role="viewer")
    return key, user, [(f"tcp 10.10.0.101:{s.port}", s.port) for s in made], [s.pk for s in made]


class Kernel:
    """A director's IPVS table whose counters move like the kernel's: every 2 s, all real servers busy."""

    def __init__(self, services, dests: int):
        self.rows = {}
        self.rates = {}
        for name, port in services:
            for j in range(dests):
                key = (name, f"10.20.0.{11 + j}", port)
                self.rows[key] = [0, 0, 0, 0, 0, 0, 0]
                self.rates[key] = random.randint(1, 50)
            self.rows[(name, None, 0)] = [0, 0, 0, 0, 0, 0, 0]
        self.services = [name for name, _ in services]
        self.dests = dests
        self.ticks = 0

    def read(self) -> dict:
        self.ticks += 1
        if self.ticks % 2 == 0:  # the estimator's run: counters and connection counts move together
            totals = {}
            for key, rate in self.rates.items():
                row = self.rows[key]
                new = 2 * rate
                row[0], row[1] = random.randint(0, 3 * rate), random.randint(0, rate)
                row[2] += new
                row[3] += 8 * new
                row[5] += 600 * new
                total = totals.setdefault(key[0], [0] * 7)
                for index in (0, 1, 2, 3, 5):
                    total[index] += row[index]
            for name, total in totals.items():
                self.rows[(name, None, 0)] = total
        return {key: tuple(row) for key, row in self.rows.items()}


class Clients:
    """`count` websocket clients (autobahn on Twisted, in a thread), each a Traffic page of 25 services (client i
    shows page i, wrapping around) on its traffic socket, recording each traffic event's lag from the agent's
    kernel read (the cluster's events with the services' totals and those with the page's real servers)."""

    def __init__(self, url: str, cookie: str, count: int, service_ids: list[int]):
        self.url, self.cookie, self.count = url, cookie, count
        ordered = sorted(service_ids)
        self.pages = [ordered[i : i + 25] for i in range(0, len(ordered), 25)]
        self.lags: list[float] = []
        self.waits: list[float] = []  # from the agent's read to the control worker starting on the batch
        self.events = [0] * count
        self.connected = 0

    def start(self, timeout: float = 180) -> None:
        from autobahn.twisted.websocket import WebSocketClientFactory, WebSocketClientProtocol
        from twisted.internet import reactor

        clients = self
        parsed = urlparse(self.url)

        def protocol_for(index: int):
            class Client(WebSocketClientProtocol):
                def onOpen(self):
                    clients.connected += 1

                def onMessage(self, payload, is_binary):
                    received = time.time()
                    event = json.loads(payload)
                    if event.get("type") == "traffic" and "read_at" in event:
                        clients.lags.append(received - event["read_at"])
                        clients.waits.append(event["at"] - event["read_at"])
                        clients.events[index] += 1

            return Client

        def connect_all():
            for index in range(self.count):
                factory = WebSocketClientFactory(
                    f"ws://{parsed.hostname}:{parsed.port}/ws/clusters/big/traffic/?services="
                    + ",".join(map(str, self.pages[index % len(self.pages)])),
                    origin=f"http://{parsed.hostname}:{parsed.port}",
                    headers={"Cookie": f"sessionid={self.cookie}"},
                )
                factory.protocol = protocol_for(index)
                reactor.connectTCP(parsed.hostname, parsed.port, factory)

        reactor.callWhenRunning(connect_all)
        threading.Thread(target=reactor.run, kwargs={"installSignalHandlers": False}, daemon=True).start()
        deadline = time.monotonic() + timeout
        while self.connected < self.count and time.monotonic() < deadline:
            time.sleep(0.2)
        if self.connected < self.count:
            raise SystemExit(f"only {self.connected} of {self.count} websocket clients connected")


def message_bytes(app, envelope) -> int:
    """How many bytes the broker holds for one traffic task carrying `envelope` (kombu's Redis entry)."""
    import redis

    queue = "bench.traffic.sizes"
    app.send_task("lvsweb.control.traffic", args=[envelope], queue=queue, retry=False)
    client = redis.Redis.from_url(app.conf.broker_url)
    raw = client.lpop(queue)
    client.delete(queue)
    return len(raw or b"")


def lab_read(services: int, dests: int, seconds: int) -> dict:
    """Inside the lab VM: the agent's stats tick on a SERVICES x DESTS table, against ipvsadm reading it."""
    sys.path.insert(0, str(REPO / "bench"))
    from agent_apply import NETNS, document, run, setup_namespace
    from lvsweb_agent.agent import Agent
    from lvsweb_agent.stats import StatsSender

    setup_namespace()
    run("ipvsadm", "-C")
    with Agent(root=tempfile.mkdtemp(prefix="lvsweb-bench-"), netns=NETNS) as agent:
        result = agent.apply(document(services, dests))
        assert result.ok, result.error
    sent = []
    sender = StatsSender(host="bench", send=sent.append, netns=NETNS, interval=1.0)
    walls, cpus = [], []
    try:
        for _ in range(seconds):
            start, cpu = time.perf_counter(), time.thread_time()
            sender.tick()
            walls.append(time.perf_counter() - start)
            cpus.append(time.thread_time() - cpu)
            time.sleep(max(0.0, 1.0 - walls[-1]))
    finally:
        sender.close()
    baseline = run("true")
    ipvsadm = min(run("ipvsadm", "-Ln", "--stats", "--exact") for _ in range(3)) - baseline
    return {
        "services": services,
        "real_servers_per_service": dests,
        "rows": len(sent[0]["rows"]),
        "tick_wall_p50_s": round(statistics.median(walls), 3),
        "tick_wall_p95_s": round(percentile(walls, 0.95), 3),
        "tick_cpu_p50_s": round(statistics.median(cpus), 3),
        "cpu_share_at_1_hz": round(statistics.mean(cpus) / 1.0, 3),
        "ipvsadm_stats_s": round(ipvsadm, 3),
        "tick_vs_ipvsadm": round(statistics.median(walls) / ipvsadm, 2) if ipvsadm > 0 else None,
        "batches": len(sent),
        "delta_rows_mean": round(statistics.mean(len(b["rows"]) for b in sent[1:]), 1) if len(sent) > 1 else None,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--services", type=int, default=1000)
    parser.add_argument("--dests", type=int, default=10)
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--json", help="write the results here too")
    parser.add_argument("--lab-read", action="store_true", help="inside the lab VM: time the agent's kernel read")
    args = parser.parse_args()
    if args.lab_read:
        results = lab_read(args.services, args.dests, args.seconds)
        print(json.dumps(results, indent=2))
        if args.json:
            Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
        return 0

    admin, name = bench_database()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "lvsweb.settings")
    import django

    django.setup()
    from django.core.management import call_command

    workdir = Path(tempfile.mkdtemp(prefix="traffic-bench-"))
    console = worker = None
    try:
        call_command("migrate", verbosity=0)
        from django.db import connection
        from django.test import Client
        from lvsweb_agent.envelope import seal
        from lvsweb_agent.sequence import ReportSequence
        from lvsweb_agent.stats import BatchEncoder
        from lvsweb_agent.worker import CONTROL_QUEUE, TRAFFIC_TASK

        from lvsweb.celery import app
        from tests.browser.server import ConsoleServer, ControlWorker
        from tests.dispatch.broker import purge

        key, user, services, service_ids = make_inventory(args.services, args.dests)
        sequence = ReportSequence(workdir)  # as the agent stamps its batches (the console refuses replays)
        client = Client()
        client.force_login(user)
        cookie = client.cookies["sessionid"].value
        connection.close()
        purge(CONTROL_QUEUE)
        console, worker = ConsoleServer(workdir), ControlWorker(workdir)
        console.wait_ready()
        worker.wait_ready()
        clients = Clients(console.url, cookie, args.clients, service_ids)
        clients.start()

        kernel = Kernel(services, args.dests)
        encoder = BatchEncoder("director", 1.0)
        sizes, agent_cpu, rows_sent = [], 0.0, []
        full_bytes = delta_bytes = None
        cpu_before = {"worker": cpu_seconds(worker.process.pid), "daphne": cpu_seconds(console.process.pid)}
        started = time.monotonic()
        for tick in range(args.seconds):
            table = kernel.read()
            at = time.time()
            cpu = time.thread_time()
            batch = encoder.encode(table, at)
            envelope = seal(sequence.stamp(batch), key, signer="director")
            agent_cpu += time.thread_time() - cpu
            app.send_task(TRAFFIC_TASK, args=[envelope], queue=CONTROL_QUEUE, retry=False, expires=30)
            rows_sent.append(len(batch["rows"]))
            body = len(json.dumps(envelope))
            sizes.append(body)
            if batch["full"] and full_bytes is None:
                full_bytes = (body, message_bytes(app, envelope))
            elif batch["rows"] and not batch["full"] and delta_bytes is None:
                delta_bytes = (body, message_bytes(app, envelope))
            time.sleep(max(0.0, started + tick + 1 - time.monotonic()))
        time.sleep(5)  # let the last batches through
        elapsed = time.monotonic() - started
        cpu_after = {"worker": cpu_seconds(worker.process.pid), "daphne": cpu_seconds(console.process.pid)}
        import redis

        backlog = redis.Redis.from_url(app.conf.broker_url).llen(CONTROL_QUEUE)
        # kombu's Redis entry = envelope JSON, base64'd in a Celery message: scale each batch by the measured ratio
        ratio = statistics.mean(raw / body for body, raw in (full_bytes, delta_bytes) if body)
        lags = clients.lags
        results = {
            "services": args.services,
            "real_servers_per_service": args.dests,
            "seconds": args.seconds,
            "clients": args.clients,
            "rows_per_full_table": len(kernel.rows),
            "rows_per_batch_mean": round(statistics.mean(rows_sent), 1),
            "agent_encode_sign_cpu_share": round(agent_cpu / args.seconds, 4),
            "control_worker_cpu_share": round((cpu_after["worker"] - cpu_before["worker"]) / elapsed, 3),
            "daphne_cpu_share": round((cpu_after["daphne"] - cpu_before["daphne"]) / elapsed, 3),
            "broker_bytes_per_second": round(sum(sizes) * ratio / args.seconds),
            "full_batch_bytes": full_bytes,
            "delta_batch_bytes": delta_bytes,
            "lag_p50_s": round(percentile(lags, 0.5), 3),
            "lag_p95_s": round(percentile(lags, 0.95), 3),
            "lag_max_s": round(max(lags), 3) if lags else None,
            "read_to_worker_p50_s": round(percentile(clients.waits, 0.5), 3),
            "read_to_worker_p95_s": round(percentile(clients.waits, 0.95), 3),
            "events_per_client_min": min(clients.events),
            "events_per_client_max": max(clients.events),
            "control_backlog_at_end": backlog,
            "lags_of_the_first_events": [round(lag, 3) for lag in lags[: 3 * args.clients]],
        }
        print(json.dumps(results, indent=2))
        if args.json:
            Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
        return 0
    finally:
        for process in (worker, console):
            if process is not None:
                process.stop()
        from django.db import connections

        connections.close_all()
        drop_database(admin, name)


if __name__ == "__main__":
    sys.exit(main())
