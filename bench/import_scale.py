"""Bulk import and creating through the API: server time and queries (issue 19, targets 5 and 6).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/lvsweb REDIS_URL=redis://127.0.0.1:6379/12 \\
        .venv/bin/python bench/import_scale.py --services 100 --dests 11 --json /tmp/import.json

Runs on this machine against a throw-away database (`<DATABASE_URL's name>_import_bench`): one team, an
operator, and for each run a fresh empty cluster. Every request goes through Django's test Client (the whole
stack below the socket: middleware, session, view, serializer, action, audit), signed in as the operator.

- Import: keepalived.conf of a large site (tests/interchange/helpers.py `large_site`: S TUN services x D real
  servers, a TCP check per service and an HTTP check on each service's last real server), POSTed to
  /api/clusters/SLUG/import/ as a dry run (the preview) and then committed, `--repeat` times each on fresh
  clusters: median server time, SQL queries, and objects per second. The commit's audit entries are counted
  (one per object and the summary) and the whole chain is verified afterwards (`verify_audit`).
- Creating through the API: `--creates` POSTs to /api/virtual-services/ and as many to /api/real-servers/:
  median milliseconds and queries per object.

The reference tool for an import is `ipvsadm-restore` of the same rules, which needs the lab VM's kernel
(bench/agent_apply.py measures it there: 1,000 x 10 in ~2.7-10 s under emulation, see docs/performance.md);
this bench runs on the host, so it prints the figures measured before this change (issue 19) beside its own.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from throwaway import bench_database, drop_database  # bench/, this script's folder

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

#: Measured before the bulk import (issue 19 and docs/performance.md): 1,200 objects in ~20 s at ~12 queries
#: per object; creating through the API 17.5 ms and 14 queries per object.
BEFORE = {"import_s_per_1200": 20.0, "import_queries_per_object": 12, "create_ms": 17.5, "create_queries": 14}


def timed(client, method: str, path: str, body: dict) -> tuple[int, dict, float, float, int]:
    """(status, answer, seconds, console CPU seconds, queries) of one request.

    The CPU time is this process's (the console's Python: the whole request runs here), without
    PostgreSQL's: on a loaded machine it shows what the console itself costs when the wall time does not.
    """
    from django.db import connection

    queries = 0

    def count(execute, sql, params, many, context):
        # Counted here rather than from Django's query log, which keeps only the last 9,000.
        nonlocal queries
        queries += 1
        return execute(sql, params, many, context)

    with connection.execute_wrapper(count):
        started, cpu = time.perf_counter(), time.process_time()
        response = getattr(client, method)(path, data=json.dumps(body), content_type="application/json")
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    return response.status_code, response.json(), elapsed, cpu, queries


def new_cluster(team, serial: int):
    from clusters.models import Cluster

    return Cluster.objects.create(team=team, name=f"import {serial}", slug=f"import-{serial}")


def bench_import(client, team, services: int, dests: int, repeat: int) -> dict:
    """Preview and commit of a large site's keepalived.conf, `repeat` times each on fresh clusters."""
    from audit.models import AuditEntry
    from tests.interchange.helpers import large_site

    text = large_site(services, dests)
    objects = services + services * dests
    checks = services * 2
    rows: dict[str, list] = {"preview": [], "commit": []}
    for run in range(repeat):
        cluster = new_cluster(team, run)
        for dry_run in (True, False):
            before = AuditEntry.objects.count()
            status, answer, seconds, cpu, queries = timed(
                client, "post", f"/api/clusters/{cluster.slug}/import/", {"text": text, "dry_run": dry_run}
            )
            if status not in (200, 201) or not answer.get("ok"):
                raise SystemExit(f"import answered {status}: {json.dumps(answer)[:500]}")
            entries = AuditEntry.objects.count() - before
            expected = 0 if dry_run else objects + checks + 1
            if entries != expected:
                raise SystemExit(f"the import wrote {entries} audit entries, not {expected}")
            rows["preview" if dry_run else "commit"].append((seconds, cpu, queries))
    result = {"objects": objects, "checks": checks}
    for kind, runs in rows.items():
        seconds = statistics.median(run[0] for run in runs)
        result[kind] = {
            "s": round(seconds, 3),
            "cpu_s": round(statistics.median(run[1] for run in runs), 3),
            "queries": max(run[2] for run in runs),
            "objects_per_s": round((objects + checks) / seconds),
        }
    return result


def create_body(kind: str, cluster, index: int, first: int | None) -> dict:
    """The JSON of the `index`th create of `kind` (a service of `cluster`, or a real server of service `first`)."""
    if kind == "virtual-services":
        return {
            "cluster": cluster.slug,
            "protocol": "tcp",
            "address": f"198.18.{index // 250}.{index % 250 + 1}",
            "port": 80,
        }
    return {"virtual_service": first, "address": f"10.99.{index // 250}.{index % 250 + 1}", "weight": 5}


def bench_create(client, team, count: int, profile: int = 0) -> dict:
    """`count` POSTs to /api/virtual-services/, then as many to /api/real-servers/ on the first service.

    With `profile`, `profile` more of each under cProfile afterwards: the functions that cost the most
    (own time, then cumulative) and the SQL of the last one are printed."""
    cluster = new_cluster(team, 1000)
    results = {}
    first = None
    for kind in ("virtual-services", "real-servers"):
        times, cpus, queries = [], [], []
        for index in range(count):
            body = create_body(kind, cluster, index, first)
            status, answer, seconds, cpu, count_queries = timed(client, "post", f"/api/{kind}/", body)
            if status != 201:
                raise SystemExit(f"POST /api/{kind}/ answered {status}: {answer}")
            first = first or answer["id"]
            times.append(seconds)
            cpus.append(cpu)
            queries.append(count_queries)
        results[kind] = {
            "ms_median": round(statistics.median(times) * 1000, 2),
            "ms_p90": round(sorted(times)[int(len(times) * 0.9)] * 1000, 2),
            "cpu_ms_median": round(statistics.median(cpus) * 1000, 2),
            # The median: every 100th entry the chain also writes a signed checkpoint (a few more queries).
            "queries": statistics.median(queries),
        }
        if profile:
            profile_creates(client, kind, cluster, range(count, count + profile), first)
    return results


def profile_creates(client, kind: str, cluster, indexes: range, first: int | None) -> None:
    """Profile the creates `indexes` of `kind`; print the costliest functions and the last one's SQL."""
    import cProfile
    import pstats

    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    profiler = cProfile.Profile(time.process_time)  # CPU time: what the console itself costs, not the waits
    for index in indexes:
        body = create_body(kind, cluster, index, first)
        with CaptureQueriesContext(connection) as captured:
            profiler.enable()
            response = client.post(f"/api/{kind}/", data=json.dumps(body), content_type="application/json")
            profiler.disable()
        if response.status_code != 201:
            raise SystemExit(f"POST /api/{kind}/ answered {response.status_code}: {response.content[:500]!r}")
    print(f"--- profile of {len(indexes)} POST /api/{kind}/")
    stats = pstats.Stats(profiler, stream=sys.stdout)
    dump = REPO / "var" / f"create-profile-{kind}.prof"  # for pstats or snakeviz
    dump.parent.mkdir(exist_ok=True)
    stats.dump_stats(dump)
    stats.sort_stats("tottime").print_stats(25)
    stats.sort_stats("cumulative").print_stats(60)
    print(f"--- SQL of the last one ({len(captured.captured_queries)} statements)")
    for query in captured.captured_queries:
        print(f"  {query['sql'][:400]}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--services", type=int, default=100)
    parser.add_argument("--dests", type=int, default=11)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--creates", type=int, default=100)
    parser.add_argument("--no-import", action="store_true", help="only the creates (no import of a large site)")
    parser.add_argument(
        "--profile",
        metavar="N",
        type=int,
        default=0,
        help="after the creates, profile N more of each (cProfile, top functions by own time) and print their SQL",
    )
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()

    admin, name, _ = bench_database("import_bench")
    # The audit keys and checkpoints of the throw-away database live and die with it, never in var/ (a
    # checkpoint names entries of one database: another's would fail verify_audit there).
    keys = tempfile.TemporaryDirectory(prefix="lvsweb-import-bench-")
    for setting, filename in (
        ("LVSWEB_AUDIT_CHECKPOINT_FILE", "checkpoints.jsonl"),
        ("LVSWEB_AUDIT_HMAC_KEYS_FILE", "hmac-keys"),
        ("LVSWEB_AUDIT_SIGNING_KEY_FILE", "signing-key.pem"),
    ):
        os.environ[setting] = str(Path(keys.name) / filename)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "lvsweb.settings")
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connections
    from django.test import Client

    try:
        call_command("migrate", verbosity=0)
        from teams.models import Membership, Team

        team = Team.objects.create(name="Bench", slug="bench")
        user = get_user_model().objects.create_user("bench-operator")  # signs in by session only
        Membership.objects.create(team=team, user=user, role="operator")
        client = Client(HTTP_HOST="localhost")
        client.force_login(user)
        results: dict = {"load_before": os.getloadavg(), "before": BEFORE}
        imported = {} if args.no_import else bench_import(client, team, args.services, args.dests, args.repeat)
        if imported:
            results["import"] = imported
            print(
                f"import of {imported['objects']:,} objects (+ {imported['checks']} health checks), "
                f"median of {args.repeat}:"
            )
        for kind in ("preview", "commit") if imported else ():
            row = imported[kind]
            per_1200 = row["s"] * 1200 / imported["objects"]
            print(
                f"  {kind:8} {row['s']:7.3f} s (console CPU {row['cpu_s']:.3f} s)  {row['queries']:4} queries  "
                f"{row['objects_per_s']:6,} objects/s  "
                f"(1,200 objects: {per_1200:.2f} s; before {BEFORE['import_s_per_1200']} s at "
                f"~{BEFORE['import_queries_per_object']} queries per object: "
                f"{BEFORE['import_s_per_1200'] / per_1200:.0f}x faster)"
            )
        if imported:
            print("  reference: ipvsadm-restore of the same rules needs the lab VM's kernel (bench/agent_apply.py)")
        if args.creates:
            results["create"] = bench_create(client, team, args.creates, args.profile)
            for kind, row in results["create"].items():
                print(
                    f"POST /api/{kind}/ x {args.creates}: median {row['ms_median']} ms (p90 {row['ms_p90']} ms, "
                    f"console CPU {row['cpu_ms_median']} ms), "
                    f"{row['queries']} queries per object (before {BEFORE['create_ms']} ms, "
                    f"{BEFORE['create_queries']} queries)"
                )
        out = Path(os.devnull)
        with out.open("w") as sink:
            call_command("verify_audit", stdout=sink)
        print("verify_audit: the chain is intact")
        results["load_after"] = os.getloadavg()
        print(f"load average before {results['load_before']}, after {results['load_after']}")
        if args.json:
            Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
        return 0
    finally:
        connections.close_all()
        drop_database(admin, name)
        keys.cleanup()


if __name__ == "__main__":
    sys.exit(main())
