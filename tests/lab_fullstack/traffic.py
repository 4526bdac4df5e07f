"""Live traffic in the full-stack lab run: real HTTP through the VIP in the VM → the director agent's stats
batches (read from its kernel over netlink) → the forwarded Redis broker → the control worker on this machine →
the Channels groups (Redis layer) → a WebsocketCommunicator on the cluster's traffic socket, as a member: the
cluster's events (the services' totals) and those of the services it follows (their real servers' rows).

Used by test_fullstack.py inside its one VM boot.
"""

from __future__ import annotations

import asyncio
import time

from asgiref.sync import async_to_sync
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator

from lvsweb.routing import websocket_urlpatterns

# A live row: [service, real server or null, present, active, inactive, cps, in_pps, out_pps, in_bps, out_bps].
ACTIVE, INACTIVE, CPS, IN_PPS, OUT_PPS, IN_BPS, OUT_BPS = range(3, 10)


def watch_traffic(user, slug: str, services: list[int], make_traffic, enough, timeout: float = 90) -> dict:
    """Subscribe to the cluster `slug` and its `services` as `user` (as a Traffic page does), call make_traffic()
    (blocking, run in a thread), and collect the traffic events' rows until enough(seen) is true or `timeout`
    seconds pass. Returns `seen`: {"events": [...], "max": {(service, real server): [max of each figure]},
    "traffic": make_traffic()'s result}.
    """
    seen: dict = {"events": [], "max": {}, "traffic": None}

    async def scenario():
        path = f"/ws/clusters/{slug}/traffic/?services={','.join(map(str, services))}"
        client = WebsocketCommunicator(URLRouter(websocket_urlpatterns), path)
        client.scope["user"] = user
        connected, code = await client.connect(timeout=30)
        assert connected, f"the websocket refused a member of the cluster's team (code {code})"
        try:
            seen["traffic"] = await asyncio.to_thread(make_traffic)
            deadline = time.monotonic() + timeout
            while not enough(seen) and time.monotonic() < deadline:
                try:
                    event = await client.receive_json_from(timeout=max(0.1, min(5, deadline - time.monotonic())))
                except TimeoutError:
                    continue
                if event.get("type") != "traffic":
                    continue
                seen["events"].append(event)
                for row in event["rows"]:
                    key = (row[0], row[1])
                    figures = [float(value) for value in row[ACTIVE:]]
                    before = seen["max"].get(key, [0.0] * len(figures))
                    seen["max"][key] = [max(a, b) for a, b in zip(before, figures, strict=True)]
        finally:
            await client.disconnect()

    async_to_sync(scenario)()
    return seen


def figure(seen: dict, service: int, real_server: int | None, index: int) -> float:
    """The largest value of figure `index` (ACTIVE, CPS, …) a row of (service, real server) showed."""
    return seen["max"].get((service, real_server), [0.0] * 7)[index - ACTIVE]
