"""Unapplied changes: what the inventory has that the latest revision — what the console last sent — has not.

Editing the inventory (a one-click Drain included) changes nothing on the hosts until the next apply; the
pages say so with these: the count of changes for a cluster ("3 unapplied changes → Plan") and, on a real
server's row, how it stands in the latest revision and what the next apply makes of it ("weight 5 in
revision 3 (last sent) → 0 at next apply"). The latest revision is what was *sent*: whether each host
applied it is for the Plan and the revision's page to say, host by host.

Cost, measured on this machine (PostgreSQL, 2 cores shared with other test runs): reading a cluster of
1,000 services × 10 real servers and comparing it with its revision takes 0.3–0.5 s (more under load) — its
page went from ~0.45 s to ~0.85 s. So the pages first ask `unchanged_since_revision` (counts and
`updated_at`, four grouped queries) and compare only the clusters that may have changed since their latest
revision: the dashboard of 50 clusters (49 of 10 × 4, one of 1,000 × 10), all applied, took 0.65–0.93 s
when every cluster was compared, 0.10 s when none had changed. Every query is grouped over the clusters
shown: a fixed number of queries whatever the number of clusters.
"""

import copy
import json
import threading
from collections import OrderedDict
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.db import connection
from django.db.models import Count, F, Max, OuterRef, Subquery

from clusters.choices import RealServerState
from clusters.compiler import REAL_SERVER_FIELDS, inventory_snapshots
from clusters.models import Cluster, ClusterHost, HealthCheck, RealServer, VipGroup, VirtualService
from dispatch.models import Revision
from dispatch.revisions import DIRECTOR_HA_DEFAULTS, inventory_diff, real_server_key, service_key

#: An edit saved this long before a revision was made may still have missed it (its transaction committed
#: after the apply read the inventory): `unchanged_since_revision` never trusts timestamps that close.
SETTLED = timedelta(minutes=5)


@dataclass
class Unapplied:
    """A cluster's changes since its latest revision (all of it when it was never applied)."""

    revision: Revision | None
    changes: list[dict[str, Any]] = field(default_factory=list)
    #: The count alone, when it was counted in the database rather than by comparing (`changes` is then empty).
    counted: int | None = None

    @property
    def count(self) -> int:
        return self.counted if self.counted is not None else len(self.changes)


def latest_revisions(cluster_ids: Iterable[int], *, inventory: bool = True) -> dict[int, Revision]:
    """{cluster id: its highest-numbered revision} in one query (clusters never applied are left out); without
    `inventory`, the revisions are read without it (megabytes at thousands of real servers)."""
    newest = Revision.objects.filter(cluster=OuterRef("cluster")).order_by("-number").values("number")[:1]
    revisions = Revision.objects.filter(cluster_id__in=list(cluster_ids), number=Subquery(newest))
    if not inventory:
        revisions = revisions.defer("inventory")
    return {revision.cluster_id: revision for revision in revisions}


#: What `sent_counts` reads of each inventory, computed by the database (the JSON stays there), per vendor.
_COUNTS_SQL = {
    "postgresql": """
        SELECT id,
            jsonb_array_length(coalesce(inventory -> 'virtual_services', '[]'::jsonb)),
            (SELECT count(*) FROM jsonb_array_elements(coalesce(inventory -> 'virtual_services', '[]'::jsonb)) s,
                jsonb_array_elements(coalesce(s -> 'real_servers', '[]'::jsonb)) r),
            (SELECT count(*) FROM jsonb_array_elements(coalesce(inventory -> 'virtual_services', '[]'::jsonb)) s
                WHERE jsonb_typeof(s -> 'health_check') = 'object')
            + (SELECT count(*) FROM jsonb_array_elements(coalesce(inventory -> 'virtual_services', '[]'::jsonb)) s,
                jsonb_array_elements(coalesce(s -> 'real_servers', '[]'::jsonb)) r
                WHERE jsonb_typeof(r -> 'health_check') = 'object'),
            coalesce(inventory -> 'hosts', '[]'::jsonb)::text,
            jsonb_array_length(coalesce(inventory -> 'vip_groups', '[]'::jsonb))
        FROM {table} WHERE id IN ({ids})
    """,
    "sqlite": """
        SELECT id,
            coalesce(json_array_length(inventory, '$.virtual_services'), 0),
            (SELECT count(*) FROM json_each(inventory, '$.virtual_services') s, json_each(s.value, '$.real_servers') r),
            (SELECT count(*) FROM json_each(inventory, '$.virtual_services') s
                WHERE json_type(s.value, '$.health_check') = 'object')
            + (SELECT count(*) FROM json_each(inventory, '$.virtual_services') s,
                json_each(s.value, '$.real_servers') r WHERE json_type(r.value, '$.health_check') = 'object'),
            coalesce(json_extract(inventory, '$.hosts'), '[]'),
            coalesce(json_array_length(inventory, '$.vip_groups'), 0)
        FROM {table} WHERE id IN ({ids})
    """,
}


@dataclass(frozen=True)
class SentCounts:
    """How many services, real servers, health checks and VIP groups a revision sent, and its directors' and real
    servers' (hostname, role, VRRP priority, drained)."""

    services: int
    real_servers: int
    checks: int
    roles: frozenset[tuple]
    vip_groups: int = 0


#: `sent_counts` already counted, by revision (id and creation time: a revision is never changed once made, and
#: an id reused by another database is not the same revision). Counting in a revision's JSON parses all of it:
#: 1.5 MB at 5,000 real servers, 19 of them took 100 ms of the dashboard's 250 ms on every request.
COUNTS_KEPT = 1024
_counted: OrderedDict[tuple[int, Any], SentCounts] = OrderedDict()
_counted_lock = threading.Lock()


def sent_counts(revisions: Iterable[Revision]) -> dict[int, SentCounts]:
    """{revision id: SentCounts}, counted by the database in one query without reading the inventories, for
    the revisions not counted before in this process (none: no query)."""
    revisions = list(revisions)
    with _counted_lock:
        known = {r.pk: _counted[(r.pk, r.created_at)] for r in revisions if (r.pk, r.created_at) in _counted}
    ids = [int(revision.pk) for revision in revisions if revision.pk not in known]
    if not ids:
        return known
    sql = _COUNTS_SQL[connection.vendor].format(
        table=connection.ops.quote_name(Revision._meta.db_table), ids=", ".join(["%s"] * len(ids))
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, ids)
        rows = cursor.fetchall()
    counted = {
        pk: SentCounts(services, real_servers, checks, frozenset(_role(h) for h in json.loads(hosts)), groups)
        for pk, services, real_servers, checks, hosts, groups in rows
    }
    created = {revision.pk: revision.created_at for revision in revisions}
    with _counted_lock:
        for pk, counts in counted.items():
            _counted[(pk, created[pk])] = counts
        while len(_counted) > COUNTS_KEPT:
            _counted.popitem(last=False)
    return {**known, **counted}


def _role(host: Mapping[str, Any]) -> tuple:
    """A host's role in a revision with its HA settings (revisions before director HA hold none: the defaults)."""
    return (
        host["hostname"],
        host["role"],
        *(host.get(name, default) for name, default in DIRECTOR_HA_DEFAULTS.items()),
    )


def latest_revision(cluster: Cluster) -> Revision | None:
    """The cluster's highest-numbered revision: what the console last sent to its hosts."""
    return cluster.revisions.order_by("-number").first()


def nothing_sent(snapshot: Mapping[str, Any]) -> dict[str, Any]:
    """The inventory a never-applied cluster is compared with: its settings, no hosts, no services."""
    return {"cluster": dict(snapshot["cluster"]), "hosts": [], "virtual_services": []}


def _stats(queryset, cluster_field: str, *timestamps: str) -> dict[int, tuple[int, Any]]:
    """{cluster id: (row count, latest of `timestamps`)} in one grouped query."""
    rows = (
        queryset.values(cid=F(cluster_field))
        .annotate(n=Count("pk"), **{f"last{i}": Max(name) for i, name in enumerate(timestamps)})
        .order_by()
    )
    return {
        row["cid"]: (row["n"], max((row[f"last{i}"] for i in range(len(timestamps)) if row[f"last{i}"]), default=None))
        for row in rows
    }


def real_servers_by_state(cluster_ids: Iterable[int]) -> dict[int, dict[str, tuple[int, Any]]]:
    """{cluster id: {state: (real servers, the latest `updated_at` of them and of their hosts)}} in one grouped
    query: the dashboard's health counts and `unchanged_since_revision`'s in one scan of the real servers."""
    rows = (
        RealServer.objects.filter(virtual_service__cluster_id__in=list(cluster_ids))
        .values_list("virtual_service__cluster_id", "state")
        .annotate(n=Count("pk"), last=Max("updated_at"), host_last=Max("host__updated_at"))
        .order_by()
    )
    result: dict[int, dict[str, tuple[int, Any]]] = {}
    for cluster_id, state, n, last, host_last in rows:
        result.setdefault(cluster_id, {})[state] = (n, max((t for t in (last, host_last) if t), default=None))
    return result


def all_states(by_state: Mapping[int, Mapping[str, tuple[int, Any]]]) -> dict[int, tuple[int, Any]]:
    """{cluster id: (real servers, latest `updated_at`)} of `real_servers_by_state`, whatever their state."""
    return {
        cluster_id: (
            sum(n for n, _ in states.values()),
            max((last for _, last in states.values() if last), default=None),
        )
        for cluster_id, states in by_state.items()
    }


def state_counts(by_state: Mapping[int, Mapping[str, tuple[int, Any]]]) -> dict[int, dict[str, int]]:
    """{cluster id: {state: real servers}} of `real_servers_by_state`: what `health_of` counts."""
    return {cluster_id: {state: n for state, (n, _) in states.items()} for cluster_id, states in by_state.items()}


def unchanged_since_revision(
    clusters: list[Cluster],
    revisions: Mapping[int, Revision],
    real_servers: Mapping[int, tuple[int, Any]] | None = None,
) -> set[int]:
    """The clusters whose inventory certainly still is their latest revision, told from counts and `updated_at`
    (five grouped queries, and `sent_counts` counting in the revisions' JSON) without reading the inventory:
    nothing of theirs was saved since `SETTLED` before the revision was made, and they have as many services,
    real servers, health checks, VIP groups and host roles as it. `real_servers` (`all_states`), when the caller
    has them, saves the query of the real servers.

    A deletion lowers a count; an addition or an edit leaves a newer `updated_at` (the actions save objects
    one by one, so `auto_now` is set). Any doubt — a recent edit, a host saved since — means "compare".
    """
    ids = [cluster.pk for cluster in clusters if cluster.pk in revisions]
    if not ids:
        return set()
    services = _stats(VirtualService.objects.filter(cluster_id__in=ids), "cluster_id", "updated_at")
    if real_servers is None:
        real_servers = _stats(
            RealServer.objects.filter(virtual_service__cluster_id__in=ids),
            "virtual_service__cluster_id",
            "updated_at",
            "host__updated_at",
        )
    checks = _stats(HealthCheck.objects.filter(cluster_id__in=ids), "cluster_id", "updated_at")
    groups = _stats(VipGroup.objects.filter(cluster_id__in=ids), "cluster_id", "updated_at")
    roles: dict[int, set[tuple]] = {cluster_id: set() for cluster_id in ids}
    for cluster_id, hostname, role, priority, drained in ClusterHost.objects.filter(cluster_id__in=ids).values_list(
        "cluster_id", "host__hostname", "role", "vrrp_priority", "drained"
    ):
        roles[cluster_id].add((hostname, role, priority, drained))
    sent = sent_counts(revisions[cluster_id] for cluster_id in ids)
    unchanged = set()
    for cluster in clusters:
        revision = revisions.get(cluster.pk)
        if revision is None:
            continue
        counts, settled = sent[revision.pk], revision.created_at - SETTLED
        expected = {
            "services": (services, counts.services),
            "real servers": (real_servers, counts.real_servers),
            "checks": (checks, counts.checks),
            "VIP groups": (groups, counts.vip_groups),
        }
        same = cluster.updated_at < settled and roles[cluster.pk] == counts.roles
        for stats, count in expected.values():
            n, last = stats.get(cluster.pk, (0, None))
            same = same and n == count and (last is None or last < settled)
        if same:
            unchanged.add(cluster.pk)
    return unchanged


def never_applied_counts(clusters: list[Cluster]) -> dict[int, int]:
    """{cluster id: its unapplied changes} of clusters never applied, counted in four grouped queries: every
    host role, service, real server and VIP group is an addition (what comparing with `nothing_sent` finds, without
    reading thousands of rows to count them)."""
    ids = [cluster.pk for cluster in clusters]
    if not ids:
        return {}
    counts = dict.fromkeys(ids, 0)
    for queryset, cluster_field in (
        (VirtualService.objects.filter(cluster_id__in=ids), "cluster_id"),
        (RealServer.objects.filter(virtual_service__cluster_id__in=ids), "virtual_service__cluster_id"),
        (VipGroup.objects.filter(cluster_id__in=ids), "cluster_id"),
    ):
        for cluster_id, (n, _last) in _stats(queryset, cluster_field).items():
            counts[cluster_id] += n
    roles = ClusterHost.objects.filter(cluster_id__in=ids).values_list("cluster_id", "host_id", "role").distinct()
    for cluster_id, _host, _role in roles:
        counts[cluster_id] += 1
    return counts


def unapplied_of(
    clusters: Iterable[Cluster],
    *,
    shortcut: bool = False,
    real_servers: Mapping[int, tuple[int, Any]] | None = None,
) -> dict[int, Unapplied]:
    """{cluster id: its unapplied changes}, in five queries whatever the number of clusters.

    With `shortcut` (the dashboard), clusters that `unchanged_since_revision` clears are not read and
    compared: five more queries (four with `real_servers`, see there), and only the others' inventories are
    read (the revisions of the unchanged come without theirs); clusters never applied are counted, not
    compared (`never_applied_counts`).
    """
    clusters = list(clusters)
    revisions = latest_revisions((cluster.pk for cluster in clusters), inventory=not shortcut)
    unchanged = unchanged_since_revision(clusters, revisions, real_servers) if shortcut else set()
    compared = [cluster for cluster in clusters if cluster.pk not in unchanged]
    if shortcut and any(cluster.pk in revisions for cluster in compared):  # read only the inventories compared
        revisions.update(latest_revisions(cluster.pk for cluster in compared if cluster.pk in revisions))
    never = never_applied_counts([cluster for cluster in compared if cluster.pk not in revisions]) if shortcut else {}
    snapshots = inventory_snapshots([cluster for cluster in compared if cluster.pk not in never])
    result = {}
    for cluster in clusters:
        if cluster.pk in unchanged:
            result[cluster.pk] = Unapplied(revisions[cluster.pk])
            continue
        if cluster.pk in never:
            result[cluster.pk] = Unapplied(None, counted=never[cluster.pk])
            continue
        snapshot, revision = snapshots[cluster.pk], revisions.get(cluster.pk)
        # A revision's inventory has every key; `nothing_sent` only fills in for none (and hand-made test data).
        sent = {**nothing_sent(snapshot), **(revision.inventory if revision is not None else {})}
        result[cluster.pk] = Unapplied(revision, inventory_diff(sent, snapshot))
    return result


def sent_entries(
    inventory: Mapping[str, Any], services: Collection[tuple] | None = None
) -> dict[tuple, tuple[dict[str, Any], dict[str, Any]]]:
    """{(service key, real server key): (service, real server)} of a revision's inventory (of the services
    whose keys are in `services` only, when given: a page's, not the cluster's thousands)."""
    entries = {}
    for service in inventory.get("virtual_services", []):
        key = service_key(service)
        if services is None or key in services:
            entries.update({(key, real_server_key(rs)): (service, rs) for rs in service["real_servers"]})
    return entries


#: The services of a revision's inventory with one of the keys "protocol address port" (or firewall marks).
_SERVICES_SQL = """
    SELECT s::text FROM {table} r, jsonb_array_elements(coalesce(r.inventory -> 'virtual_services', '[]'::jsonb)) s
    WHERE r.id = %s AND (
        concat_ws(' ', s ->> 'protocol', s ->> 'address', s ->> 'port') = ANY(%s) OR s ->> 'protocol' = 'fwmark'
    )
"""


def sent_services(revision: Revision, services: Collection[tuple]) -> Mapping[str, Any]:
    """What `sent_entries` needs of `revision`'s inventory for `services` (keys): the inventory itself when it was
    read, else (PostgreSQL) only those services (and any firewall mark), picked out by the database. A page shows 25
    services: reading the whole inventory parsed 1.5 MB of JSON at 5,000 real servers, for 1/20 of it."""
    if "inventory" not in revision.get_deferred_fields() or connection.vendor != "postgresql":
        return revision.inventory
    keys = sorted({" ".join(map(str, key)) for key in services if key[0] != "fwmark"})
    with connection.cursor() as cursor:
        cursor.execute(
            _SERVICES_SQL.format(table=connection.ops.quote_name(Revision._meta.db_table)), [revision.pk, keys]
        )
        return {"virtual_services": [json.loads(text) for (text,) in cursor.fetchall()]}


def find_sent(inventory: Mapping[str, Any], real_server: RealServer) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """The real server's (service, real server) entries in a revision's inventory, or None when not in it."""
    key = (real_server.virtual_service.identity, (real_server.address, real_server.port))
    return sent_entries(inventory).get(key)


def with_state(inventory: Mapping[str, Any], real_server: RealServer, state: str) -> dict[str, Any]:
    """A copy of a revision's inventory where only `real_server` has `state` (it must be in the inventory)."""
    changed = copy.deepcopy(dict(inventory))
    found = find_sent(changed, real_server)
    if found is None:
        raise KeyError(real_server.pk)
    found[1]["state"] = str(state)
    return changed


def kernel_weight(service_enabled: bool, state: str, weight: int) -> int | None:
    """The weight the directors give a real server, or None when they do not have it at all."""
    if not service_enabled or state == RealServerState.DISABLED:
        return None
    return 0 if state == RealServerState.DRAINING else weight


def pending_change(revision: Revision | None, sent: tuple[dict, dict] | None, real_server: RealServer) -> str:
    """What the next apply changes for this real server on the directors, in words; "" when nothing."""
    service = real_server.virtual_service
    after = kernel_weight(service.enabled, real_server.state, real_server.weight)
    if revision is None or sent is None:
        return "" if after is None else f"not sent yet → weight {after} at next apply"
    sent_service, sent_rs = sent
    before = kernel_weight(sent_service["enabled"], sent_rs["state"], sent_rs["weight"])
    where = f"in revision {revision.number} (last sent)"
    newly_draining = real_server.state == RealServerState.DRAINING and sent_rs["state"] != RealServerState.DRAINING
    draining = " (draining)" if newly_draining else ""
    if before != after:
        if after is None:
            return f"weight {before} {where} → removed at next apply"
        if before is None:
            return f"not in the kernel {where} → weight {after} at next apply"
        return f"weight {before} {where} → {after} at next apply{draining}"
    current = {name: getattr(real_server, name) for name in REAL_SERVER_FIELDS}
    current["host"] = real_server.host.hostname if real_server.host is not None else None
    if any(sent_rs.get(name) != value for name, value in current.items()):
        return f"changed since revision {revision.number} (last sent): sent at next apply"
    return ""


def annotate_real_servers(revision: Revision | None, real_servers: Iterable[RealServer]) -> None:
    """Give each real server `sent_state` (its state in the latest revision, None when not in it) and
    `pending` (`pending_change`), reading the revision's inventory once."""
    real_servers = list(real_servers)
    shown = {rs.virtual_service.identity for rs in real_servers}
    entries = sent_entries(sent_services(revision, shown), shown) if revision is not None else {}
    for rs in real_servers:
        sent = entries.get((rs.virtual_service.identity, (rs.address, rs.port)))
        # Annotations for the page (like `connections`), not model fields.
        rs.sent_state = sent[1]["state"] if sent else None  # type: ignore[attr-defined]
        rs.pending = pending_change(revision, sent, rs)  # type: ignore[attr-defined]
