"""Live traffic in the browser: Channels over the Redis layer, and only for members of the cluster's team."""

import asyncio

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator

from agents.consumers import RECHECK_SECONDS, REFUSED
from agents.routing import websocket_urlpatterns
from teams import actions as team_actions
from tests.factories import make_member, make_team, make_user
from tests.traffic.conftest import rs_row, service_row

pytestmark = pytest.mark.django_db(transaction=True)


def communicator(user, slug="web"):
    client = WebsocketCommunicator(URLRouter(websocket_urlpatterns), f"/ws/clusters/{slug}/")
    client.scope["user"] = user
    return client


async def next_traffic(client):
    while True:
        event = await client.receive_json_from(timeout=5)
        if event["type"] == "traffic":
            return event


def test_a_member_sees_connections_and_rates_each_second(lab, director):
    user = make_user(staff=False)
    make_member(user, role="viewer")
    send = database_sync_to_async(director.send)

    async def scenario():
        client = communicator(user)
        assert (await client.connect())[0]
        await send(
            1000.0, [rs_row("10.20.0.11", 2, 1, 0), rs_row("10.20.0.12", 0, 0, 0), service_row(2, 1, 0)], full=True
        )
        first = await next_traffic(client)
        await send(1001.0, [rs_row("10.20.0.11", 3, 1, 0), service_row(3, 1, 0)])
        await send(1002.0, [rs_row("10.20.0.11", 3, 1, 80, 800), service_row(3, 1, 80, 800)])
        second, third = await next_traffic(client), await next_traffic(client)
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


@pytest.mark.parametrize("who", ["in no team", "in another team"])
def test_outsiders_cannot_subscribe(lab, who):
    user = make_user(staff=False)
    if who == "in another team":
        make_member(user, team=make_team(), role="owner")

    async def scenario():
        return await communicator(user).connect()

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
