"""Row locks that make the inventory's cross-row checks hold under concurrent changes.

Uniqueness inside a cluster has database constraints behind it; “a director holds a VIP for one cluster
only” spans clusters and has none. Every change that can break it locks the cluster it changes and the
director hosts involved, always cluster first, so that a second change waits for the first to commit and
then sees it in its checks.
"""

import contextlib
import contextvars
from collections.abc import Iterator

from clusters.choices import HostRole
from clusters.models import Cluster, Host

_previewing: contextvars.ContextVar[bool] = contextvars.ContextVar("previewing", default=False)


@contextlib.contextmanager
def previewing() -> Iterator[None]:
    """Within this block changes are only previewed (and rolled back): the locks below are not taken.

    A preview's checks then see the inventory as it is, without waiting for or holding up anyone; the real
    change takes the locks and checks again.
    """
    token = _previewing.set(True)
    try:
        yield
    finally:
        _previewing.reset(token)


def is_previewing() -> bool:
    """Whether changes are only being previewed here (see `previewing`)."""
    return _previewing.get()


def lock_cluster_and_directors(cluster_id: int) -> None:
    """Lock a cluster and the hosts that direct it (before adding or changing one of its VIPs)."""
    if _previewing.get():
        return
    Cluster.objects.select_for_update().filter(pk=cluster_id).first()
    directors = Host.objects.filter(cluster_roles__cluster_id=cluster_id, cluster_roles__role=HostRole.DIRECTOR)
    list(directors.select_for_update(of=("self",)).order_by("pk").values_list("pk", flat=True))


def lock_cluster_and_host(cluster_id: int, host_id: int) -> None:
    """Lock a cluster and a host (before giving the host a role there)."""
    if _previewing.get():
        return
    Cluster.objects.select_for_update().filter(pk=cluster_id).first()
    Host.objects.select_for_update().filter(pk=host_id).first()
