"""The websocket of a traffic page: the cluster's events, plus the real servers' rows of the services the page
shows — and only those (a 1,000-service cluster's batch is ~11,000 rows; a page shows 25 services).

`/ws/clusters/<slug>/traffic/?services=1,2,3` (at most MAX_SERVICES ids): the user must be allowed to see the
cluster, as for `/ws/clusters/<slug>/` (asked again before events are delivered); ids of services that are
not the cluster's are ignored. The page joins the cluster's group (each director's liveness, the services'
totals and the warnings) and the groups of the service chunks its services fall in (their real servers' rows).
"""

from __future__ import annotations

from urllib.parse import parse_qs

from channels.db import database_sync_to_async

from clusters.models import VirtualService
from dispatch.consumers import ClusterStatusConsumer

#: Services whose real servers' rows travel in one group (a page of 25 consecutive services joins 1–2 chunks).
CHUNK = 25
#: The most services one page may follow.
MAX_SERVICES = 100


def chunk_group(cluster_id: int, service_id: int) -> str:
    """The Channels group that carries the real servers' rows of a service (and its CHUNK neighbours)."""
    return f"traffic-{cluster_id}-{service_id // CHUNK}"


def _requested(query_string: bytes) -> list[int]:
    values = parse_qs(query_string.decode("latin-1")).get("services", [""])[0]
    return [int(part) for part in values.split(",") if part.strip().isdigit()][:MAX_SERVICES]


def _services_of_now(cluster_id: int, ids: list[int]) -> list[int]:
    return list(VirtualService.objects.filter(cluster_id=cluster_id, pk__in=ids).values_list("pk", flat=True))


_services_of = database_sync_to_async(_services_of_now, thread_sensitive=False)


class TrafficConsumer(ClusterStatusConsumer):
    """The cluster's websocket, plus the rows of the real servers of the services the page shows."""

    async def connect(self) -> None:
        self.chunks: set[str] = set()
        await super().connect()
        if self.group is None:
            return  # refused
        services = await _services_of(self.cluster_id, _requested(self.scope.get("query_string", b"")))
        self.chunks = {chunk_group(self.cluster_id, service_id) for service_id in services}
        for group in self.chunks:
            await self.channel_layer.group_add(group, self.channel_name)

    async def _leave(self) -> None:
        for group in self.chunks:
            await self.channel_layer.group_discard(group, self.channel_name)
        self.chunks = set()
        await super()._leave()
