"""Anyone with access to the broker can write junk on the control queue or send remote-control commands: the
control worker drops and counts the junk, ignores the commands, lives, and takes the next real report."""

import base64
import json
import pickle
import uuid

import pytest
import redis
from celery import Celery
from django.conf import settings

from dispatch import actions, counters
from dispatch.models import Deployment
from lvsweb.celery import app as celery_app
from tests.dispatch.conftest import ControlWorker
from tests.dispatch.test_live import wait_for
from tests.reports import sealed_report

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(240)]

MAX_BYTES = 256 * 1024


@pytest.fixture
def broker():
    """The test broker's Redis, with the console's counters reset (they live in REDIS_URL)."""
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    own = redis.Redis.from_url(settings.REDIS_URL)
    own.delete(counters.DROPPED_KEY, counters.REFUSED_KEY)
    yield client
    client.close()
    own.close()


@pytest.fixture
def small_worker(tmp_path):
    """A control worker whose messages may have at most 256 KiB (LVSWEB_BROKER_MAX_MESSAGE_BYTES)."""
    worker = ControlWorker(tmp_path / "control-worker.log", LVSWEB_BROKER_MAX_MESSAGE_BYTES=str(MAX_BYTES))
    yield worker
    worker.stop()


def task_message(
    body: bytes, *, task="lvsweb.control.report", content_type="application/json", encoded=True, **headers
):
    """A kombu/Celery message as a raw JSON text, the way one lands in the queue's Redis list."""
    return json.dumps(
        {
            "body": base64.b64encode(body).decode() if encoded else body.decode(),
            "content-encoding": "utf-8" if content_type == "application/json" else "binary",
            "content-type": content_type,
            "headers": {"task": task, "id": str(uuid.uuid4()), "lang": "py", **headers},
            "properties": {
                "body_encoding": "base64",
                "delivery_info": {"exchange": "", "routing_key": "control"},
                "delivery_tag": str(uuid.uuid4()),
                "priority": 0,
            },
        }
    )


JUNK = {
    "not json at all": ("not_json", "not json at all"),
    "a JSON list": ("malformed", "[1, 2, 3]"),
    "no properties": ("malformed", json.dumps({"body": "", "content-type": "application/json"})),
    "bad base64 body": ("bad_body", task_message(b"!!! not base64 !!!", encoded=False)),
    "body not JSON": ("bad_body", task_message(b"[[1], {}, {")),
    "wrong body shape": ("malformed", task_message(b'{"args": []}')),
    "pickle": (
        "content_type",
        task_message(pickle.dumps(((), {}, {})), content_type="application/x-python-serialize"),
    ),
    "yaml": ("content_type", task_message(b"- [1]\n- {}\n- {}\n", content_type="application/x-yaml")),
    "huge": ("too_large", task_message(json.dumps([["x" * MAX_BYTES], {}, {}]).encode())),
    "unknown task": ("unknown_task", task_message(b"[[], {}, {}]", task="celery.backend_cleanup.nope")),
    # Well-formed, but a header Celery's strategy trips over (it raised out of the consumer and stopped it).
    "one-number time limit": ("bad_task", task_message(b"[[{}], {}, {}]", timelimit=[1])),
    "bad stamps": ("bad_task", task_message(b"[[{}], {}, {}]", stamped_headers=5, stamps=5)),
}


def real_report_gets_processed(lab, worker: ControlWorker, host: str = "rs1") -> None:
    """A genuine "applied" report, sent as an agent sends it, changes the deployment's row."""
    revision = lab.cluster.revisions.order_by("-number").first()
    if revision is None:
        revision = actions.apply_cluster(acting_user=None, cluster=lab.cluster)
    deployment = revision.deployments.get(host__hostname=host)
    payload = {"host": host, "kind": "deployment", "deployment": deployment.pk, "status": "applied", "serial": 1}
    celery_app.send_task("lvsweb.control.report", args=[sealed_report(payload, lab.keys[host], host)])
    assert wait_for(lambda: Deployment.objects.get(pk=deployment.pk).status == "applied", 90), worker.log()


def test_junk_on_the_control_queue_is_dropped_counted_and_the_next_report_is_processed(lab, broker, small_worker):
    for _reason, raw in JUNK.values():
        broker.lpush("control", raw)
    expected = {}
    for reason, _raw in JUNK.values():
        expected[reason] = expected.get(reason, 0) + 1

    assert wait_for(lambda: broker.llen("control") == 0 and counters.dropped_messages() == expected, 90), (
        counters.dropped_messages(),
        small_worker.log(),
    )
    assert small_worker.alive(), small_worker.log()
    real_report_gets_processed(lab, small_worker)
    assert small_worker.alive()
    log = small_worker.log()
    assert "Unrecoverable error" not in log
    assert "dropped a message from queue 'control' (not_json)" in log


def test_an_unsigned_report_is_rejected_and_audited_and_the_worker_goes_on(lab, broker, control_worker):
    from audit.models import AuditEntry

    celery_app.send_task("lvsweb.control.report", args=[{"host": "rs1", "kind": "heartbeat"}])
    assert wait_for(lambda: AuditEntry.objects.filter(action="agent.report_rejected").exists(), 90), (
        control_worker.log()
    )
    real_report_gets_processed(lab, control_worker)


def test_metrics_show_the_drops(lab, broker, api):
    counters.count_dropped_message("not_json")
    counters.count_dropped_message("not_json")
    body = b"".join(api.get("/metrics").streaming_content).decode()
    assert 'lvsweb_broker_messages_dropped_total{reason="not_json"} 2' in body


def test_remote_control_from_a_broker_client_does_not_stop_report_processing(lab, broker, control_worker):
    # Any client of the broker, not the console: a bare Celery app on the same Redis.
    intruder = Celery("intruder", broker=settings.CELERY_BROKER_URL, set_as_current=False)
    real_report_gets_processed(lab, control_worker)  # the worker is up and consuming
    assert intruder.control.ping(timeout=2.0) == []  # nobody answers remote control
    intruder.control.cancel_consumer("control")
    intruder.control.shutdown()
    real_report_gets_processed(lab, control_worker, host="rs2")
    assert control_worker.alive()
