"""Websocket of a cluster's pages: deployment progress, host status and live traffic, live.

The user's right to see the cluster is asked of the policy when the browser connects AND again before
events are delivered: a member removed from the team (or a cluster moved to another team) is disconnected
with REFUSED at the first event after the change. Live traffic sends an event per director every second to
every open page, so a verdict is reused for RECHECK_SECONDS: a removed member gets at most that much more.
"""

import time

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from clusters import selectors
from dispatch.events import cluster_group
from teams import policy

#: Close code for a refused subscription (4000-4999 are the application's; 4403 reads as "forbidden").
REFUSED = 4403
#: How long a "may still see the cluster" verdict is reused before the policy is asked again.
RECHECK_SECONDS = 1.0


def _visible_cluster_id_now(user, slug: str) -> int | None:
    """The cluster's id when the policy lets the user see it, else None (a cluster one may not see does not exist)."""
    policy.forget_roles(user)  # the connection's user object outlives requests: ask with today's roles
    return selectors.visible_clusters(user).filter(slug=slug).values_list("pk", flat=True).first()


# Not thread-sensitive: the checks of many open pages run side by side instead of one after another.
_visible_cluster_id = database_sync_to_async(_visible_cluster_id_now, thread_sensitive=False)


def _still_visible_now(user, cluster_id: int) -> bool:
    """Whether the user may still see the cluster, with the roles they have now."""
    policy.forget_roles(user)
    return selectors.visible_clusters(user).filter(pk=cluster_id).exists()


_still_visible = database_sync_to_async(_still_visible_now, thread_sensitive=False)


class ClusterStatusConsumer(AsyncJsonWebsocketConsumer):
    """Joins the cluster's group after checking the user may see the cluster, and relays its events while
    the user still may."""

    async def connect(self) -> None:
        self.group = None
        self.cluster_id = await _visible_cluster_id(self.scope["user"], self.scope["url_route"]["kwargs"]["slug"])
        if self.cluster_id is None:
            await self.close(code=REFUSED)
            return
        self.group = cluster_group(self.cluster_id)
        self.checked_at = time.monotonic()
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()

    async def disconnect(self, code) -> None:
        await self._leave()

    async def receive(self, text_data=None, bytes_data=None, **kwargs) -> None:
        """Ignore what the browser sends: the page only listens, so nothing it sends is even parsed.

        Parsing it (the JSON consumer's default) let junk or JSON nested thousands deep raise in the consumer.
        """

    async def _leave(self) -> None:
        if self.group:
            await self.channel_layer.group_discard(self.group, self.channel_name)
            self.group = None

    async def cluster_event(self, message) -> None:
        if self.group is None:
            return
        if time.monotonic() - self.checked_at >= RECHECK_SECONDS:
            if not await _still_visible(self.scope["user"], self.cluster_id):
                await self._leave()
                await self.close(code=REFUSED)
                return
            self.checked_at = time.monotonic()
        await self.send_json(message["event"])
