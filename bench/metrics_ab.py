"""/metrics before and after, interleaved under the same load: an old copy of traffic/metrics.py against the
current one, each served through Django's test client (the whole view) on the console bench's database.

    git show <commit>:traffic/metrics.py > /tmp/old_metrics.py
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/lvsweb_console_bench \\
        .venv/bin/python bench/metrics_ab.py /tmp/old_metrics.py --rounds 2 [--path /metrics?cluster=c00]

Prints per run: server time, bytes, queries, this process's CPU time and the database backend's (read from
/proc: run it on the database's machine), and the load average.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("old", help="a copy of an earlier traffic/metrics.py")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--path", action="append", help="default: /metrics and /metrics?cluster=c00")
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "lvsweb.settings")
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from traffic import metrics, views
    from traffic.models import HostFeed

    spec = importlib.util.spec_from_file_location("old_metrics", args.old)
    assert spec and spec.loader
    old = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(old)
    client = Client(HTTP_HOST="localhost")
    client.force_login(get_user_model().objects.get(username="bench-operator"))
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (backend,) = cursor.fetchone()

    def backend_cpu() -> float:
        fields = Path(f"/proc/{backend}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    print(f"{'code':5} {'path':24} {'ms':>8} {'bytes':>11} {'queries':>7} {'py cpu s':>8} {'db cpu s':>8} {'load':>5}")
    for _ in range(args.rounds):
        for label, module in (("old", old), ("new", metrics)):
            for path in args.path or ["/metrics", "/metrics?cluster=c00"]:
                views.metrics = module  # type: ignore[attr-defined]
                HostFeed.objects.update(last_batch_at=timezone.now())
                db, cpu, start = backend_cpu(), time.process_time(), time.perf_counter()
                with CaptureQueriesContext(connection) as queries:
                    response = client.get(path)
                    size = sum(len(chunk) for chunk in response.streaming_content)
                ms = (time.perf_counter() - start) * 1000
                print(
                    f"{label:5} {path:24} {ms:8.0f} {size:11} {len(queries):7} {time.process_time() - cpu:8.2f} "
                    f"{backend_cpu() - db:8.2f} {os.getloadavg()[0]:5.1f}",
                    flush=True,
                )
    views.metrics = metrics  # type: ignore[attr-defined]
    return 0


if __name__ == "__main__":
    sys.exit(main())
