"""The cluster pages' websocket only listens: whatever a client sends over it is ignored, never fatal."""

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator

from dispatch.events import broadcast
from dispatch.routing import websocket_urlpatterns
from tests.factories import make_cluster, make_member, make_user

pytestmark = pytest.mark.django_db(transaction=True)


def test_junk_and_deeply_nested_json_from_the_browser_leave_the_page_live():
    user = make_user(staff=False)
    make_member(user, role="viewer")
    cluster = make_cluster()

    async def scenario():
        client = WebsocketCommunicator(URLRouter(websocket_urlpatterns), f"/ws/clusters/{cluster.slug}/")
        client.scope["user"] = user
        connected, _ = await client.connect()
        assert connected
        for text in ("not json at all", "[" * 5000 + "]" * 5000, '{"type": "cluster.event"}'):
            await client.send_to(text_data=text)
        await client.send_to(bytes_data=b"\x00\xff")
        # An event as the console sends it (from a thread, after a commit) still reaches the page.
        await database_sync_to_async(broadcast)(cluster.pk, {"type": "host", "host": "rs1", "status": "online"})
        received = await client.receive_json_from(timeout=10)
        await client.disconnect(timeout=10)
        return received

    assert async_to_sync(scenario)() == {"type": "host", "host": "rs1", "status": "online"}


def test_a_page_that_hears_nothing_for_a_while_still_gets_the_next_event():
    """A quiet page outlives several of the channel layer's blocking pops (5 s each) and still hears the next event.

    redis-py 8 gives every read a 5 s socket timeout by default, the same as channels_redis's BZPOPMIN timeout:
    the read then lost the race to its own deadline and the page's websocket died with "Timeout reading from".
    """
    user = make_user(staff=False)
    make_member(user, role="viewer")
    cluster = make_cluster()

    async def scenario():
        client = WebsocketCommunicator(URLRouter(websocket_urlpatterns), f"/ws/clusters/{cluster.slug}/")
        client.scope["user"] = user
        connected, _ = await client.connect()
        assert connected
        assert await client.receive_nothing(timeout=16, interval=0.5)
        await database_sync_to_async(broadcast)(cluster.pk, {"type": "host", "host": "rs1", "status": "offline"})
        received = await client.receive_json_from(timeout=10)
        await client.disconnect(timeout=10)
        return received

    assert async_to_sync(scenario)() == {"type": "host", "host": "rs1", "status": "offline"}
