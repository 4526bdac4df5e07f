"""`/metrics` in the Prometheus text format (version 0.0.4): the directors' IPVS figures per virtual service
and real server, for the clusters the token's user may see (docs/traffic.md, "Prometheus")."""

from __future__ import annotations

from django.utils import timezone

from clusters import selectors
from dispatch import counters
from traffic.live import fresh_cutoff
from traffic.models import HostFeed, Series

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

#: (metric suffix, Series field, type, help). Counters are the kernel's own (modulo 2**63; they restart
#: with the kernel or when a real server is re-added, which Prometheus' rate() understands as a reset).
METRICS = [
    ("active_connections", "active", "gauge", "Connections in ESTABLISHED state, now."),
    ("inactive_connections", "inactive", "gauge", "Connections in other states (FIN_WAIT, SYN_RECV, …), now."),
    ("connections_total", "conns", "counter", "Connections scheduled, since the kernel started counting."),
    ("in_packets_total", "in_packets", "counter", "Packets from clients."),
    ("out_packets_total", "out_packets", "counter", "Packets to clients through the director (0 in TUN/DR)."),
    ("in_bytes_total", "in_bytes", "counter", "Bytes from clients."),
    ("out_bytes_total", "out_bytes", "counter", "Bytes to clients through the director (0 in TUN/DR)."),
    ("connections_per_second", "cps", "gauge", "New connections per second over the last 2-s window."),
    ("in_bytes_per_second", "in_bps", "gauge", "Bytes per second from clients over the last window."),
    ("out_bytes_per_second", "out_bps", "gauge", "Bytes per second to clients over the last window."),
]


def _label(value: str) -> str:
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(pairs) -> str:
    return "{" + ",".join(f'{name}="{_label(value)}"' for name, value in pairs) + "}"


def render(user) -> str:
    """The exposition text for `user`: fresh directors of the user's clusters only."""
    clusters = selectors.visible_clusters(user)
    cutoff = fresh_cutoff()
    now = timezone.now()
    series = list(
        Series.objects.filter(cluster__in=clusters, present=True, host__traffic_feed__last_batch_at__gte=cutoff)
        .select_related("cluster", "host", "virtual_service", "real_server")
        .order_by("cluster__slug", "host__hostname", "virtual_service_id", "real_server_id")
    )
    lines = []
    for suffix, field, kind, text in METRICS:
        for scope in ("virtual_service", "real_server"):
            name = f"lvsweb_{scope}_{suffix}"
            lines += [f"# HELP {name} {text}", f"# TYPE {name} {kind}"]
            for item in series:
                if (item.real_server_id is None) != (scope == "virtual_service"):
                    continue
                labels = [
                    ("cluster", item.cluster.slug),
                    ("director", item.host.hostname),
                    ("virtual_service", item.virtual_service.endpoint),
                ]
                if item.real_server_id is not None:
                    labels.append(("real_server", item.real_server.endpoint))
                value = getattr(item, field)
                lines.append(f"{name}{_labels(labels)} {value if isinstance(value, int) else repr(float(value))}")
    feeds = HostFeed.objects.filter(host__cluster_roles__cluster__in=clusters).select_related("host").distinct()
    lines += [
        "# HELP lvsweb_director_traffic_age_seconds Seconds since the director's last traffic batch.",
        "# TYPE lvsweb_director_traffic_age_seconds gauge",
    ]
    for feed in sorted(feeds, key=lambda feed: feed.host.hostname):
        age = max((now - feed.last_batch_at).total_seconds(), 0.0)
        lines.append(f"lvsweb_director_traffic_age_seconds{_labels([('director', feed.host.hostname)])} {age:.3f}")
    return "\n".join(lines + _broker_lines()) + "\n"


def _broker_lines() -> list[str]:
    """The console-wide counters of the untrusted broker (agents.counters): no team's objects are named."""
    lines = [
        "# HELP lvsweb_broker_messages_dropped_total Broker messages the control workers dropped unread, by reason.",
        "# TYPE lvsweb_broker_messages_dropped_total counter",
    ]
    for reason, value in sorted(counters.dropped_messages().items()):
        lines.append(f"lvsweb_broker_messages_dropped_total{_labels([('reason', reason)])} {value}")
    lines += [
        "# HELP lvsweb_agent_reports_refused_total Agent reports refused: rejected, stale, repeated, out of order.",
        "# TYPE lvsweb_agent_reports_refused_total counter",
    ]
    for (kind, reason), value in sorted(counters.refused_reports().items()):
        lines.append(f"lvsweb_agent_reports_refused_total{_labels([('kind', kind), ('reason', reason)])} {value}")
    return lines
