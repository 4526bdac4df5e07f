"""Websocket of a cluster's status page: deployment progress and host status, live."""

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from agents.events import cluster_group
from teams import policy

#: Close code for a refused subscription (4000-4999 are the application's; 4403 reads as "forbidden").
REFUSED = 4403


@database_sync_to_async
def _visible_cluster_id(user, slug: str) -> int | None:
    """The cluster's id when the policy lets the user see it, else None (a cluster one may not see does not exist)."""
    policy.forget_roles(user)  # the connection's user object outlives requests: ask with today's roles
    return policy.visible_clusters(user).filter(slug=slug).values_list("pk", flat=True).first()


class ClusterStatusConsumer(AsyncJsonWebsocketConsumer):
    """Joins the cluster's group after checking the user may see the cluster, and relays its events."""

    async def connect(self) -> None:
        self.group = None
        cluster_id = await _visible_cluster_id(self.scope["user"], self.scope["url_route"]["kwargs"]["slug"])
        if cluster_id is None:
            await self.close(code=REFUSED)
            return
        self.group = cluster_group(cluster_id)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()

    async def disconnect(self, code) -> None:
        if self.group:
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def cluster_event(self, message) -> None:
        await self.send_json(message["event"])
