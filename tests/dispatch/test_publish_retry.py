"""The console's command publish when the broker is briefly away: a real redis-server of the test's own.

A broker back within the backoff gets every host's command; one that stays away fails each deployment with
the reason (audited), instead of leaving it pending until it expires, and the API still answers.
"""

import threading

import pytest
from celery import Celery
from kombu import Connection
from lvsweb_agent.envelope import load_public_key, open_envelope
from rest_framework.test import APIClient

from audit.models import AuditEntry
from dispatch import actions
from dispatch.actions import deployments
from dispatch.models import Deployment
from dispatch.signing import control_public_key_text
from tests.agent.spare_redis import SpareRedis
from tests.factories import make_user

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(120)]


@pytest.fixture
def broker(tmp_path, monkeypatch):
    """The console publishing, with its own Celery settings, to a redis-server of this test's own."""
    server = SpareRedis(tmp_path).start()
    app = Celery("lvsweb-publish-test", set_as_current=False)
    app.config_from_object("django.conf:settings", namespace="CELERY")
    app.conf.broker_url = server.url
    monkeypatch.setattr(deployments, "celery_app", app)
    yield server
    server.stop()


def queued(url: str, queue: str) -> list[dict]:
    """The command payloads waiting on QUEUE, verified with the console's key."""
    payloads = []
    with Connection(url) as connection:
        simple = connection.SimpleQueue(queue)
        try:
            while True:
                try:
                    message = simple.get(timeout=0.5)
                except simple.Empty:
                    break
                message.ack()
                args, _, _ = message.decode()
                payloads.append(open_envelope(args[0], load_public_key(control_public_key_text())))
        finally:
            simple.close()
    return payloads


def test_commands_reach_a_broker_that_comes_back_within_the_backoff(lab, broker):
    broker.stop()
    threading.Timer(0.3, broker.start).start()
    revision = actions.apply_cluster(acting_user=None, cluster=lab.cluster)
    assert set(revision.deployments.values_list("status", flat=True)) == {"pending"}
    for host in ("director", "rs1", "rs2"):
        [payload] = queued(broker.url, f"lvsweb.host.{host}")
        assert (payload["kind"], payload["host"], payload["cluster_revision"]) == ("apply", host, 1)


def test_a_broker_that_stays_away_fails_every_deployment_with_the_reason(lab, broker):
    broker.stop()
    api = APIClient()
    api.force_authenticate(make_user(staff=True, is_superuser=True))
    response = api.post("/api/clusters/web/apply/")
    assert response.status_code == 202, response.content
    deployments = Deployment.objects.filter(revision__number=1).select_related("host")
    assert {d.host.hostname: d.status for d in deployments} == dict.fromkeys(("director", "rs1", "rs2"), "failed")
    director = deployments.get(host__hostname="director")
    assert director.error.startswith(
        "not sent: the broker could not be reached (sending the command to lvsweb.host.director: "
        "gave up after 4 attempts over "
    )
    assert "Connection refused" in director.error and director.error.endswith("the agent never got this command.")
    assert director.finished_at is not None
    entries = AuditEntry.objects.filter(action="deployment.failed")
    assert entries.count() == 3 and entries.filter(message=director.error).exists()
    # Nothing is left under way: once the broker is back, the operator applies again.
    broker.start()
    response = api.post("/api/clusters/web/apply/")
    assert response.status_code == 202, response.content
    assert [p["cluster_revision"] for p in queued(broker.url, "lvsweb.host.rs2")] == [2]
