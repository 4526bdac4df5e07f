"""Which inventory objects a director's kernel rows are: services by their kernel key, real servers by
address and port. Cached per host for a few seconds, since a director sends a batch every second."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from lvsweb_agent.model import ServiceKey, normalize_address

from clusters.choices import HostRole, RealServerState
from clusters.models import ClusterHost, RealServer, VirtualService

CACHE_SECONDS = 10.0
_cache: dict[int, tuple[float, DirectorInventory]] = {}


@dataclass
class DirectorInventory:
    """The services and real servers a director holds for its clusters."""

    services: dict[str, tuple[int, int]] = field(default_factory=dict)  # kernel key → (service id, cluster id)
    real_servers: dict[tuple[int, str, int], int] = field(default_factory=dict)  # (service, address, port) → id
    takes_new: dict[int, bool] = field(default_factory=dict)  # real server id → may get new connections


def service_key_text(service: VirtualService) -> str:
    """How the kernel (and the agent's batches) name the service: `tcp 10.0.0.1:80`, `fwmark 5`."""
    if service.is_fwmark:
        return str(ServiceKey.for_fwmark(service.fwmark, service.address_family))
    return str(ServiceKey.for_address(service.protocol, service.address, service.port))


def load(host_id: int) -> DirectorInventory:
    """Read the inventory of every cluster the host directs."""
    clusters = ClusterHost.objects.filter(host_id=host_id, role=HostRole.DIRECTOR).values("cluster_id")
    inventory = DirectorInventory()
    for service in VirtualService.objects.filter(cluster_id__in=clusters):
        inventory.services[service_key_text(service)] = (service.pk, service.cluster_id)
    rows = RealServer.objects.filter(virtual_service__cluster_id__in=clusters).values_list(
        "pk", "virtual_service_id", "address", "port", "weight", "state"
    )
    for pk, service_id, address, port, weight, state in rows:
        inventory.real_servers[(service_id, normalize_address(address), port or 0)] = pk
        inventory.takes_new[pk] = weight > 0 and state == RealServerState.ACTIVE
    return inventory


def for_director(host_id: int, *, fresh: bool = False) -> DirectorInventory:
    """The host's inventory, from the cache unless it is older than CACHE_SECONDS or `fresh` is asked."""
    now = time.monotonic()
    cached = _cache.get(host_id)
    if fresh or cached is None or now - cached[0] > CACHE_SECONDS:
        cached = _cache[host_id] = (now, load(host_id))
    return cached[1]


def forget() -> None:
    """Drop every cached inventory (tests that change the inventory between batches)."""
    _cache.clear()
