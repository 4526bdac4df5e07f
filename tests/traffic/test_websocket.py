"""Live traffic in the browser: Channels over the Redis layer, and only for members of the cluster's team."""

import asyncio

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator

from dispatch.consumers import RECHECK_SECONDS, REFUSED
from lvsweb.routing import websocket_urlpatterns
from teams import actions as team_actions
from tests.factories import make_cluster, make_member, make_team, make_user
from tests.traffic.conftest import rs_row, service_row

pytestmark = pytest.mark.django_db(transaction=True)


def communicator(user, slug="web", services=None):
    """The cluster's websocket, or with `services` (ids) a traffic page's: plus those services' real servers."""
    path = f"/ws/clusters/{slug}/" if services is None else f"/ws/clusters/{slug}/traffic/?services={services}"
    client = WebsocketCommunicator(URLRouter(websocket_urlpatterns), path)
    client.scope["user"] = user
    return client


async def next_traffic(client):
    while True:
        event = await client.receive_json_from(timeout=5)
        if event["type"] == "traffic":
            return event


async def both(client):
    """A batch's two events on a traffic page (the cluster's, then its services' real servers'), as one."""
    cluster, chunk = await next_traffic(client), await next_traffic(client)
    assert "checked" in cluster and "checked" not in chunk and cluster["at"] == chunk["at"]
    return {**cluster, "rows": cluster["rows"] + chunk["rows"]}


def test_a_member_sees_connections_and_rates_each_second(lab, director):
    user = make_user(staff=False)
    make_member(user, role="viewer")
    send = database_sync_to_async(director.send)

    async def scenario():
        client = communicator(user, services=lab.service.pk)
        assert (await client.connect())[0]
        await send(
            1000.0, [rs_row("10.20.0.11", 2, 1, 0), rs_row("10.20.0.12", 0, 0, 0), service_row(2, 1, 0)], full=True
        )
        first = await both(client)
        await send(1001.0, [rs_row("10.20.0.11", 3, 1, 0), service_row(3, 1, 0)])
        await send(1002.0, [rs_row("10.20.0.11", 3, 1, 80, 800), service_row(3, 1, 80, 800)])
        second, third = await both(client), await both(client)
        await client.disconnect()
        return first, second, third

    first, second, third = async_to_sync(scenario)()
    rs1, service = lab.real_server1.pk, lab.service.pk
    assert first["host"] == "director"
    assert [service, rs1, True, 2, 1, 0.0, 0.0, 0.0, 0.0, 0.0] in first["rows"]
    assert [row[:5] for row in second["rows"] if row[1] == rs1] == [[service, rs1, True, 3, 1]]
    # counters moved 80 connections over the 2-s window: 40 conn/s, 400 packets/s in
    assert [row for row in third["rows"] if row[1] == rs1] == [[service, rs1, True, 3, 1, 40.0, 400.0, 0.0, 0.0, 0.0]]
    # rs2 gets nothing while rs1 gets 40 conn/s: the page warns about it
    assert third["checked"] == [service] and third["quiet"] == [lab.real_server2.pk]


@pytest.mark.parametrize("socket", ["cluster", "traffic page"])
@pytest.mark.parametrize("who", ["in no team", "in another team"])
def test_outsiders_cannot_subscribe(lab, who, socket):
    user = make_user(staff=False)
    if who == "in another team":
        make_member(user, team=make_team(), role="owner")
    services = lab.service.pk if socket == "traffic page" else None

    async def scenario():
        return await communicator(user, services=services).connect()

    assert async_to_sync(scenario)() == (False, REFUSED)


def test_a_member_removed_mid_connection_stops_receiving(lab, director):
    owner, user = make_user(staff=False), make_user(staff=False)
    make_member(owner)
    membership = make_member(user, role="viewer")
    send = database_sync_to_async(director.send)

    async def scenario():
        client = communicator(user)
        assert (await client.connect())[0]
        await send(1000.0, [rs_row("10.20.0.11", 2, 1, 0)], full=True)
        before = await next_traffic(client)
        await database_sync_to_async(team_actions.remove_member)(acting_user=owner, membership=membership)
        await asyncio.sleep(RECHECK_SECONDS)  # a verdict is reused for this long
        await send(1001.0, [rs_row("10.20.0.11", 5, 1, 0)])
        after = await client.receive_output(timeout=5)
        nothing = await client.receive_nothing(timeout=1.5)
        return before, after, nothing

    before, after, nothing = async_to_sync(scenario)()
    assert before["type"] == "traffic"
    assert after == {"type": "websocket.close", "code": REFUSED}
    assert nothing


def test_real_servers_rows_go_only_to_pages_showing_their_service(lab, director):
    member, outsider = make_user(staff=False), make_user(staff=False)
    make_member(member, role="viewer")
    theirs = make_team()
    make_member(outsider, team=theirs, role="owner")
    make_cluster(team=theirs, slug="theirs")
    send = database_sync_to_async(director.send)
    rows = [rs_row("10.20.0.11", 2, 1, 0), rs_row("10.20.0.12", 1, 0, 0), service_row(3, 1, 0)]

    async def scenario():
        page = communicator(member, services=lab.service.pk)
        cluster = communicator(member)
        # an outsider naming our service on their own cluster's traffic page
        spy = communicator(outsider, slug="theirs", services=lab.service.pk)
        for client in (page, cluster, spy):
            assert (await client.connect())[0]
        await send(1000.0, rows, full=True)
        got = await both(page), await next_traffic(cluster)
        assert await cluster.receive_nothing(timeout=1) and await spy.receive_nothing(timeout=0.5)
        for client in (page, cluster, spy):
            await client.disconnect()
        return got

    page, cluster = async_to_sync(scenario)()
    service, rs1, rs2 = lab.service.pk, lab.real_server1.pk, lab.real_server2.pk
    assert sorted(row[1] or 0 for row in page["rows"]) == [0, rs1, rs2]
    # the cluster's own websocket (cluster page, dashboard) gets the services' totals only
    assert [row[:5] for row in cluster["rows"]] == [[service, None, True, 3, 1]]
