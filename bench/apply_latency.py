"""Apply latency: from the API's apply call to the kernel state on the director, in the lab.

    make bench-apply                                  # 20 runs each, 1,000 services x 10 real servers
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/lvsweb REDIS_URL=redis://127.0.0.1:6379/12 \\
        .venv/bin/python bench/apply_latency.py --runs 20 --json /tmp/apply-latency.json

Runs on this machine, like the full-stack lab test (tests/lab_fullstack, whose machinery it reuses): a
throw-away database (`<DATABASE_URL's name>_apply_bench`, created and dropped), daphne and a control worker
here, and the lab VM with the director's agent (`lvsweb-agent --netns director run`) reaching this machine's
Redis and console only through the restricted forwards.

Two cases, each `--runs` times:

- **one weight change**: cluster `weight` (one TUN service, two real servers); each run PATCHes one real
  server's weight through the API, then times `POST /api/clusters/weight/apply/`. Reference in the same run:
  `ipvsadm -e` setting the same weight in the VM (process start-up subtracted).
- **1,000-service cluster**: cluster `big` (`--services` TCP services x `--dests` TUN real servers) on the
  same director; before each run the director's table is emptied (`ipvsadm -C`, not timed), so every run
  installs the whole table. Reference in the same run: `ipvsadm-restore` of the same table, from empty.

The end point is the kernel itself: an observer in the VM (tests/lab_fullstack/observer.py) polls the
director's IPVS table over netlink and timestamps the first poll at which it matches, converted to this
machine's clock through Redis `TIME` exchanges. Also reported: when the API answered, and when the
console recorded the agent's `applied` report (the deployment's finished_at). Results: docs/performance.md.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

VIP, BIG_VIP = "10.10.0.100", "10.10.0.101"
REAL_SERVERS = [f"10.20.0.{11 + j}" for j in range(10)]  # routable from the director's namespace
BIG_FIRST_PORT = 10001
QUEUES = ("control", "lvsweb.host.director")


def percentile(values: list[float], share: float) -> float:
    """Nearest-rank percentile (p95 of 20 values is the 19th smallest)."""
    ordered = sorted(values)
    return ordered[max(math.ceil(share * len(ordered)) - 1, 0)]


def summary(values: list[float]) -> dict:
    return {
        "p50": round(percentile(values, 0.5), 3),
        "p95": round(percentile(values, 0.95), 3),
        "min": round(min(values), 3),
        "max": round(max(values), 3),
        "mean": round(statistics.fmean(values), 3),
    }


def restore_text(expected: list) -> str:
    """The table as `ipvsadm-restore` input (what `ipvsadm-save -n` prints for it)."""
    lines = []
    for address, port, dests in expected:
        lines.append(f"-A -t {address}:{port} -s rr")
        lines += [
            f"-a -t {address}:{port} -r {rs}:{rs_port} -i -w {weight} --tun-type ipip" for rs, rs_port, weight in dests
        ]
    return "\n".join(lines) + "\n"


class Bench:
    """The console, the lab VM and the runs."""

    def __init__(self, console, guest, explain):
        self.console, self.guest, self.explain = console, guest, explain

    def measure(self, slug: str, expected: list, probe: list, timeout: float) -> dict:
        """One timed apply of cluster SLUG: the observer watches for EXPECTED before the API is called."""
        from dispatch.models import Deployment
        from tests.lab_fullstack.stack import wait_for

        self.guest.send("watch", expected=expected, probe=probe, timeout=timeout)
        ready = self.guest.answer(timeout=300)
        assert not ready["matched_already"], "the director already had the expected table: nothing to time"
        called = time.time()
        revision = self.console.post(f"clusters/{slug}/apply/", expect=202)
        answered = time.time()
        seen = self.guest.answer(timeout=timeout + 120)
        [deployment] = revision["deployments"]

        def finished():
            row = Deployment.objects.get(pk=deployment["id"])
            return row if row.status not in ("pending", "applying") else None

        row = wait_for(finished, timeout, "the director's applied report", self.explain, interval=0.2)
        assert row.status == "applied", f"revision {revision['number']}: {row.status} {row.error}"
        return {
            "revision": revision["number"],
            "kernel_s": round(seen["matched_at"] - called, 3),
            "api_response_s": round(answered - called, 3),
            "applying_report_s": round(row.started_at.timestamp() - called, 3) if row.started_at else None,
            "applied_report_s": round(row.finished_at.timestamp() - called, 3),
            "resolution_s": round(seen["resolution"], 3),
            "clock_uncertainty_s": round(seen["uncertainty"], 4),
            "probe_early": seen["probe_early"],
        }


def weight_runs(bench: Bench, rs_id: int, runs: int) -> list[dict]:
    samples = []
    for run in range(runs):
        weight = 2 + run % 2  # starts at 1: every run changes it
        bench.console.call("PATCH", f"real-servers/{rs_id}/", weight=weight)
        expected = [[VIP, 80, [[REAL_SERVERS[0], 80, 1], [REAL_SERVERS[1], 80, weight]]]]
        sample = bench.measure("weight", expected, [VIP, 80], timeout=300)
        target = ["-e", "-t", f"{VIP}:80", "-r", f"{REAL_SERVERS[1]}:80", "-i", "-w", str(weight)]
        sample["reference_s"] = round(bench.guest.ask("timed", args=target), 4)  # the same weight: no drift
        samples.append(sample)
        print(f"weight change {run + 1}/{runs}: {json.dumps(sample)}", flush=True)
    return samples


def big_runs(bench: Bench, name: str, expected: list, runs: int) -> list[dict]:
    text = restore_text(expected)
    probe = expected[-1][:2]  # the agent writes services in (address, port) order: this one comes last
    samples = []
    for run in range(runs):
        bench.guest.ask("ipvsadm", args=["-C"])
        reference = bench.guest.ask("timed", args=["ipvsadm-restore"], stdin=text, timeout=1200)
        if run == 0:
            loaded = bench.guest.ask("ipvsadm", args=["-Sn"])  # in the kernel's hash order
            missing = set(text.splitlines()) ^ set(loaded.splitlines())
            assert not missing, f"ipvsadm-restore loaded another table: {sorted(missing)[:6]}"
        bench.guest.ask("ipvsadm", args=["-C"])
        sample = bench.measure("big", expected, probe, timeout=1200)
        sample["reference_s"] = round(reference, 3)
        samples.append(sample)
        print(f"{name} {run + 1}/{runs}: {json.dumps(sample)}", flush=True)
    return samples


def build_big(user, services: int, dests: int):
    """Cluster `big` through the actions (audited like any change; the API would take 11,000 requests)."""
    from clusters.actions import create_cluster, create_real_server, create_virtual_service
    from teams.models import Team

    cluster = create_cluster(
        acting_user=user, fields={"team": Team.objects.get(slug="bench"), "name": "big", "slug": "big"}
    )
    for index in range(services):
        service = create_virtual_service(
            acting_user=user,
            cluster=cluster,
            fields={
                "protocol": "tcp",
                "address": BIG_VIP,
                "port": BIG_FIRST_PORT + index,
                "scheduler": "rr",
                "forward_method": "tun",
            },
        )
        for address in REAL_SERVERS[:dests]:
            create_real_server(acting_user=user, virtual_service=service, fields={"address": address, "weight": 1})
    return cluster


def table(results: dict) -> str:
    rows = [
        "| case | runs | kernel p50 | kernel p95 | API answer p50 | applying report p50 | applied report p50 "
        "| reference p50 | ratio (p50) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, samples in results["cases"].items():
        kernel = summary([s["kernel_s"] for s in samples])
        applying = summary([s["applying_report_s"] for s in samples if s["applying_report_s"] is not None] or [0])
        report = summary([s["applied_report_s"] for s in samples])
        response = summary([s["api_response_s"] for s in samples])
        reference = summary([s["reference_s"] for s in samples])
        ratio = kernel["p50"] / reference["p50"] if reference["p50"] else float("inf")
        rows.append(
            f"| {name} | {len(samples)} | {kernel['p50']:.2f} s | {kernel['p95']:.2f} s | {response['p50']:.2f} s "
            f"| {applying['p50']:.2f} s | {report['p50']:.2f} s "
            f"| {reference['p50']:.3f} s ({results['references'][name]}) | {ratio:.1f}x |"
        )
    return "\n".join(rows)


def run(args, workdir: Path) -> dict:
    import redis
    from django.conf import settings

    from accounts.actions import create_api_token
    from clusters.actions import assign_host_role
    from clusters.models import Cluster, Host
    from tests.dispatch.broker import purge
    from tests.factories import make_member, make_team, make_user
    from tests.lab_fullstack.stack import (
        Console,
        console_env,
        guest_broker_url,
        start_console,
        start_guest,
        wait_for,
    )

    agent_broker_url, redis_port = guest_broker_url(settings.REDIS_URL)
    purge(*QUEUES)
    # The console's default heartbeat (10 s): a heartbeat plans the held document against the kernel under
    # the agent's lock, so an apply that arrives meanwhile waits, as it would in production.
    port, services = start_console(console_env(agent_broker_url), workdir, "apply-bench-control")
    broker = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=60)
    key = f"lvsweb:apply-bench:{uuid.uuid4().hex}"
    guest = None
    try:
        user = make_user(staff=False)
        make_member(user, team=make_team(name="Bench", slug="bench"), role="owner")
        _, token = create_api_token(acting_user=None, user=user, name="apply latency benchmark")
        console = Console(f"http://127.0.0.1:{port}", token)
        console.post("clusters/", team="bench", name="weight", slug="weight", drain_timeout=10)
        director = console.post(
            "hosts/", team="bench", hostname="director", management_address="10.10.0.2", vip_interface="eth0"
        )
        console.post("cluster-hosts/", cluster="weight", host="director", role="director")
        service = console.post(
            "virtual-services/", cluster="weight", protocol="tcp", address=VIP, port=80, scheduler="rr"
        )
        changed = [
            console.post("real-servers/", virtual_service=service["id"], address=address, weight=1)
            for address in REAL_SERVERS[:2]
        ][1]
        tokens = {"director": console.post(f"hosts/{director['id']}/enrollment-token/")["token"]}
        broker.set(f"{key}:tokens", json.dumps(tokens), ex=4 * 3600)
        guest = start_guest(
            "tests/lab_fullstack/guest.py",
            broker=broker,
            agent_broker_url=agent_broker_url,
            redis_port=redis_port,
            console_port=port,
            key=key,
            logs=workdir,
        )
        started = time.monotonic()

        def explain() -> str:
            return "\n".join([guest.agent_logs(), *(s.output() for s in services), guest.vm.output(3000)])

        if args.only != "weight":
            # While the VM boots: the big cluster (not yet on the director: the weight runs see one service).
            build_big(user, args.services, args.dests)
            print(
                f"cluster big: {args.services} x {args.dests} built in {time.monotonic() - started:.0f} s", flush=True
            )
        assert guest.answer(timeout=1200) == "ready"
        wait_for(
            lambda: console.hosts()["director"]["agent_status"] == "online",
            400,
            "the director's agent online",
            explain,
            interval=2,
        )
        print(f"director online after {time.monotonic() - started:.0f} s", flush=True)
        bench = Bench(console, guest, explain)
        # Revision 1 of `weight` (not timed): the agent's first apply loads modules and adds the VIP.
        bench.measure("weight", [[VIP, 80, [[REAL_SERVERS[0], 80, 1], [REAL_SERVERS[1], 80, 1]]]], [VIP, 80], 600)
        cases, references = {}, {}
        cases["one weight change"] = weight_runs(bench, changed["id"], args.runs)
        references["one weight change"] = "ipvsadm -e"
        if args.only == "weight":
            assert guest.ask("quit") == "bye"
            return {"cases": cases, "references": references}

        assign_host_role(
            acting_user=user,
            cluster=Cluster.objects.get(slug="big"),
            host=Host.objects.get(hostname="director"),
            role="director",
        )
        final_weight = 2 + (args.runs - 1) % 2 if args.runs else 1
        expected = [[VIP, 80, [[REAL_SERVERS[0], 80, 1], [REAL_SERVERS[1], 80, final_weight]]]]
        expected += [
            [BIG_VIP, port_, [[address, port_, 1] for address in REAL_SERVERS[: args.dests]]]
            for port_ in range(BIG_FIRST_PORT, BIG_FIRST_PORT + args.services)
        ]
        name = f"{args.services}-service cluster"
        cases[name] = big_runs(bench, name, expected, args.runs)
        references[name] = "ipvsadm-restore"
        assert guest.ask("quit") == "bye"
        return {"cases": cases, "references": references}
    finally:
        if guest is not None:
            guest.vm.stop(timeout=60)
            guest.forget()
        for service in reversed(services):
            service.stop()
        purge(*QUEUES)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20, help="timed applies per case (default 20)")
    parser.add_argument("--services", type=int, default=1000, help="services in the big cluster (default 1000)")
    parser.add_argument("--dests", type=int, default=10, help="real servers per service, at most 10 (default 10)")
    parser.add_argument(
        "--only", choices=("weight",), help="run only the weight-change case (the big cluster is not built)"
    )
    parser.add_argument("--json", help="also write every sample and the summary as JSON to this file")
    args = parser.parse_args()
    if not 1 <= args.dests <= len(REAL_SERVERS):
        parser.error(f"--dests must be between 1 and {len(REAL_SERVERS)}")
    workdir = Path(tempfile.mkdtemp(prefix="lvsweb-apply-bench-"))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "lvsweb.settings")
    os.environ.setdefault("LVSWEB_CONTROL_SIGNING_KEY_FILE", str(workdir / "control-signing-key.pem"))
    os.environ.setdefault("LVSWEB_LAB_TIMEOUT", "7200")  # the VM's lifetime: 20 x 2 runs take most of an hour
    import django

    django.setup()
    from django.db import connection
    from django.test.utils import setup_databases, teardown_databases

    from tests.lab_fullstack.stack import lab_missing

    missing = lab_missing()
    if missing:
        print(f"apply_latency.py: the lab VM needs {missing}", file=sys.stderr)
        return 2
    connection.settings_dict["TEST"]["NAME"] = f"{connection.settings_dict['NAME']}_apply_bench"
    databases = setup_databases(verbosity=0, interactive=False)
    load_before = os.getloadavg()
    try:
        results = run(args, workdir)
    finally:
        connection.close()
        teardown_databases(databases, verbosity=0)
    load = {"start": [round(x, 2) for x in load_before], "end": [round(x, 2) for x in os.getloadavg()]}
    results["machine"] = {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "logs": str(workdir),
        "load": load,
    }
    for name, samples in results["cases"].items():
        results.setdefault("summary", {})[name] = {
            field: summary([s[field] for s in samples])
            for field in ("kernel_s", "applied_report_s", "api_response_s", "reference_s")
        }
    print(table(results))
    print(f"load average (1, 5, 15 min) at the start {load['start']}, at the end {load['end']}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
