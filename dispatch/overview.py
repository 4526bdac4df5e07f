"""The sync and apply overview: how a cluster's hosts, real servers and last apply stand, for lists of clusters.

Not the health checks themselves (those are clusters/models/health.py and the agent's probes): this module
sums up, per cluster, host sync states, real-server states and the last deployment, so it sits in dispatch,
above the inventory it reads.

Read in a fixed number of queries whatever the number of clusters, hosts and real servers, so that the
dashboard and the cluster page cost the same for one cluster or a thousand.
"""

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field

from django.db.models import Count, OuterRef, Q, QuerySet, Subquery

from clusters.choices import RealServerState
from clusters.models import (
    Cluster,
    ClusterHost,
    HealthCheck,
    HealthTransition,
    RealServer,
    RealServerHealth,
    VirtualService,
    sync_state,
)
from dispatch.actions.health import agent_name
from dispatch.choices import DeploymentKind, DeploymentStatus, SyncState
from dispatch.models import Deployment, Revision

#: Host states in the order the console shows them, worst news last.
HOST_STATES = [
    SyncState.IN_SYNC,
    SyncState.DRIFTED,
    SyncState.UNKNOWN,
    SyncState.OFFLINE,
    SyncState.WAITING,
    SyncState.NEVER_ENROLLED,
    SyncState.REVOKED,
]
REAL_SERVER_STATES = [RealServerState.ACTIVE, RealServerState.DRAINING, RealServerState.DISABLED]


@dataclass
class LastApply:
    """The most recent apply of a cluster: its revision and how its hosts took it."""

    revision: Revision
    status: DeploymentStatus
    hosts: Counter = field(default_factory=Counter)


@dataclass
class ClusterHealth:
    """Counts of hosts by sync state and real servers by state, and the last apply."""

    hosts: Counter = field(default_factory=Counter)
    real_servers: Counter = field(default_factory=Counter)
    last_apply: LastApply | None = None

    @property
    def host_rows(self) -> list[tuple[str, str, int]]:
        """(state, label, count) for every host state that occurs."""
        return [(state.value, state.label, self.hosts[state.value]) for state in HOST_STATES if self.hosts[state.value]]

    @property
    def real_server_rows(self) -> list[tuple[str, str, int]]:
        """(state, label, count) for every real server state that occurs (labels without the explanations)."""
        return [
            (state.value, state.value, self.real_servers[state.value])
            for state in REAL_SERVER_STATES
            if self.real_servers[state.value]
        ]

    @property
    def host_count(self) -> int:
        return sum(self.hosts.values())

    @property
    def real_server_count(self) -> int:
        return sum(self.real_servers.values())

    @property
    def all_in_sync(self) -> bool:
        """Every host of the cluster runs what the console last sent (none never enrolled, revoked, …)."""
        return bool(self.host_count) and self.hosts[SyncState.IN_SYNC] == self.host_count

    @property
    def needs_attention(self) -> bool:
        """Something an operator should look at: drift, an offline agent, or a failed apply."""
        bad = self.hosts[SyncState.DRIFTED] + self.hosts[SyncState.OFFLINE] + self.hosts[SyncState.UNKNOWN]
        failed = self.last_apply is not None and self.last_apply.status == DeploymentStatus.FAILED
        return bool(bad or failed)


def with_last_apply(queryset: QuerySet[Cluster]) -> QuerySet[Cluster]:
    """Annotate `last_apply_revision_id`: the revision of the cluster's most recent apply, if any."""
    latest = Deployment.objects.filter(cluster=OuterRef("pk"), kind=DeploymentKind.APPLY, revision__isnull=False)
    return queryset.annotate(last_apply_revision_id=Subquery(latest.order_by("-id").values("revision_id")[:1]))


def _apply_status(counts: Counter) -> DeploymentStatus:
    """One status for all hosts of an apply: failed if any failed, under way if any is, else applied."""
    if counts[DeploymentStatus.FAILED]:
        return DeploymentStatus.FAILED
    if counts[DeploymentStatus.APPLYING]:
        return DeploymentStatus.APPLYING
    if counts[DeploymentStatus.PENDING]:
        return DeploymentStatus.PENDING
    return DeploymentStatus.APPLIED


def health_of(
    clusters: list[Cluster], real_servers: Mapping[int, Mapping[str, int]] | None = None
) -> dict[int, ClusterHealth]:
    """{cluster id: health} in three queries (four when some cluster was ever applied; one less with
    `real_servers`, {cluster id: {state: count}}, when the caller counted them).

    Clusters annotated by `with_last_apply` get their last apply; others get none.
    """
    health = {cluster.pk: ClusterHealth() for cluster in clusters}
    if not health:
        return health
    for cluster_host in ClusterHost.objects.filter(cluster_id__in=health).select_related("host"):
        health[cluster_host.cluster_id].hosts[sync_state(cluster_host.host).value] += 1
    if real_servers is None:
        rows = (
            RealServer.objects.filter(virtual_service__cluster_id__in=health)
            .values_list("virtual_service__cluster_id", "state")
            .annotate(count=Count("id"))
            .order_by()
        )
    else:
        rows = [
            (cluster_id, state, count) for cluster_id, states in real_servers.items() for state, count in states.items()
        ]
    for cluster_id, state, count in rows:
        if cluster_id in health:
            health[cluster_id].real_servers[state] += count
    revision_ids = {getattr(c, "last_apply_revision_id", None) for c in clusters} - {None}
    if revision_ids:
        # Shown by number and date: not their inventories (megabytes each at thousands of real servers).
        revisions = {r.pk: r for r in Revision.objects.filter(pk__in=revision_ids).defer("inventory")}
        statuses: dict[int, Counter] = {pk: Counter() for pk in revisions}
        deployments = (
            Deployment.objects.filter(revision_id__in=revisions, kind=DeploymentKind.APPLY)
            .values_list("revision_id", "status")
            .annotate(count=Count("id"))
            .order_by()
        )
        for revision_id, status, count in deployments:
            statuses[revision_id][status] += count
        for cluster in clusters:
            revision = revisions.get(getattr(cluster, "last_apply_revision_id", None))
            if revision is not None:
                counts = statuses[revision.pk]
                health[cluster.pk].last_apply = LastApply(revision, _apply_status(counts), counts)
    return health


def total(healths) -> ClusterHealth:
    """The sum of several clusters' health (hosts and real servers counted once per cluster they are in)."""
    summed = ClusterHealth()
    for health in healths:
        summed.hosts.update(health.hosts)
        summed.real_servers.update(health.real_servers)
    return summed


#: Transitions shown per real server in the timeline, and quorum changes per service.
TIMELINE_LENGTH = 10
QUORUM_CHANGES_SHOWN = 5


def describe(check: HealthCheck | None) -> str:
    """A check in a few words: `HTTP GET /healthz every 5 s (rise 2, fall 3), through the tunnel`."""
    if check is None:
        return "not checked"
    if check.check_type == "none":
        return "not checked (override)"
    text = check.get_check_type_display()
    if check.check_type in ("http", "https"):
        text += f" {check.path} expecting {check.expect_status_min}–{check.expect_status_max}"
    elif check.check_type == "dns":
        text += f" {check.query_name} {check.query_type} expecting NOERROR"
    elif check.check_type == "udp":
        text += f" {check.payload[:40]!r}" + ("" if check.reply_match == "none" else f" expecting {check.reply_match}")
        if check.reply_pattern:
            text += f" {check.reply_pattern[:40]!r}"
    if check.port:
        text += f" on port {check.port}"
    text += f" every {check.interval:g} s (timeout {check.timeout:g} s, rise {check.rise}, fall {check.fall})"
    if check.tunnel_path:
        text += ", through the tunnel"
    return text


def health_sections(cluster: Cluster, services: list[VirtualService]) -> list[dict]:
    """The cluster page's Health section, one entry per service of `services` (the page's, in its order).

    Each has the service's check, its real servers' health, checks and timelines, and the service's own
    quorum changes. Three queries whatever the number of services; `services` must have their real servers
    prefetched.
    """
    real_servers = [rs for service in services for rs in service.real_servers.all()]
    service_ids, real_server_ids = [service.pk for service in services], [rs.pk for rs in real_servers]
    names = {service.pk: agent_name(service) for service in services}
    service_checks, overrides = {}, {}
    for check in HealthCheck.objects.filter(Q(virtual_service__in=service_ids) | Q(real_server__in=real_server_ids)):
        if check.virtual_service_id is not None:
            service_checks[check.virtual_service_id] = check
        else:
            overrides[check.real_server_id] = check
    health = {row.real_server_id: row for row in RealServerHealth.objects.filter(real_server__in=real_server_ids)}
    timelines: dict[int, list[HealthTransition]] = {}
    quorum_changes: dict[str, list[HealthTransition]] = {}
    # Quorum changes name their service the agent's way (they have no real server): match on that name.
    transitions = HealthTransition.objects.filter(cluster=cluster).filter(
        Q(real_server__in=real_server_ids) | Q(real_server__isnull=True, service__in=set(names.values()))
    )
    for transition in transitions.order_by("-at", "-pk")[:500]:
        if transition.real_server_id is None:
            shown = quorum_changes.setdefault(transition.service, [])
            limit = QUORUM_CHANGES_SHOWN
        else:
            shown = timelines.setdefault(transition.real_server_id, [])
            limit = TIMELINE_LENGTH
        if len(shown) < limit:
            shown.append(transition)
    sections = []
    for service in services:
        service_check = service_checks.get(service.pk)
        rows = []
        for rs in service.real_servers.all():
            override = overrides.get(rs.pk)
            rows.append(
                {
                    "real_server": rs,
                    "check": describe(override or service_check),
                    "overridden": override is not None,
                    "health": health.get(rs.pk),
                    "timeline": timelines.get(rs.pk, []),
                }
            )
        sections.append(
            {
                "service": service,
                "check": service_check,
                "description": describe(service_check),
                "rows": rows,
                "quorum_changes": quorum_changes.get(names[service.pk], []),
            }
        )
    return sections
