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

Scaled out (docs/scaling.md): `--directors D` shares the services out between D clusters, one director each,
played side by side; `--workers N` (N > 1) runs the router on `control` and N partition workers instead of one
worker; `--load K` runs K CPU-bound processes (`python -c 'while 1: pass'`) beside it all, named in the output
with the load average seen while they ran.

The control plane's cost per batch alone: `--profile [FILE]` takes the same busy director's batches in this
process with `handle_batch` at 1 Hz (no daphne, pages or broker) and reports its CPU per batch and that of the
PostgreSQL backend serving it (from /proc: the database on this machine), with a cProfile
of them in FILE when given (bench/README.md).

Reported: the agent's CPU for encoding and signing (share of one core), the control worker's and daphne's
CPU (from /proc), bytes per second through the broker (the Redis list entries as kombu writes them), and
the lag from the agent's read of the kernel to each websocket client (p50/p95/max), plus how many events
each client got, the control queues' backlog at the end, and the batches sent and taken in per second
(a batch not taken in on its own was merged into its director's next one: the workers were behind).
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

from throwaway import bench_database, drop_database  # bench/, this script's folder

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


def make_inventory(services: int, dests: int, directors: int = 1):
    """DIRECTORS clusters `big-<i>` (`big` when there is one), SERVICES TCP services x DESTS TUN real servers
    shared out between them, each cluster with one enrolled director `director-<i>`. Returns the viewer and,
    per director: (hostname, its key, its cluster's slug, [(kernel service key, port)], [service ids])."""
    from django.contrib.auth import get_user_model
    from lvsweb_agent.envelope import generate_private_key, public_key_text

    from clusters.choices import HostRole
    from clusters.models import Cluster, ClusterHost, Host, RealServer, VirtualService
    from teams.models import Membership, Team

    team = Team.objects.create(name="Bench", slug="bench")
    made_directors = []
    for index in range(directors):
        suffix = "" if directors == 1 else f"-{index}"
        key = generate_private_key()
        cluster = Cluster.objects.create(team=team, name=f"big{suffix}", slug=f"big{suffix}")
        director = Host.objects.create(
            team=team,
            hostname=f"director{suffix}",
            management_address=f"192.0.2.{1 + index}",
            public_key=public_key_text(key),
        )
        ClusterHost.objects.create(cluster=cluster, host=director, role=HostRole.DIRECTOR)
        vip = f"10.10.{index}.101"
        count = services // directors + (1 if index < services % directors else 0)
        made = VirtualService.objects.bulk_create(
            [
                VirtualService(cluster=cluster, protocol="tcp", address=vip, port=10001 + i, scheduler="wlc")
                for i in range(count)
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
        made_directors.append(
            (
                director.hostname,
                key,
                cluster.slug,
                [(f"tcp {vip}:{s.port}", s.port) for s in made],
                [s.pk for s in made],
            )
        )
    user = get_user_model().objects.create_user("bench-viewer")  # signs in by session only
    Membership.objects.create(team=team, user=user, role="viewer")
    return user, made_directors


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
    """`count` websocket clients (autobahn on Twisted, in a thread), each a Traffic page of 25 services on its
    traffic socket (client i shows cluster i mod D, and of it page i div D, wrapping around), recording each
    traffic event's lag from the agent's kernel read (the cluster's events with the services' totals and those
    with the page's real servers), and which batches (director, time taken in) reached any page."""

    def __init__(self, url: str, cookie: str, count: int, clusters: list[tuple[str, list[int]]]):
        self.url, self.cookie, self.count = url, cookie, count
        self.pages = []
        for index in range(count):
            slug, service_ids = clusters[index % len(clusters)]
            ordered = sorted(service_ids)
            pages = [ordered[i : i + 25] for i in range(0, len(ordered), 25)]
            self.pages.append((slug, pages[(index // len(clusters)) % len(pages)]))
        self.lags: list[float] = []
        self.waits: list[float] = []  # from the agent's read to the control worker starting on the batch
        self.events = [0] * count
        self.batches: set[tuple[int, float]] = set()
        self.connected = 0

    def start(self, timeout: float = 180) -> None:
        from autobahn.twisted.websocket import WebSocketClientFactory, WebSocketClientProtocol
        from twisted.internet import reactor

        clients = self
        parsed = urlparse(self.url)

        def protocol_for(index: int):
            class Client(WebSocketClientProtocol):
                opened = False

                def onOpen(self):
                    self.opened = True
                    clients.connected += 1

                def onClose(self, was_clean, code, reason):
                    # On a loaded machine daphne may give up on a handshake (websocket_connect_timeout): again.
                    if not self.opened:
                        reactor.callLater(1.0, connect, index)

                def onMessage(self, payload, is_binary):
                    received = time.time()
                    event = json.loads(payload)
                    if event.get("type") == "traffic" and "read_at" in event:
                        clients.lags.append(received - event["read_at"])
                        clients.waits.append(event["at"] - event["read_at"])
                        clients.events[index] += 1
                        clients.batches.add((event["host_id"], event["read_at"]))

            return Client

        def connect(index: int) -> None:
            slug, page = self.pages[index]
            factory = WebSocketClientFactory(
                f"ws://{parsed.hostname}:{parsed.port}/ws/clusters/{slug}/traffic/?services="
                + ",".join(map(str, page)),
                origin=f"http://{parsed.hostname}:{parsed.port}",
                headers={"Cookie": f"sessionid={self.cookie}"},
            )
            factory.protocol = protocol_for(index)
            reactor.connectTCP(parsed.hostname, parsed.port, factory)

        def connect_all():
            for index in range(self.count):  # pages open one after the other, not all in the same instant
                reactor.callLater(0.1 * index, connect, index)

        reactor.callWhenRunning(connect_all)
        threading.Thread(target=reactor.run, kwargs={"installSignalHandlers": False}, daemon=True).start()
        deadline = time.monotonic() + timeout
        while self.connected < self.count and time.monotonic() < deadline:
            time.sleep(0.2)
        if self.connected < self.count:
            raise SystemExit(f"only {self.connected} of {self.count} websocket clients connected")


class Load:
    """`count` CPU-bound processes beside the bench (`python -c 'while 1: pass'`), and the machine's load
    average sampled while they run."""

    COMMAND = "while 1: pass"

    def __init__(self, count: int):
        import subprocess

        self.count = count
        self.processes = [subprocess.Popen([sys.executable, "-c", self.COMMAND]) for _ in range(count)]
        self.samples: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.samples.append(float(Path("/proc/loadavg").read_text().split()[0]))
            self._stop.wait(5)

    def stop(self) -> None:
        self._stop.set()
        for process in self.processes:
            process.kill()
            process.wait()

    def describe(self) -> str:
        return f"{self.count} x python -c '{self.COMMAND}'" if self.count else "none added"


def start_workers(workdir: Path, workers: int) -> list:
    """One control worker on `control`, or (WORKERS > 1) the router on `control` and one worker per partition
    queue (LVSWEB_CONTROL_PARTITIONS, set before Django started: docs/scaling.md)."""
    from tests.browser.server import ControlWorker

    if workers == 1:
        return [ControlWorker(workdir)]
    started = [ControlWorker(workdir, queues="control", name="router")]
    for index in range(workers):
        queues = f"control.{index}" + (",control.jobs" if index == 0 else "")
        started.append(ControlWorker(workdir, queues=queues, name=f"control-{index}"))
    return started


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


def profile(services: int, dests: int, seconds: int, out: str | None) -> dict:
    """The control plane's CPU per busy batch, in this process and in the PostgreSQL backend serving it: the
    bench's busy kernel, encoded and signed as the agent does, taken in by `handle_batch` at 1 Hz (no broker,
    no pages), with a cProfile of every batch
    after the first (full) one written to `out` (sorted by cumulative time) when given."""
    import cProfile
    import pstats

    from django.db import connection
    from lvsweb_agent.envelope import seal
    from lvsweb_agent.sequence import ReportSequence
    from lvsweb_agent.stats import BatchEncoder

    from tests.dispatch.broker import purge
    from traffic.actions import handle_batch

    purge("control")  # a task left there would hold every batch back (traffic.pending)
    _, directors = make_inventory(services, dests)
    with connection.cursor() as cursor:  # the PostgreSQL backend serving this process, on this machine
        cursor.execute("SELECT pg_backend_pid()")
        backend = cursor.fetchone()[0]
    hostname, key, _, kernel_services, _ = directors[0]
    kernel = Kernel(kernel_services, dests)
    encoder = BatchEncoder(hostname, 1.0)
    workdir = Path(tempfile.mkdtemp(prefix="traffic-profile-"))
    sequence = ReportSequence(workdir)
    profiler = cProfile.Profile()
    cpus, server_cpus, results = [], [], []
    started = time.monotonic()
    for tick in range(seconds):
        envelope = seal(sequence.stamp(encoder.encode(kernel.read(), time.time())), key, signer=hostname)
        cpu, server_cpu = time.process_time(), cpu_seconds(backend)
        if tick:
            profiler.enable()
        results.append(handle_batch(envelope))
        if tick:
            profiler.disable()
            cpus.append(time.process_time() - cpu)
            server_cpus.append(cpu_seconds(backend) - server_cpu)
        time.sleep(max(0.0, started + tick + 1 - time.monotonic()))
    if out:
        with open(out, "w") as stream:
            pstats.Stats(profiler, stream=stream).sort_stats("cumulative").print_stats(40)
    return {
        "services": services,
        "real_servers_per_service": dests,
        "batches": seconds,
        "results": {result: results.count(result) for result in set(results)},
        "cpu_per_busy_batch_mean_s": round(statistics.mean(cpus), 4),
        "cpu_per_busy_batch_p50_s": round(statistics.median(cpus), 4),
        "cpu_per_busy_batch_max_s": round(max(cpus), 4),
        "postgres_cpu_per_busy_batch_mean_s": round(statistics.mean(server_cpus), 4),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--services", type=int, default=1000)
    parser.add_argument("--dests", type=int, default=10)
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument(
        "--directors", type=int, default=1, help="share the services out between this many clusters, one director each"
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="control workers: 1 on `control`, or more as partitions behind the router (LVSWEB_CONTROL_PARTITIONS)",
    )
    parser.add_argument("--load", type=int, default=0, help="CPU-bound processes to run beside the bench")
    parser.add_argument("--json", help="write the results here too")
    parser.add_argument("--lab-read", action="store_true", help="inside the lab VM: time the agent's kernel read")
    parser.add_argument(
        "--profile",
        metavar="FILE",
        nargs="?",
        const="",
        help="only the control plane's CPU per batch, in this process (a cProfile to FILE when given)",
    )
    args = parser.parse_args()
    if args.lab_read:
        results = lab_read(args.services, args.dests, args.seconds)
        print(json.dumps(results, indent=2))
        if args.json:
            Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
        return 0

    if args.profile is not None:
        admin, name, _ = bench_database("traffic_profile")
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "lvsweb.settings")
        import django

        django.setup()
        from django.core.management import call_command

        try:
            call_command("migrate", verbosity=0)
            results = profile(args.services, args.dests, args.seconds, args.profile or None)
            print(json.dumps(results, indent=2))
            return 0
        finally:
            from django.db import connections

            connections.close_all()
            drop_database(admin, name)

    admin, name, _ = bench_database("traffic_bench")
    os.environ["LVSWEB_CONTROL_PARTITIONS"] = str(args.workers)  # the console's processes inherit it
    # A channel layer of this run's own: pages of an earlier run that was killed stay members of the groups
    # (of the same cluster ids) for a day, and every event would be copied to them too.
    os.environ["CHANNELS_PREFIX"] = prefix = f"lvsweb:bench:{os.getpid()}"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "lvsweb.settings")
    import django

    django.setup()
    from django.core.management import call_command

    workdir = Path(tempfile.mkdtemp(prefix="traffic-bench-"))
    console, workers, load = None, [], None
    try:
        call_command("migrate", verbosity=0)
        import redis
        from django.db import connection
        from django.test import Client
        from lvsweb_agent.envelope import seal
        from lvsweb_agent.sequence import ReportSequence
        from lvsweb_agent.stats import BatchEncoder
        from lvsweb_agent.worker import CONTROL_QUEUE, TRAFFIC_TASK

        from lvsweb.celery import app
        from tests.browser.server import ConsoleServer
        from tests.dispatch.broker import purge

        user, directors = make_inventory(args.services, args.dests, args.directors)
        client = Client()
        client.force_login(user)
        cookie = client.cookies["sessionid"].value
        connection.close()
        queues = [CONTROL_QUEUE, "control.jobs", *(f"control.{k}" for k in range(args.workers))]
        purge(*queues)
        console = ConsoleServer(workdir)
        workers = start_workers(workdir, args.workers)
        console.wait_ready()
        for worker in workers:
            worker.wait_ready()
        clients = Clients(console.url, cookie, args.clients, [(slug, ids) for _, _, slug, _, ids in directors])
        clients.start()

        agents = []
        for hostname, key, _, services, _ in directors:
            (workdir / hostname).mkdir()
            # As each agent stamps its batches (the console refuses replays).
            agents.append((hostname, key, Kernel(services, args.dests), BatchEncoder(hostname, 1.0),
                           ReportSequence(workdir / hostname)))  # fmt: skip
        load = Load(args.load)
        sizes, agent_cpu, rows_sent = [], 0.0, []
        full_bytes = delta_bytes = None
        pids = {"daphne": console.process.pid, **{w.log.stem: w.process.pid for w in workers}}
        cpu_before = {name: cpu_seconds(pid) for name, pid in pids.items()}
        started = time.monotonic()
        for tick in range(args.seconds):
            for hostname, key, kernel, encoder, sequence in agents:
                table = kernel.read()
                at = time.time()
                cpu = time.thread_time()
                batch = encoder.encode(table, at)
                envelope = seal(sequence.stamp(batch), key, signer=hostname)
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
        sent_for = time.monotonic() - started
        taken_while_sending = len(clients.batches)
        time.sleep(5)  # let the last batches through
        elapsed = time.monotonic() - started
        cpu_after = {name: cpu_seconds(pid) for name, pid in pids.items()}
        load.stop()
        broker = redis.Redis.from_url(app.conf.broker_url)
        backlog = sum(broker.llen(queue) for queue in queues)
        # kombu's Redis entry = envelope JSON, base64'd in a Celery message: scale each batch by the measured ratio
        ratio = statistics.mean(raw / body for body, raw in (full_bytes, delta_bytes) if body)
        lags = clients.lags
        share = {name: round((cpu_after[name] - cpu_before[name]) / elapsed, 3) for name in pids}
        sent = args.seconds * len(agents)
        results = {
            "services": args.services,
            "real_servers_per_service": args.dests,
            "directors": len(agents),
            "control_workers": args.workers,
            "added_load": load.describe(),
            "load_average_1min": [min(load.samples), max(load.samples)] if load.samples else None,
            "seconds": args.seconds,
            "clients": args.clients,
            "rows_per_full_table": sum(len(kernel.rows) for _, _, kernel, _, _ in agents),
            "rows_per_batch_mean": round(statistics.mean(rows_sent), 1),
            "agent_encode_sign_cpu_share": round(agent_cpu / args.seconds, 4),
            "control_worker_cpu_share": round(sum(v for k, v in share.items() if k != "daphne"), 3),
            # The workers' CPU over the run divided by the batches they took in (a merged one counts once).
            "control_cpu_per_batch_s": round(
                sum(cpu_after[k] - cpu_before[k] for k in pids if k != "daphne") / max(len(clients.batches), 1), 3
            ),
            "cpu_share_per_process": share,
            "daphne_cpu_share": share["daphne"],
            "broker_bytes_per_second": round(sum(sizes) * ratio / args.seconds),
            "full_batch_bytes": full_bytes,
            "delta_batch_bytes": delta_bytes,
            "batches_sent_per_s": round(sent / sent_for, 2),
            # Every batch not taken in on its own was merged into its director's next one (traffic/pending.py).
            "batches_taken_in_per_s": round(taken_while_sending / sent_for, 2),
            "batches_taken_in_share": round(len(clients.batches) / sent, 3),
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
        if load is not None:
            load.stop()
        for process in (*workers, console):
            if process is not None:
                process.stop()
        from django.db import connections

        connections.close_all()
        drop_database(admin, name)
        forget_channel_layer(prefix)


def forget_channel_layer(prefix: str) -> None:
    """Delete this run's channel layer keys (groups, channels) from Redis."""
    import redis

    client = redis.Redis.from_url(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
    for key in client.scan_iter(match=f"{prefix}:*", count=1000):
        client.delete(key)


if __name__ == "__main__":
    sys.exit(main())
