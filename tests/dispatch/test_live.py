"""The real moving parts: a Celery control worker on the Redis broker, and browsers on Channels over Redis."""

import time

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import AnonymousUser

from dispatch import actions
from dispatch.models import Deployment
from dispatch.routing import websocket_urlpatterns
from lvsweb.celery import app as celery_app
from tests.factories import make_member, make_team, make_user
from tests.reports import sealed_report

pytestmark = pytest.mark.django_db(transaction=True)


def wait_for(condition, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return False


def test_a_report_through_the_broker_reaches_the_database(lab, control_worker):
    deployment = actions.apply_cluster(acting_user=None, cluster=lab.cluster).deployments.get(host=lab.rs1)
    payload = {
        "host": "rs1",
        "kind": "deployment",
        "deployment": deployment.pk,
        "status": "applied",
        "serial": 1,
        "operations": [],
    }
    celery_app.send_task("lvsweb.control.report", args=[sealed_report(payload, lab.keys["rs1"], "rs1")])
    assert wait_for(lambda: Deployment.objects.get(pk=deployment.pk).status == "applied"), control_worker.log()


def test_a_forged_report_through_the_broker_changes_nothing(lab, control_worker):
    deployment = actions.apply_cluster(acting_user=None, cluster=lab.cluster).deployments.get(host=lab.rs1)
    forged = {"host": "rs1", "kind": "deployment", "deployment": deployment.pk, "status": "applied"}
    celery_app.send_task("lvsweb.control.report", args=[sealed_report(forged, lab.keys["rs2"], "rs1")])
    from audit.models import AuditEntry

    assert wait_for(lambda: AuditEntry.objects.filter(action="agent.report_rejected").exists())
    assert Deployment.objects.get(pk=deployment.pk).status == "pending"


def communicator(user, slug="web"):
    client = WebsocketCommunicator(URLRouter(websocket_urlpatterns), f"/ws/clusters/{slug}/")
    client.scope["user"] = user
    return client


def test_a_member_sees_deployment_events_live(lab):
    user = make_user(staff=False)
    make_member(user, role="viewer")  # a viewer of the cluster's team: reads live status

    async def scenario():
        client = communicator(user)
        connected, _ = await client.connect()
        assert connected
        await database_sync_to_async(actions.apply_cluster)(acting_user=None, cluster=lab.cluster)
        events = [await client.receive_json_from(timeout=5) for _ in range(3)]
        await client.disconnect()
        return events

    events = async_to_sync(scenario)()
    assert sorted((e["type"], e["host"], e["status"], e["revision"]) for e in events) == [
        ("deployment", "director", "pending", 1),
        ("deployment", "rs1", "pending", 1),
        ("deployment", "rs2", "pending", 1),
    ]


def test_status_changes_from_reports_reach_the_browser(lab):
    user = make_user(staff=False)
    make_member(user, role="viewer")
    deployment = actions.apply_cluster(acting_user=None, cluster=lab.cluster).deployments.get(host=lab.rs2)

    async def scenario():
        client = communicator(user)
        assert (await client.connect())[0]
        envelope = sealed_report(
            {"host": "rs2", "kind": "deployment", "deployment": deployment.pk, "status": "applying"},
            lab.keys["rs2"],
            "rs2",
        )
        await database_sync_to_async(actions.handle_report)(envelope)
        event = await client.receive_json_from(timeout=5)
        await client.disconnect()
        return event

    event = async_to_sync(scenario)()
    assert (event["host"], event["status"]) == ("rs2", "applying")


@pytest.mark.parametrize("who", ["anonymous", "in no team", "in another team"])
def test_a_subscription_outside_ones_rights_is_refused(lab, who):
    user = AnonymousUser() if who == "anonymous" else make_user(staff=True)
    if who == "in another team":
        make_member(user, team=make_team(), role="owner")

    async def scenario():
        client = communicator(user)
        connected, code = await client.connect()
        return connected, code

    assert async_to_sync(scenario)() == (False, 4403)


def test_an_unknown_cluster_is_refused_like_a_forbidden_one(lab):
    user = make_user(staff=False)
    make_member(user)

    async def scenario():
        return await communicator(user, slug="nope").connect()

    assert async_to_sync(scenario)() == (False, 4403)
