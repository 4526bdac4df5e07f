"""Live progress of an apply from the console: the agents' reports travel through the real broker to a real
control worker, whose events reach the progress page's websocket (Channels over Redis); a reload agrees."""

import re

import pytest
from asgiref.sync import async_to_sync
from django.test import Client

from dispatch.events import clock
from dispatch.models import Deployment
from lvsweb.celery import app as celery_app
from tests.dispatch.conftest import control_worker  # noqa: F401  (a fixture)
from tests.dispatch.test_live import communicator, wait_for
from tests.factories import make_member, make_user
from tests.reports import sealed_report

pytestmark = pytest.mark.django_db(transaction=True)


def send_report(lab, hostname: str, payload: dict) -> None:
    """An agent's signed report, sent as the agent sends it: a Celery task on the control queue."""
    envelope = sealed_report({"host": hostname, **payload}, lab.keys[hostname], hostname)
    celery_app.send_task("lvsweb.control.report", args=[envelope], queue="control")


def test_the_progress_page_follows_each_host_live_and_a_reload_agrees(lab, control_worker):  # noqa: F811
    user = make_user(staff=False)
    make_member(user, role="operator")
    browser = Client()
    browser.force_login(user)

    response = browser.post("/clusters/web/apply/")
    assert response["Location"] == "/clusters/web/revisions/1/"
    page = browser.get("/clusters/web/revisions/1/").content.decode()
    assert 'data-live-cluster="web"' in page and "/static/js/live.js" in page
    rows = dict(
        (host, int(pk))
        for pk, host in re.findall(r'<tr data-deployment="(\d+)">\s*<td data-label="Host"><a [^>]*>(\w+)</a>', page)
    )
    assert sorted(rows) == ["director", "rs1", "rs2"]

    # The director's first word, once the worker took it, shows the worker is up (it starts slowly on a busy CPU).
    send_report(lab, "director", {"kind": "deployment", "deployment": rows["director"], "status": "applying"})
    assert wait_for(lambda: Deployment.objects.get(pk=rows["director"]).status == "applying", timeout=180)

    operations = [{"op": "add-address", "target": "10.10.0.100/32 on tunl0", "detail": "", "reason": "not there yet"}]

    async def scenario():
        client = communicator(user)
        assert (await client.connect())[0]
        send_report(lab, "rs1", {"kind": "deployment", "deployment": rows["rs1"], "status": "applying"})
        first = await client.receive_json_from(timeout=30)
        send_report(
            lab,
            "rs1",
            {
                "kind": "deployment",
                "deployment": rows["rs1"],
                "status": "applied",
                "serial": 1,
                "operations": operations,
            },
        )
        second = await client.receive_json_from(timeout=30)
        await client.disconnect()
        return first, second

    first, second = async_to_sync(scenario)()
    assert (first["deployment"], first["status"]) == (rows["rs1"], "applying")
    assert (second["deployment"], second["status"], len(second["operations"])) == (rows["rs1"], "applied", 1)
    # Started and finished arrive with the events, written as the reloaded table writes them.
    done = Deployment.objects.get(pk=rows["rs1"])
    assert first["started"] == clock(done.started_at) != "—" and first["finished"] == "—"
    assert second["finished"] == clock(done.finished_at) != "—"

    reloaded = browser.get("/clusters/web/revisions/1/").content.decode()
    rs1 = reloaded.split(f'data-deployment="{rows["rs1"]}"', 1)[1].split("</tr>", 1)[0]
    assert '<span class="badge applied" data-field="status">applied</span>' in rs1
    assert '<td data-label="Operations" class="num" data-field="operations">1</td>' in rs1
    assert f'data-field="finished">{second["finished"]}</td>' in rs1
    director = reloaded.split(f'data-deployment="{rows["director"]}"', 1)[1].split("</tr>", 1)[0]
    assert '<span class="badge applying" data-field="status">applying</span>' in director
