"""The console's preview of an apply: per host, the operations its agent will run, before anything is sent.

The preview runs the agent's own pure planner (`lvsweb_agent.planner`) on each host's new document against
the kernel as that host's last successful apply left it (`host_bases`), so that its words are the agent's
words. A host's base is its own: a revision that failed on it, or never reached it, changed nothing there,
whatever other hosts made of it; and a host's document covers every cluster it serves, so its base may
come from another cluster's apply. What the kernel really holds is only known to the agents: "Ask the
agents" asks them (`actions.plan_cluster`). When a host's new document differs from its base only in some
services, only those are parsed and planned (`preview_bases`): the Plan of one weight costs one service.
"""

import gc
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db.models import Max, OuterRef, Q, Subquery
from lvsweb_agent.model import ServiceKey, normalize_address
from lvsweb_agent.planner import plan

from clusters.choices import Protocol
from clusters.compiler import DOCUMENT_VERSION, compile_documents, inventory_snapshot
from clusters.models import Cluster, Host, RealServer, sync_state
from clusters.real_server_hosts import by_address, unconfigured_real_servers
from dispatch.actions.deployments import departed_hosts, not_sent_words, other_snapshots, unreachable_state
from dispatch.capabilities import capability_gaps
from dispatch.choices import OPEN_STATUSES, DeploymentKind, DeploymentStatus, SyncState
from dispatch.models import Deployment
from dispatch.preview_bases import ParsedBase, delta_operations, kernel_left_by, parsed, parsed_bases
from traffic.live import active_connections

#: How each kind of agent operation reads in a diff (a drain is the first step of a removal).
CHANGE_OF_OPERATION = {
    "load-module": "added",
    "add-link": "added",
    "link-up": "added",
    "add-fou": "added",
    "add-address": "added",
    "add-service": "added",
    "add-dest": "added",
    "write-file": "added",
    "set-sysctl": "changed",
    "set-link": "changed",
    "edit-service": "changed",
    "edit-dest": "changed",
    "drain-dest": "removed",
    "del-dest": "removed",
    "del-service": "removed",
    "del-address": "removed",
    "del-link": "removed",
    "remove-file": "removed",
    # director HA (docs/ha.md): keepalived's configuration and the sync daemon's role change, keepalived stops
    "sync-daemon": "changed",
    "ha-config": "changed",
    "ha-stop": "removed",
}
#: The text mark of each change, for readers who do not see colours.
MARKS = {"added": "+", "changed": "~", "removed": "−"}

#: Why a host in each state will not apply, in the operator's words.
FAILING_STATES = {
    SyncState.NEVER_ENROLLED: "never enrolled: the console sends it nothing; enroll its agent first.",
    SyncState.REVOKED: "revoked: the console sends it nothing; enroll its agent again to manage it.",
    SyncState.OFFLINE: "agent offline: its command waits {ttl} s for the agent, then fails.",
    SyncState.WAITING: "waiting for its agent's first heartbeat: its command waits {ttl} s for the agent, then fails.",
}


#: Operations listed per host on the Plan page: a first apply of 5,000 real servers plans about 5,500 per
#: director, 6.6 MB of HTML; past this many the page lists these and counts the rest by kind.
OPERATIONS_SHOWN = 200


@dataclass
class PlannedOperation:
    """One operation of a host's preview, with how it reads in a diff."""

    op: str
    target: str
    detail: str
    reason: str
    change: str
    real_server: tuple[str, str, int] | None = None  # (service target, address, port) for real-server operations
    connections: tuple[int, int] | None = None  # (active, inactive) now, from the directors' latest reads

    @property
    def mark(self) -> str:
        return MARKS[self.change]


@dataclass
class HostBase:
    """What a host's preview is compared with: the document its agent last applied whole, and how we know.

    `applied` is the apply deployment whose document the kernel holds (None: the host has applied nothing).
    It counts when the agent reported it applied, or when its agent's heartbeat names its serial as the one
    it applied (the "applied" report was lost or came after the command expired), or when a later reconcile
    re-applied it whole after it had failed part-way (`completed_by`). `unfinished` is a later apply its agent
    ran that failed part-way (the kernel may hold part of it); `not_reached` the latest apply that was meant
    for this host and changed nothing there (not sent, refused, expired unanswered); `running` an apply still
    under way on it.
    """

    applied: Deployment | None = None
    by_agent_word: bool = False
    completed_by: Deployment | None = None
    unfinished: Deployment | None = None
    not_reached: Deployment | None = None
    running: Deployment | None = None
    unreadable: list[str] = field(default_factory=list)

    @property
    def done_of_unfinished(self) -> tuple[int, int]:
        """(operations done, operations reported) of the part-way apply."""
        operations = self.unfinished.operations if self.unfinished is not None else []
        return sum(1 for operation in operations if operation.get("done")), len(operations)


@dataclass
class HostPreview:
    """What an apply would do on one host."""

    host: Host
    roles: list[str]
    state: SyncState
    operations: list[PlannedOperation] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    failure: str = ""
    problems: list[str] = field(default_factory=list)
    leaves_cluster: bool = False
    base: HostBase = field(default_factory=HostBase)
    unreachable: SyncState | None = None  # never enrolled or revoked: the console sends it nothing

    @property
    def shown_operations(self) -> list[PlannedOperation]:
        """The operations the Plan page lists (the first OPERATIONS_SHOWN; `summary` counts them all)."""
        return self.operations[:OPERATIONS_SHOWN]

    @property
    def hidden_count(self) -> int:
        return max(len(self.operations) - OPERATIONS_SHOWN, 0)

    @property
    def summary(self) -> list[tuple[str, str, str, int]]:
        """(change, mark, operation, count) over every operation, e.g. ("added", "+", "add-dest", 5000)."""
        counts = Counter((operation.change, operation.op) for operation in self.operations)
        return [(change, MARKS[change], op, count) for (change, op), count in counts.items()]


@dataclass
class ClusterPreview:
    """The preview of an apply of a cluster's current inventory."""

    cluster: Cluster
    next_revision: int
    hosts: list[HostPreview]

    @property
    def operation_count(self) -> int:
        return sum(len(host.operations) for host in self.hosts)

    @property
    def sending_to(self) -> list[HostPreview]:
        """Hosts that receive the apply: the cluster's, and those taken out of it that may still hold its config."""
        return self.hosts

    @property
    def receiving(self) -> list[HostPreview]:
        """The hosts the console can send the apply to (enrolled, not revoked)."""
        return [host for host in self.hosts if host.unreachable is None]

    @property
    def receiving_operation_count(self) -> int:
        return sum(len(host.operations) for host in self.receiving)

    @property
    def not_sent_words(self) -> str:
        """The hosts the apply sends nothing, in words: 'rs1 and rs2 were never enrolled; rs3 is revoked'."""
        unreachable: dict[SyncState, list[str]] = {}
        for host in self.hosts:
            if host.unreachable is not None:
                unreachable.setdefault(host.unreachable, []).append(host.host.hostname)
        return not_sent_words(unreachable)

    @property
    def nobody_can_receive(self) -> bool:
        """Every host is never enrolled or revoked: the apply is refused (`actions.apply_cluster`)."""
        return bool(self.hosts) and not self.receiving

    @property
    def all_will_fail(self) -> bool:
        """Every host is known to fail (some may be offline or waiting for a first heartbeat)."""
        return bool(self.hosts) and all(host.failure for host in self.hosts)

    def real_servers(self) -> list[tuple[str, str, int]]:
        """Every real server an operation touches, once, in order."""
        seen: dict[tuple[str, str, int], None] = {}
        for host in self.hosts:
            for operation in host.operations:
                if operation.real_server is not None:
                    seen.setdefault(operation.real_server)
        return list(seen)


def _planned(operation) -> PlannedOperation:
    real_server = None
    if operation.dest is not None:
        real_server = (str(operation.service.key), operation.dest.address, operation.dest.port)
    return PlannedOperation(
        op=operation.kind,
        target=operation.target,
        detail=operation.detail,
        reason=operation.reason,
        # Kinds this console does not know yet (a newer agent package: keepalived, sync daemon …) read as changes.
        change=CHANGE_OF_OPERATION.get(operation.kind, "changed"),
        real_server=real_server,
    )


_paused = 0
_paused_lock = threading.Lock()


@contextmanager
def collection_paused() -> Iterator[None]:
    """Python's cyclic garbage collector paused while a cluster is read, compiled, parsed and planned.

    That makes tens of thousands of small long-lived objects (rows, documents, parsed trees): every collection
    their allocation triggers walks them all and frees next to nothing, and at 5,000 real servers that was half
    of a Plan's time (docs/performance.md, "Console at scale"). Reference counting frees them as usual; the few
    cycles (model instances and their prefetched relations) wait for the first collection after the pause,
    which ends when the last thread that paused collection is done.
    """
    global _paused
    with _paused_lock:
        if _paused == 0 and not gc.isenabled():
            _paused = -1  # someone else disabled it: leave it to them
        if _paused >= 0:
            _paused += 1
            gc.disable()
    try:
        yield
    finally:
        with _paused_lock:
            if _paused > 0:
                _paused -= 1
                if _paused == 0:
                    gc.enable()
            elif _paused == -1:
                _paused = 0


def _latest(deployments) -> Subquery:
    return Subquery(deployments.order_by("-id").values("pk")[:1])


def with_base_ids(hosts):
    """The hosts annotated with the ids of the deployments `host_bases` reads: one query for all of them."""
    applies = Deployment.objects.filter(host=OuterRef("pk"), kind=DeploymentKind.APPLY)
    ran = Q(status=DeploymentStatus.APPLIED) | Q(started_at__isnull=False)
    # An apply its agent ran counts when its heartbeat names that serial as applied, even if its report was lost.
    by_agent_word = Q(serial=OuterRef("applied_serial"), serial__gt=0, started_at__isnull=False)
    took = Q(status=DeploymentStatus.APPLIED) | by_agent_word
    reconciled = Deployment.objects.filter(
        host=OuterRef("pk"), kind=DeploymentKind.RECONCILE, status=DeploymentStatus.APPLIED
    )
    return hosts.annotate(
        base_id=_latest(applies.filter(took)),
        ran_id=_latest(applies.filter(ran)),
        last_id=_latest(applies),
        reconciled_id=_latest(reconciled),
    )


def host_bases(hosts: list[Host]) -> dict[int, HostBase]:
    """{host id: HostBase} for hosts loaded through `with_base_ids`, in one more query whatever their number."""
    names = ("base_id", "ran_id", "last_id", "reconciled_id")
    ids = {getattr(host, name) for host in hosts for name in names} - {None}
    # Neither the documents (read when a preview needs one it has not parsed yet) nor the revisions' inventories.
    found = {
        d.pk: d
        for d in Deployment.objects.filter(pk__in=ids)
        .select_related("revision", "cluster")
        .defer("document", "revision__inventory")
    }
    bases = {}
    for host in hosts:
        applied, ran, last, reconciled = (found.get(getattr(host, name)) for name in names)
        base = HostBase(
            applied=applied, by_agent_word=applied is not None and applied.status != DeploymentStatus.APPLIED
        )
        after = applied.pk if applied is not None else 0
        if ran is not None and ran.pk > after:
            if ran.status in OPEN_STATUSES:
                base.running = ran
            elif reconciled is not None and reconciled.pk > ran.pk:
                # The agent holds the last document it ran, whole or not; its reconcile applied it whole.
                base.applied, base.completed_by, base.by_agent_word = ran, reconciled, False
            else:
                base.unfinished = ran
        if last is not None and last.pk > max(after, ran.pk if ran is not None else 0):
            if last.status in OPEN_STATUSES:
                base.running = last
            else:
                base.not_reached = last
        bases[host.pk] = base
    return bases


def preview_apply(cluster: Cluster, now: float | None = None) -> ClusterPreview:
    """Per host of the cluster, and per host taken out of it whose kernel may still hold its config (it is sent
    its document without the cluster): what applying the current inventory would do to the kernel as that
    host's last successful apply left it."""
    now = time.time() if now is None else now
    with collection_paused():
        return _preview_apply(cluster, now)


def _preview_apply(cluster: Cluster, now: float) -> ClusterPreview:
    snapshot = inventory_snapshot(cluster)
    latest = cluster.revisions.aggregate(number=Max("number"))["number"] or 0
    roles: dict[str, list[str]] = {}
    for entry in snapshot["hosts"]:
        roles.setdefault(entry["hostname"], []).append(entry["role"])
    departed = departed_hosts(cluster, snapshot)
    hosts = {host.hostname: host for host in with_base_ids(Host.objects.filter(hostname__in=[*roles, *departed]))}
    bases = host_bases(list(hosts.values()))
    others = other_snapshots(cluster, hosts.values())
    serials = {name: host.document_serial + 1 for name, host in hosts.items()}
    leaving = {hostname: held_roles for hostname, (_number, held_roles) in departed.items()}
    new_documents = compile_documents([snapshot, *others], serials, leaving)
    kept = parsed_bases([base.applied for base in bases.values() if base.applied is not None])
    texts: dict[int, str] = {}  # the services' JSON, once for the directors that share them
    previews = [
        _host_preview(host, hostname, roles, new_documents, serials, bases[host.pk], kept, texts, now)
        for hostname in [*roles, *departed]
        if (host := hosts.get(hostname)) is not None  # None: deleted since the last revision
    ]
    return ClusterPreview(cluster=cluster, next_revision=latest + 1, hosts=previews)


def _host_preview(
    host: Host,
    hostname: str,
    roles: dict[str, list[str]],
    new_documents: dict[str, dict[str, Any]],
    serials: dict[str, int],
    base: HostBase,
    kept: dict[int, ParsedBase],
    texts: dict[int, str],
    now: float,
) -> HostPreview:
    """What applying its new document would do to one host, against `base` (see `preview_apply`): planned for
    the services that differ from the base when that tells (`preview_bases`), else for the whole document."""
    document = new_documents.get(hostname) or _empty_document(hostname, serials[hostname])
    old_base = kept[base.applied.pk] if base.applied is not None else ParsedBase(None, [])
    base.unreadable = old_base.problems
    operations = delta_operations(old_base, document, now, texts)
    new, problems = (None, []) if operations is not None else parsed(document)
    preview = HostPreview(
        host=host,
        roles=roles.get(hostname, []),
        state=sync_state(host),
        problems=problems,
        leaves_cluster=hostname not in roles,
        base=base,
        unreachable=unreachable_state(host),
    )
    if new is not None:
        operations = plan(new, *kernel_left_by(old_base.state), now=now).operations
    if operations is not None:
        preview.operations = [_planned(operation) for operation in operations]
        preview.warnings = capability_gaps(new_documents.get(hostname, {}), host.facts)
    failing = FAILING_STATES.get(preview.state)
    if failing:
        preview.failure = failing.format(ttl=settings.AGENT_COMMAND_TTL)
    return preview


def _empty_document(hostname: str, serial: int) -> dict[str, Any]:
    """The document of a host with no part in any cluster (the compiler leaves such hosts out)."""
    return {"version": DOCUMENT_VERSION, "host": hostname, "revision": serial, "director": None, "real_server": None}


def real_server_connections(cluster: Cluster, touched: list[tuple[str, str, int]]) -> dict:
    """{(service, address, port): (active, inactive) connections, or None} for the real servers a plan touches.

    The figures are the directors' latest reads (`traffic.live`); None when no director sent fresh figures,
    or when the real server is no longer in the inventory (deleted since the last revision).
    """
    if not touched:
        return {}
    index = {}
    # Only the real servers at the addresses touched: not the cluster's thousands for a one-weight change.
    addresses = {address for _service, address, _port in touched}
    for real_server in RealServer.objects.filter(
        virtual_service__cluster=cluster, address__in=addresses
    ).select_related("virtual_service"):
        service = real_server.virtual_service
        if service.protocol == Protocol.FWMARK:
            key = ServiceKey.for_fwmark(service.fwmark, service.address_family)
        else:
            key = ServiceKey.for_address(service.protocol, service.address, service.port)
        port = real_server.port or service.port or 0
        index[(str(key), normalize_address(real_server.address), port)] = real_server.pk
    ids = {entry: index.get(entry) for entry in touched}
    live = active_connections([pk for pk in ids.values() if pk is not None])
    return {entry: live.get(pk) for entry, pk in ids.items()}


def add_connections(preview: ClusterPreview) -> ClusterPreview:
    """Give every real-server operation the Plan page lists its real server's connections right now."""
    shown = {op.real_server for host in preview.hosts for op in host.shown_operations if op.real_server is not None}
    figures = real_server_connections(preview.cluster, [entry for entry in preview.real_servers() if entry in shown])
    for host in preview.hosts:
        for operation in host.shown_operations:
            if operation.real_server is not None:
                operation.connections = figures.get(operation.real_server)
    return preview


def unconfigured(cluster: Cluster) -> dict[str, Any]:
    """The cluster's TUN/DR real servers that no host configures (`unconfigured`), and the same by address
    (`dropped`): an apply sends them traffic that they drop.

    Not part of any host's preview: no host's operations show them, which is the point.
    """
    found = list(unconfigured_real_servers(cluster).values())
    return {"unconfigured": found, "dropped": by_address(found)}
