"""Row locks that make the inventory's cross-row checks hold under concurrent changes.

Uniqueness inside a cluster has database constraints behind it; “a director holds a VIP for one cluster
only” spans clusters and has none. Every change that can break it locks the cluster it changes and the
director hosts involved, always cluster first, so that a second change waits for the first to commit and
then sees it in its checks.
"""

import contextlib
import contextvars
from collections.abc import Iterator

from django.db import connection

from clusters.choices import HostRole
from clusters.models import Cluster, ClusterHost, Host

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
    if connection.vendor == "postgresql":
        # One round trip, two statements: each has a snapshot of its own (READ COMMITTED), so the second, run
        # once the cluster is locked, sees a director that whoever held the cluster before has just added.
        cluster, host, role = (connection.ops.quote_name(m._meta.db_table) for m in (Cluster, Host, ClusterHost))
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT 1 FROM {cluster} WHERE id = %s FOR UPDATE; "  # noqa: S608 (table names from the models)
                f"SELECT h.id FROM {host} h JOIN {role} r ON r.host_id = h.id "
                "WHERE r.cluster_id = %s AND r.role = %s ORDER BY h.id FOR UPDATE OF h",
                [cluster_id, cluster_id, str(HostRole.DIRECTOR)],
            )
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
