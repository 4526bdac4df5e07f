"""What the console shows of live traffic: current figures per service and real server, summed over the
directors with fresh figures, the warnings, and the history of one series for a chart."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Sum
from django.utils import timezone

from clusters.choices import HostRole, RealServerState
from clusters.models import ClusterHost
from traffic.choices import Resolution
from traffic.models import HostFeed, Sample, Series
from traffic.rates import RATES, bucket_start
from traffic.warnings import quiet_among_busy

FIGURES = ("active", "inactive", *RATES)
CPS = FIGURES.index("cps")

#: Chart ranges: label → (seconds shown, tier read, seconds per point).
RANGES = {
    "5m": (300, Resolution.RAW, 2),
    "1h": (3600, Resolution.RAW, 2),
    "24h": (86400, Resolution.MINUTE, 60),
    "7d": (7 * 86400, Resolution.MINUTE, 60),
    "90d": (90 * 86400, Resolution.HOUR, 3600),
}


def fresh_cutoff() -> datetime:
    """Feeds that reported before this moment are stale."""
    return timezone.now() - timedelta(seconds=settings.TRAFFIC_STALE_AFTER)


def active_connections(real_server_ids) -> dict[int, tuple[int, int]]:
    """Real server id → (active, inactive) connections from the directors' latest reads, summed over the
    directors that hold it. A real server is absent when no director sent fresh figures for it.
    """
    rows = (
        Series.objects.filter(
            real_server_id__in=list(real_server_ids),
            present=True,
            host__traffic_feed__last_batch_at__gte=fresh_cutoff(),
        )
        .values("real_server_id")
        .annotate(active_sum=Sum("active"), inactive_sum=Sum("inactive"))
    )
    return {row["real_server_id"]: (row["active_sum"], row["inactive_sum"]) for row in rows}


@dataclass
class Figures:
    """Live connections and rates of a service or real server (summed over fresh directors)."""

    active: int = 0
    inactive: int = 0
    cps: float = 0.0
    in_pps: float = 0.0
    out_pps: float = 0.0
    in_bps: float = 0.0
    out_bps: float = 0.0
    reported: bool = False

    def add(self, series: Series) -> None:
        self.add_values([getattr(series, name) for name in FIGURES])

    def add_values(self, values) -> None:
        """Add figures given in the order of FIGURES."""
        for name, value in zip(FIGURES, values, strict=True):
            setattr(self, name, getattr(self, name) + value)
        self.reported = True


@dataclass
class FeedState:
    """A director's traffic feed as a page shows it."""

    hostname: str
    host_id: int
    last_batch_at: datetime | None
    stale: bool


@dataclass
class ClusterTraffic:
    """Everything a traffic page renders for a cluster (or one of its services)."""

    services: dict[int, Figures] = field(default_factory=dict)
    real_servers: dict[int, Figures] = field(default_factory=dict)
    quiet: set[int] = field(default_factory=set)
    feeds: list[FeedState] = field(default_factory=list)
    #: director id → "service:real server" → [active, inactive, cps, …] (what a page starts from).
    per_director: dict[int, dict[str, list]] = field(default_factory=dict)

    @property
    def stale(self) -> list[FeedState]:
        return [feed for feed in self.feeds if feed.stale]


def cluster_traffic(cluster, service_ids=None, *, detail: bool = True) -> ClusterTraffic:
    """Current figures of the cluster's services and real servers (all, or those of `service_ids`); without
    `detail`, only the services' figures, the feeds and the quiet real servers (the cluster page's summary)."""
    result = ClusterTraffic()
    cutoff = fresh_cutoff()
    directors = ClusterHost.objects.filter(cluster=cluster, role=HostRole.DIRECTOR).select_related("host")
    feeds = {feed.host_id: feed for feed in HostFeed.objects.filter(host__in=[d.host_id for d in directors])}
    fresh = set()
    for director in directors:
        feed = feeds.get(director.host_id)
        stale = feed is None or feed.last_batch_at < cutoff
        if not stale:
            fresh.add(director.host_id)
        result.feeds.append(
            FeedState(director.host.hostname, director.host_id, feed.last_batch_at if feed else None, stale)
        )
    series = Series.objects.filter(cluster=cluster, host_id__in=fresh, present=True)
    if service_ids is not None:
        series = series.filter(virtual_service_id__in=service_ids)
    per_service: dict[int, dict[int, float]] = defaultdict(dict)
    takes_new = {}
    # Plain values, not model instances: the cluster page's summary reads every row of the cluster.
    rows = series.values_list(
        "host_id", "virtual_service_id", "real_server_id", "real_server__weight", "real_server__state", *FIGURES
    )
    for host_id, service_id, rs_id, weight, state, *values in rows.iterator(chunk_size=2000):
        if detail:
            key = f"{service_id}:{rs_id or ''}"
            result.per_director.setdefault(host_id, {})[key] = [round(value, 2) for value in values]
        if rs_id is None:
            result.services.setdefault(service_id, Figures()).add_values(values)
            continue
        if detail:
            result.real_servers.setdefault(rs_id, Figures()).add_values(values)
        cps = values[CPS]
        per_service[service_id][rs_id] = per_service[service_id].get(rs_id, 0.0) + cps
        takes_new[rs_id] = weight > 0 and state == RealServerState.ACTIVE
    for rates in per_service.values():
        result.quiet.update(quiet_among_busy(rates, takes_new))
    return result


def cluster_totals(clusters) -> dict[int, Figures]:
    """Cluster id → the sum of its services' figures (fresh directors only), for the dashboard: summed by the
    database in one query."""
    rows = (
        Series.objects.filter(
            cluster__in=clusters,
            real_server__isnull=True,
            present=True,
            host__traffic_feed__last_batch_at__gte=fresh_cutoff(),
        )
        .values("cluster_id")
        .annotate(**{f"sum_{name}": Sum(name) for name in FIGURES})
        .order_by()
    )
    return {row["cluster_id"]: Figures(**{name: row[f"sum_{name}"] for name in FIGURES}, reported=True) for row in rows}


def history(cluster, *, service_id: int, real_server_id: int | None, range_key: str) -> dict:
    """The chart of one service's (or real server's) figures over a range: columns for uPlot.

    A series' points in one step are averaged, and the directors' series summed. Raw history stores only
    windows with traffic or connections, so a stretch without points between two points is drawn as zero
    (idle), not as a gap.
    """
    seconds, resolution, step = RANGES[range_key]
    now = timezone.now()
    rows = Sample.objects.filter(
        series__cluster=cluster,
        series__virtual_service_id=service_id,
        series__real_server_id=real_server_id,
        resolution=resolution,
        at__gte=now - timedelta(seconds=seconds),
    ).values_list("series_id", "at", *FIGURES)
    # A series' points within one step are averaged; the directors' series are then added up.
    per_series: dict[tuple[int, float], list] = {}
    for series_id, at, *values in rows:
        acc = per_series.setdefault((series_id, bucket_start(at.timestamp(), step)), [0, [0.0] * len(FIGURES)])
        acc[0] += 1
        for index, value in enumerate(values):
            acc[1][index] += value
    buckets: dict[float, list[float]] = {}
    for (_, bucket), (count, sums) in per_series.items():
        total = buckets.setdefault(bucket, [0.0] * len(FIGURES))
        for index, value in enumerate(sums):
            total[index] += value / count
    times: list[float] = []
    columns: list[list[float]] = [[] for _ in FIGURES]
    previous = None
    for bucket in sorted(buckets):
        if previous is not None and bucket - previous > 2 * step:
            for filler in (previous + step, bucket - step):
                times.append(filler)
                for column in columns:
                    column.append(0.0)
        times.append(bucket)
        for column, value in zip(columns, buckets[bucket], strict=True):
            column.append(round(value, 3))
        previous = bucket
    return {
        "range": range_key,
        "resolution": int(resolution),
        "step": step,
        "from": (now - timedelta(seconds=seconds)).timestamp(),
        "to": now.timestamp(),
        "t": times,
        **dict(zip(FIGURES, columns, strict=True)),
    }
