"""`make run`'s zero-config SQLite under load: twenty writers and five simultaneous applies, never a 500.

A real daphne on a real SQLite file (as `make run` serves it), hammered from threads over HTTP. SQLite lets
one writer through at a time; immediate transactions with a busy timeout make the others queue for it, and
where one still cannot get it in time the answer is a 503 that says to switch to PostgreSQL.
"""

import os
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
import requests
from django.conf import settings

from tests.browser.server import Background, free_port
from tests.dispatch.broker import purge
from tests.dispatch.conftest import LAB_QUEUES

REPO = Path(__file__).resolve().parents[2]

#: Made once in the SQLite database: the lab cluster (director, rs1, rs2 enrolled) and a superuser's token.
SETUP = """
import django
django.setup()
from accounts.actions import create_api_token
from tests.dispatch.conftest import Lab
from tests.factories import make_user
Lab()
admin = make_user(staff=True, is_superuser=True, username="admin")
print(create_api_token(acting_user=None, user=admin, name="load test")[1])
"""


@pytest.fixture
def sqlite_console(tmp_path):
    """daphne on a fresh SQLite database under `tmp_path`, with the lab cluster; yields (url, token)."""
    env = dict(
        os.environ,
        DATABASE_URL=f"sqlite:///{tmp_path / 'lvsweb.sqlite3'}",
        LVSWEB_VAR_DIR=str(tmp_path),
        REDIS_URL=settings.REDIS_URL,
        CELERY_BROKER_URL=settings.CELERY_BROKER_URL,
        SECRET_KEY="sqlite load test",
        ALLOWED_HOSTS="127.0.0.1",
        DEBUG="0",
    )
    python = [sys.executable]
    subprocess.run([*python, "manage.py", "migrate", "-v0"], cwd=REPO, env=env, check=True)
    token = subprocess.run(
        [*python, "-c", SETUP], cwd=REPO, env=env, check=True, capture_output=True, text=True
    ).stdout.strip()
    port = free_port()
    server = Background(
        [*python, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "lvsweb.asgi:application"],
        env,
        tmp_path / "daphne.log",
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            requests.get(url + "/accounts/login/", timeout=10)
            break
        except requests.RequestException:
            assert server.process.poll() is None and time.monotonic() < deadline, server.output()
            time.sleep(0.3)
    purge(*LAB_QUEUES)
    try:
        yield url, token
    finally:
        server.stop()
        purge(*LAB_QUEUES)


def hammer(url: str, token: str, requests_of_each: list[list[tuple[str, str, dict | None]]]) -> list:
    """Send each list of requests from its own thread, all at once; return every answer."""
    answers: list = []
    start = threading.Barrier(len(requests_of_each))

    def client(batch):
        session = requests.Session()
        session.headers["Authorization"] = f"Token {token}"
        start.wait()
        for method, path, body in batch:
            answers.append(session.request(method, url + path, json=body, timeout=60))

    threads = [threading.Thread(target=client, args=(batch,)) for batch in requests_of_each]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    return answers


def assert_never_a_500(answers) -> Counter:
    codes = Counter(answer.status_code for answer in answers)
    assert not [a for a in answers if a.status_code >= 500 and a.status_code != 503], codes
    for busy in (a for a in answers if a.status_code == 503):
        assert "PostgreSQL" in busy.json()["detail"] and busy.headers["Retry-After"]
    return codes


def test_twenty_writers_on_sqlite_get_no_500(sqlite_console):
    url, token = sqlite_console
    writers = [
        [
            (
                "POST",
                "/api/virtual-services/",
                {"cluster": "web", "protocol": "tcp", "address": f"10.10.{w}.{n + 1}", "port": 80, "scheduler": "rr"},
            )
            for n in range(5)
        ]
        + [("PATCH", "/api/clusters/web/", {"description": f"writer {w}"}), ("GET", "/api/virtual-services/", None)]
        for w in range(20)
    ]
    codes = assert_never_a_500(hammer(url, token, writers))
    assert codes[201] == 100 and codes[200] == 40, codes  # SQLite queued them: every write went through


def test_five_simultaneous_applies_on_sqlite_get_no_500(sqlite_console):
    url, token = sqlite_console
    codes = assert_never_a_500(hammer(url, token, [[("POST", "/api/clusters/web/apply/", None)]] * 5))
    assert codes[201] + codes[202] == 1, codes  # one apply; the others are told one is under way
    assert codes[400] == 4, codes
