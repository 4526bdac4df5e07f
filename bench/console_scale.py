"""The console at scale: every page and API list over C clusters x S services x D real servers, applied.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/lvsweb REDIS_URL=redis://127.0.0.1:6379/12 \\
        .venv/bin/python bench/console_scale.py --clusters 20 --services 500 --dests 10 --json /tmp/console.json

Runs on this machine against a throw-away database (`<DATABASE_URL's name>_console_bench`), seeded with
bulk_create in about a minute: one team, C clusters of S TCP services x D TUN real servers each, two enrolled
directors per cluster, every cluster but the last applied twice (two Revision rows with the inventory snapshot
the apply stores, and one applied Deployment per director with the document the compiler makes: what
/api/revisions/ and /api/deployments/ list), a health row per real server and live traffic (a Series row
per director and service, and per director and real server, with fresh feeds). No agent runs: nothing is
sent. The last cluster was never applied (its Plan is a first apply). `--keep` leaves the database for a
later `--reuse` (which migrates it, skips the seeding, and keeps it again). A fresh database is vacuumed and
analyzed after the seeding, as autovacuum would have left it (a reused one too, with `--vacuum`).

Each page and API list is requested through Django's test Client (the whole stack below the socket:
middleware, session, views, templates, serializers) as a member of the team, and reported with its server
time (median of `--repeat` runs), bytes answered (streamed answers are read to the end), SQL queries, and
the Python heap's peak during the request (tracemalloc, in a separate run so that it does not slow the
timed ones). Then creating real servers through the API: milliseconds and queries per object.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import statistics
import sys
import time
import tracemalloc
from datetime import timedelta
from pathlib import Path

from throwaway import bench_database, drop_database  # bench/, this script's folder

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def seed(clusters: int, services: int, dests: int) -> None:
    """The inventory, its revisions and deployments, health and live traffic (see the module docstring)."""
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from clusters.choices import HostRole
    from clusters.models import Cluster, ClusterHost, Host, RealServer, RealServerHealth, VirtualService
    from teams.models import Membership, Team
    from tests.scale import applied_on
    from traffic.models import HostFeed, Series

    now = timezone.now()
    team = Team.objects.create(name="Bench", slug="bench")
    user = get_user_model().objects.create_user("bench-operator")  # signs in by session only
    Membership.objects.create(team=team, user=user, role="operator")
    for c in range(clusters):
        started = time.perf_counter()
        cluster = Cluster.objects.create(team=team, name=f"Cluster {c:02d}", slug=f"c{c:02d}")
        directors = Host.objects.bulk_create(
            [
                Host(
                    team=team,
                    hostname=f"c{c:02d}-director-{side}",
                    management_address=f"192.0.{2 + c // 100}.{(c % 100) * 2 + index + 1}",
                    public_key="bench",
                    enrolled_at=now,
                    last_heartbeat_at=now,
                    agent_status="online",
                    document_serial=2,
                    applied_serial=2,
                )
                for index, side in enumerate("ab")
            ]
        )
        ClusterHost.objects.bulk_create(
            [ClusterHost(cluster=cluster, host=host, role=HostRole.DIRECTOR) for host in directors]
        )
        vips = [ipaddress.ip_address(f"10.{100 + c}.0.1") + s // 250 for s in range(services)]
        made = VirtualService.objects.bulk_create(
            [
                VirtualService(
                    cluster=cluster, protocol="tcp", address=str(vips[s]), port=8000 + s % 250, scheduler="wlc"
                )
                for s in range(services)
            ]
        )
        base = ipaddress.ip_address(f"10.{c}.0.0")
        real_servers = RealServer.objects.bulk_create(
            [
                # TUN real servers whose tunnel and VIP their operator set up by hand (the console names no host)
                RealServer(
                    virtual_service=service,
                    address=str(base + s * dests + j + 1),
                    port=service.port,
                    configured_by_hand=True,
                )
                for s, service in enumerate(made)
                for j in range(dests)
            ],
            batch_size=5000,
        )
        RealServerHealth.objects.bulk_create(
            [
                RealServerHealth(
                    cluster=cluster,
                    real_server=rs,
                    status="up",
                    check_kind="tcp",
                    message="connected",
                    latency_ms=0.4,
                    checked_at=now,
                    changed_at=now,
                    reported_by=directors[0].hostname,
                )
                for rs in real_servers
            ],
            batch_size=5000,
        )
        HostFeed.objects.bulk_create(
            [HostFeed(host=host, last_batch_at=now, sampled_at=now.timestamp()) for host in directors]
        )
        series = []
        for host in directors:
            for service in made:
                series.append(Series(host=host, cluster=cluster, virtual_service=service, updated_at=now, active=100))
            for rs in real_servers:
                series.append(
                    Series(
                        host=host,
                        cluster=cluster,
                        virtual_service_id=rs.virtual_service_id,
                        real_server=rs,
                        updated_at=now,
                        active=10,
                        inactive=3,
                        conns=123456,
                        in_bytes=98765432,
                        cps=5.0,
                        in_bps=4096.0,
                    )
                )
        Series.objects.bulk_create(series, batch_size=5000)
        if c < clusters - 1:  # the last cluster is never applied
            for number in (1, 2):
                applied_on(cluster, directors, number, by="bench-operator", at=now)
        print(f"seeded {cluster.slug} in {time.perf_counter() - started:.1f} s", file=sys.stderr, flush=True)


def refresh_feeds() -> None:
    """Keep every director's traffic fresh (the bench outlives TRAFFIC_STALE_AFTER)."""
    from django.utils import timezone

    from traffic.models import HostFeed

    HostFeed.objects.update(last_batch_at=timezone.now())


def request(client, method: str, path: str, data=None) -> tuple[int, int]:
    """(status, bytes) of one request, streamed answers read to the end."""
    post = method == "post"
    response = client.post(path, data=data, content_type="application/json") if post else client.get(path)
    size = sum(len(chunk) for chunk in response.streaming_content) if response.streaming else len(response.content)
    return response.status_code, size


def measure(client, path: str, repeat: int) -> dict:
    """Median server time, bytes, queries and tracemalloc peak of GET `path`."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    times = []
    queries = status = size = 0
    for _ in range(repeat):
        refresh_feeds()
        with CaptureQueriesContext(connection) as captured:
            start = time.perf_counter()
            status, size = request(client, "get", path)
            times.append(time.perf_counter() - start)
        queries = len(captured)
        if times[-1] > 5:  # a page that slow needs no second opinion
            break
    refresh_feeds()
    tracemalloc.start()
    request(client, "get", path)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {
        "path": path,
        "status": status,
        "ms": round(statistics.median(times) * 1000, 1),
        "bytes": size,
        "queries": queries,
        "peak_mb": round(peak / 2**20, 1),
    }


def create_through_api(client, count: int) -> dict:
    """POST /api/real-servers/ `count` times on one service: milliseconds and queries per object."""
    from django.db import connection

    from clusters.models import RealServer, VirtualService

    service = VirtualService.objects.filter(cluster__slug="c00").order_by("pk").first()
    assert service is not None
    base = ipaddress.ip_address("10.250.0.1")
    times, cpus, queries = [], [], []
    executed = [0]

    def count_statement(execute, *args):
        # As bench/import_scale.py counts: the statements, without the BEGIN and COMMIT Django's query log adds.
        executed[0] += 1
        return execute(*args)

    for index in range(count):
        executed[0] = 0
        with connection.execute_wrapper(count_statement):
            start, cpu = time.perf_counter(), time.process_time()
            status, _ = request(
                client,
                "post",
                "/api/real-servers/",
                {"virtual_service": service.pk, "address": str(base + index), "port": service.port},
            )
            times.append(time.perf_counter() - start)
            cpus.append(time.process_time() - cpu)
        assert status == 201, status
        queries.append(executed[0])
    RealServer.objects.filter(virtual_service=service, address__startswith="10.250.").delete()
    return {
        "path": "POST /api/real-servers/",
        "objects": count,
        "ms_per_object": round(statistics.median(times) * 1000, 1),
        "cpu_ms_per_object": round(statistics.median(cpus) * 1000, 1),
        "queries_per_object": round(statistics.median(queries)),
    }


def pages(clusters: int) -> list[str]:
    last = f"c{clusters - 1:02d}"
    from clusters.models import RealServer, VirtualService
    from dispatch.models import Revision

    service = VirtualService.objects.filter(cluster__slug="c00").order_by("pk").first()
    revision = Revision.objects.filter(cluster__slug="c00").order_by("-number").first()
    address = (
        RealServer.objects.filter(virtual_service=service).order_by("pk").values_list("address", flat=True).first()
    )
    assert service is not None and revision is not None and address is not None
    return [
        "/",
        "/clusters/",
        "/clusters/c00/",
        "/clusters/c00/?page=10",
        "/clusters/c00/traffic/",
        f"/clusters/c00/services/{service.pk}/traffic/",
        "/clusters/c00/revisions/",
        "/clusters/c00/plan/",
        "/clusters/c01/plan/",  # one weight changed since the last apply
        f"/clusters/{last}/plan/",  # before a first apply
        "/hosts/",
        f"/search/?q={address}",
        "/metrics",
        "/metrics?cluster=c00",
        "/api/clusters/",
        "/api/hosts/",
        "/api/virtual-services/",
        "/api/real-servers/",
        f"/api/real-servers/?search={address}",
        "/api/real-server-health/",
        "/api/revisions/",
        f"/api/revisions/{revision.pk}/",
        "/api/deployments/",
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clusters", type=int, default=20)
    parser.add_argument("--services", type=int, default=500)
    parser.add_argument("--dests", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--creates", type=int, default=20)
    parser.add_argument("--only", default="", help="measure only the paths that contain this text")
    parser.add_argument("--path", action="append", default=[], help="measure only this path (exact; repeatable)")
    parser.add_argument("--skip", default="", help="leave out the paths that contain this text")
    parser.add_argument("--keep", action="store_true", help="leave the database for --reuse")
    parser.add_argument(
        "--reuse", action="store_true", help="reuse a kept database (migrated, not re-seeded; kept again)"
    )
    parser.add_argument(
        "--vacuum", action="store_true", help="VACUUM ANALYZE a reused database first (as autovacuum leaves it)"
    )
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()
    if args.clusters < 3:
        parser.error("--clusters must be at least 3 (one changed, one never applied)")

    admin, name, fresh = bench_database("console_bench", args.reuse)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "lvsweb.settings")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connections
    from django.test import Client

    try:
        call_command("migrate", verbosity=0)
        started = time.perf_counter()
        if fresh:
            seed(args.clusters, args.services, args.dests)
            # As autovacuum leaves a console's tables after a while: statistics for the planner, and the
            # visibility map that lets a count read an index alone.
            with connections["default"].cursor() as cursor:
                cursor.execute("VACUUM ANALYZE")
        seeding = time.perf_counter() - started
        from django.contrib.auth import get_user_model
        from django.utils import timezone

        from clusters.models import Cluster, Host, RealServer, VirtualService

        # As on a console in use: the inventory was last edited an hour before its applies (the dashboard
        # then trusts counts and timestamps rather than comparing inventories), and one weight of c01 changed
        # since its last apply (the Plan of a one-weight change).
        # Only the rows edited within the hour (a reused database's: the last run's changed weight) are
        # rewritten: rewriting all 100,000 real servers on each run left as many dead rows, and index-only
        # scans reading the heap for each (255,000 heap fetches for one count), until autovacuum came by.
        now = timezone.now()
        touched = 0
        for model in (Cluster, Host, VirtualService, RealServer):
            touched += model.objects.filter(updated_at__gt=now - timedelta(hours=1)).update(
                updated_at=now - timedelta(hours=1)
            )
        changed = RealServer.objects.filter(virtual_service__cluster__slug="c01").order_by("pk").first()
        assert changed is not None
        RealServer.objects.filter(pk=changed.pk).update(weight=changed.weight % 100 + 1, updated_at=now)
        if touched > 1000 or args.vacuum:  # as autovacuum leaves a console's tables after a while
            with connections["default"].cursor() as cursor:
                cursor.execute("VACUUM ANALYZE")
        client = Client(HTTP_HOST="localhost")
        client.force_login(get_user_model().objects.get(username="bench-operator"))
        results: dict = {
            "size": {"clusters": args.clusters, "services": args.services, "real_servers_per_service": args.dests},
            "real_servers": RealServer.objects.count(),
            "seeding_s": round(seeding, 1),
            "load_before": os.getloadavg(),
            "pages": [],
        }
        print(f"{'path':58} {'status':>6} {'ms':>9} {'bytes':>11} {'queries':>7} {'peak MB':>8}")
        for path in pages(args.clusters):
            if (args.only and args.only not in path) or (args.skip and args.skip in path):
                continue
            if args.path and path not in args.path:
                continue
            row = measure(client, path, args.repeat)
            results["pages"].append(row)
            print(
                f"{path[:58]:58} {row['status']:>6} {row['ms']:>9} {row['bytes']:>11} {row['queries']:>7} "
                f"{row['peak_mb']:>8}",
                flush=True,
            )
        if args.creates and not (args.only or args.path):
            results["create"] = create_through_api(client, args.creates)
            print(json.dumps(results["create"]))
        results["load_after"] = os.getloadavg()
        print(f"load average before {results['load_before']}, after {results['load_after']}")
        if args.json:
            Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
        return 0
    finally:
        connections.close_all()
        if not (args.keep or args.reuse):  # a reused database is someone's seeded data: never dropped
            drop_database(admin, name)


if __name__ == "__main__":
    sys.exit(main())
