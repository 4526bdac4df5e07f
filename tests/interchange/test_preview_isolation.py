"""A large import preview holds up nobody: other teams write and sign in while it runs; imports are capped."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection
from django.test import Client
from rest_framework.test import APIClient

from clusters.actions.imports import MAX_SERVICES
from clusters.models import VirtualService
from tests.factories import make_cluster, make_member, make_team, make_user

pytestmark = pytest.mark.django_db(transaction=True)
REPO = Path(__file__).resolve().parents[2]
PASSWORD = "a long enough password"

#: Imports one cluster's preview in a process of its own (as a second daphne worker would run it).
PREVIEW = """
import json, sys, django
django.setup()
from django.contrib.auth import get_user_model
from clusters.actions.imports import preview_import
from clusters.models import Cluster
user = get_user_model().objects.get(username=sys.argv[1])
cluster = Cluster.objects.get(slug=sys.argv[2])
result = preview_import(acting_user=user, cluster=cluster, text=sys.stdin.read())
print(json.dumps({"counts": result.counts, "errors": len(result.errors)}))
"""


def ruleset(services: int, real_servers: int = 1) -> str:
    """ipvsadm-save text: `services` TUN services with `real_servers` real servers each."""
    lines = []
    for n in range(services):
        vip = f"10.{100 + n // 250}.{n % 250}.1"
        lines.append(f"-A -t {vip}:80 -s rr")
        lines += [f"-a -t {vip}:80 -r 192.0.{2 + r}.{1 + n % 200}:80 -i -w 1" for r in range(real_servers)]
    return "\n".join(lines) + "\n"


def long_transactions() -> int:
    """Other sessions of the test database inside a transaction that began over half a second ago."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
            " AND state IN ('active', 'idle in transaction') AND xact_start < now() - interval '0.5 seconds'"
        )
        return cursor.fetchone()[0]


def test_other_teams_write_and_sign_in_within_a_second_while_a_20000_object_preview_runs(settings):
    # What is measured is waiting for the preview, not password hashing: PBKDF2's 1,000,000 rounds alone take
    # 0.5-2 s on two cores shared with the preview's process.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    importer = make_user(staff=False, username="importer")
    make_member(importer, team=make_team(name="Imports", slug="imports"))
    make_cluster(name="big", slug="big", team=importer.memberships.get().team)
    other = make_user(staff=False, username="other", password=PASSWORD)
    other_team = make_team(name="Others", slug="others")
    make_member(other, team=other_team)
    make_cluster(name="theirs", slug="theirs", team=other_team)

    api = APIClient()
    api.force_login(other)
    # Warm up first (URL resolver, serializers, templates): only waiting on the preview is measured below.
    assert api.get("/api/virtual-services/").status_code == 200
    assert Client().get("/accounts/login/").status_code == 200

    db = connection.settings_dict
    env = dict(
        os.environ,
        DATABASE_URL=f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{connection.settings_dict['NAME']}",
    )
    preview = subprocess.Popen(
        [sys.executable, "-c", PREVIEW, "importer", "big"],
        cwd=REPO,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        # The largest import allowed, ten real servers a service: bulk previews are fast (about 1 s for 2,000
        # services with one real server each on an idle machine), and the test needs one still running.
        preview.stdin.write(ruleset(MAX_SERVICES, real_servers=10))
        preview.stdin.close()
        deadline = time.monotonic() + 60
        while not long_transactions():
            assert preview.poll() is None, preview.stderr.read()
            assert time.monotonic() < deadline, "the preview never started its transaction"
            time.sleep(0.2)

        started = time.monotonic()
        created = api.post(
            "/api/virtual-services/",
            {"cluster": "theirs", "protocol": "tcp", "address": "198.51.100.7", "port": 443, "scheduler": "wlc"},
            format="json",
        )
        write_took = time.monotonic() - started

        started = time.monotonic()
        signed_in = Client().post("/accounts/login/", {"username": "other", "password": PASSWORD})
        sign_in_took = time.monotonic() - started

        still_running = long_transactions() > 0 and preview.poll() is None
    finally:
        out, err = preview.stdout.read(), preview.stderr.read()  # until it exits (a preview is never stopped)
        preview.wait(60)

    assert still_running, "the preview ended before the other team's requests: the test measured nothing"
    assert created.status_code == 201, created.content
    assert signed_in.status_code == 302 and "/login/" not in signed_in.url, signed_in.content
    assert write_took < 1.0, f"another team's write took {write_took:.2f} s during the preview"
    assert sign_in_took < 1.0, f"a sign-in took {sign_in_took:.2f} s during the preview"
    assert preview.returncode == 0, err
    result = json.loads(out)
    assert result["counts"]["services_create"] == MAX_SERVICES
    assert result["counts"]["real_servers_create"] == MAX_SERVICES * 10
    assert result["errors"] == 0
    assert not VirtualService.objects.filter(cluster__slug="big").exists()  # a preview keeps nothing


def test_an_import_over_the_cap_is_refused_naming_the_limit():
    owner = make_user(staff=False)
    make_member(owner)
    make_cluster(name="web", slug="web")
    api = APIClient()
    api.force_login(owner)
    answer = api.post(
        "/api/clusters/web/import/", {"text": ruleset(MAX_SERVICES + 1), "format": "ipvsadm"}, format="json"
    )
    assert answer.status_code == 400
    assert f"{MAX_SERVICES + 1:,} services" in answer.content.decode()
    assert "Split it into several imports" in answer.content.decode()
    assert not VirtualService.objects.exists()
