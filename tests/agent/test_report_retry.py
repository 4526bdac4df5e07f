"""Reports when the broker is briefly away: a real redis-server of the test's own, stopped and started again.

The agent's Reporter (the real Celery app of `lvsweb-agent run`, agents/lvsweb_agent/worker.py) tries again with
backoff; a report sent during an outage lands once the broker is back, and one sent into a broker that stays
away is dropped after the bound with an error saying so. The last test does it with a whole `lvsweb-agent run`
process: a heartbeat sealed while the broker was down still reaches the console's queue.
"""

from __future__ import annotations

import logging
import threading
import time

import pytest
from kombu import Connection
from lvsweb_agent.envelope import generate_private_key, open_envelope
from lvsweb_agent.retry import Backoff
from lvsweb_agent.sequence import ReportSequence
from lvsweb_agent.worker import REPORT_TASK, Reporter, make_app

from .spare_redis import SpareRedis

pytestmark = pytest.mark.timeout(120)

HOST = "rs1"


@pytest.fixture
def broker(tmp_path):
    server = SpareRedis(tmp_path).start()
    yield server
    server.stop()


def control_reports(url: str, public_key, timeout: float = 10, expect: int = 1) -> list[dict]:
    """Payloads of the reports waiting on the broker's `control` queue, verified with the host's key."""
    payloads = []
    with Connection(url) as connection:
        queue = connection.SimpleQueue("control")
        try:
            deadline = time.monotonic() + timeout
            while len(payloads) < expect and time.monotonic() < deadline:
                try:
                    message = queue.get(timeout=0.5)
                except queue.Empty:
                    continue
                message.ack()
                assert message.headers["task"] == REPORT_TASK
                args, _, _ = message.decode()
                payloads.append(open_envelope(args[0], public_key))
        finally:
            queue.close()
    return payloads


def reporter(url: str, key, backoff: Backoff, directory) -> Reporter:
    app = make_app(url, f"lvsweb.host.{HOST}")
    app.conf.broker_connection_timeout = 1
    return Reporter(app, key, HOST, ReportSequence(directory), backoff=backoff)


def test_a_report_sent_while_the_broker_is_down_lands_when_it_is_back(broker, caplog, tmp_path):
    key = generate_private_key()
    report = reporter(broker.url, key, Backoff(attempts=6, base=0.25, cap=2.0), tmp_path)
    report({"kind": "heartbeat", "host": HOST, "sent_at": time.time(), "n": 0})  # connected once
    assert [p["n"] for p in control_reports(broker.url, key.public_key())] == [0]
    broker.stop()
    threading.Timer(1.0, broker.start).start()
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="lvsweb_agent.retry"):
        report({"kind": "deployment", "host": HOST, "deployment": 7, "status": "applied", "n": 1})
    assert time.monotonic() - started >= 1.0  # it waited for the broker rather than dropping the report
    [landed] = control_reports(broker.url, key.public_key())
    assert (landed["kind"], landed["deployment"], landed["status"]) == ("deployment", 7, "applied")
    assert "sending a deployment report to the console (deployment 7) failed" in caplog.text
    assert "try 2 of 6" in caplog.text and "gave up" not in caplog.text


def test_a_broker_that_stays_away_drops_the_report_after_the_bound_saying_so(broker, caplog, tmp_path):
    key = generate_private_key()
    backoff = Backoff(attempts=3, base=0.2, cap=0.4)
    report = reporter(broker.url, key, backoff, tmp_path)
    broker.stop()
    started = time.monotonic()
    with caplog.at_level(logging.WARNING):
        report({"kind": "deployment", "host": HOST, "deployment": 8, "status": "applied"})  # never raises
    elapsed = time.monotonic() - started
    assert backoff.budget() / 2 <= elapsed < backoff.budget() + 2  # waited, and no longer than the bound
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1
    assert errors[0].startswith("sending a deployment report to the console (deployment 8): gave up after 3 attempts")
    assert errors[0].endswith("; the report is dropped") and "Connection refused" in errors[0]
    broker.start()
    assert control_reports(broker.url, key.public_key(), timeout=2) == []  # dropped, not sent late


def test_an_agent_process_delivers_a_heartbeat_sealed_during_an_outage(broker, tmp_path):
    from .test_worker import AgentProcess

    agent = AgentProcess(tmp_path, broker.url, heartbeat_interval=1).start()
    try:
        first = agent.report(timeout=60, kind="heartbeat")  # the agent is up and reporting
        agent.control_queue.close()
        agent.connection.release()
        broker.stop()
        down = time.time()
        time.sleep(3)
        up = time.time()
        broker.start()
        # Reconnect the console's side to the restarted (empty) broker.
        agent.connection = Connection(broker.url)
        agent.control_queue = agent.connection.SimpleQueue("control")
        late = agent.report(timeout=60, kind="heartbeat")
        while late["sent_at"] < down:  # one sealed before the outage may still be on its way
            late = agent.report(timeout=60, kind="heartbeat")
        assert first["sent_at"] < down
        assert down <= late["sent_at"] <= up, (down, late["sent_at"], up, agent.log()[-3000:])
        assert "failed" in agent.log() and "try 2 of 6" in agent.log()
    finally:
        agent.stop()
