"""/healthz and /readyz against the real PostgreSQL, Redis and a real control worker (issue 22, item 4)."""

import socket
import time

import pytest
import redis
from celery import current_app
from django.conf import settings

from audit.models import AuditEntry
from lvsweb.readiness import HEARTBEAT_KEY
from tests.dispatch.conftest import ControlWorker


@pytest.fixture
def no_heartbeat():
    """No heartbeat from an earlier test's worker (tests share one Redis database)."""
    client = redis.Redis.from_url(settings.REDIS_URL)
    client.delete(HEARTBEAT_KEY)
    yield
    client.delete(HEARTBEAT_KEY)
    client.close()


@pytest.fixture
def control_worker(tmp_path, no_heartbeat):
    worker = ControlWorker(tmp_path / "control-worker.log")
    yield worker
    worker.stop()


def wait_ready(client, worker, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        response = client.get("/readyz")
        if response.status_code == 200:
            return response
        assert worker.alive(), worker.log()
        time.sleep(0.2)
    raise AssertionError(f"never ready: {response.json()}\n{worker.log()}")


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_liveness_answers_without_the_database_from_any_host_over_plain_http(client, settings):
    # No django_db mark: a database query would fail this test. The host is not in ALLOWED_HOSTS and the
    # console redirects to HTTPS, as behind a TLS proxy; a load balancer probes the backend's address anyway.
    settings.SECURE_SSL_REDIRECT = True
    response = client.get("/healthz", HTTP_HOST="10.9.8.7:8000")
    assert response.status_code == 200
    assert response.json() == {"status": "alive"}
    assert response["Cache-Control"] == "no-store"


@pytest.mark.django_db(transaction=True)
def test_ready_when_database_broker_channel_layer_and_worker_are_up(client, control_worker):
    response = wait_ready(client, control_worker)
    body = response.json()
    assert body["status"] == "ready"
    assert {name: check["status"] for name, check in body["checks"].items()} == {
        "database": "ok",
        "broker": "ok",
        "channel_layer": "ok",
        "control_worker": "ok",
    }
    assert all(check["ms"] < 1000 for check in body["checks"].values())
    assert not AuditEntry.objects.exists()  # probes are not audit events


@pytest.mark.django_db(transaction=True)
def test_not_ready_when_the_workers_heartbeat_is_stale(client, control_worker, settings):
    wait_ready(client, control_worker)
    settings.CONTROL_HEARTBEAT_MAX_AGE = 1.0  # no beat runs here, so the start-up heartbeat ages
    time.sleep(1.5)
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "not ready"
    assert body["checks"]["control_worker"]["status"].startswith("last heartbeat ")
    assert body["checks"]["database"]["status"] == "ok"

    # Beat's task, run by the worker, makes it fresh again (younger than the 1 s allowed).
    current_app.send_task("lvsweb.control.heartbeat")
    assert wait_ready(client, control_worker, timeout=10).json()["checks"]["control_worker"]["status"] == "ok"


@pytest.mark.django_db
def test_not_ready_without_any_worker(client, no_heartbeat):
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["control_worker"]["status"] == "no heartbeat"


@pytest.mark.django_db(transaction=True)
def test_not_ready_when_the_broker_is_a_closed_port_and_the_url_does_not_leak(client, control_worker):
    wait_ready(client, control_worker)
    port = closed_port()
    saved = current_app.conf.broker_url
    current_app.conf.broker_url = f"redis://console:s3cret-password@127.0.0.1:{port}/0"
    try:
        started = time.monotonic()
        response = client.get("/readyz")
        took = time.monotonic() - started
    finally:
        current_app.conf.broker_url = saved
    assert response.status_code == 503
    body = response.json()
    assert body["checks"]["broker"]["status"].startswith("failed (")
    assert {body["checks"][name]["status"] for name in ("database", "channel_layer", "control_worker")} == {"ok"}
    text = response.content.decode()
    assert "s3cret" not in text and str(port) not in text and "127.0.0.1" not in text
    assert took < 5, took
