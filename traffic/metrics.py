"""`/metrics` in the Prometheus text format (version 0.0.4): the directors' IPVS figures per virtual service
and real server, and per director, for the clusters the token's user may see (docs/traffic.md, "Prometheus").

Streamed: at 20 clusters x 500 services x 10 real servers on two directors each (220,000 series, 2.4 million
lines) the former whole-string rendering took 30 s and 3.5 GB; see docs/performance.md, "Console at scale".
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable, Iterator
from contextlib import ExitStack, nullcontext
from itertools import islice
from typing import IO

from django.core.exceptions import EmptyResultSet
from django.db import connection
from django.db.models import QuerySet, Sum
from django.utils import timezone

from clusters import selectors
from clusters.models.real_servers import endpoint_of
from clusters.models.virtual_services import service_endpoint
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


#: Characters of one metric family kept in memory before they go to its spool file, and the spool's memory
#: share: the families must each come out whole (the text format wants one group per metric), so one pass over
#: the series fills twenty spools, which are then read back in order. Memory stays bounded whatever the rows.
BATCH_BYTES = 32 * 1024
SPOOL_IN_MEMORY = 64 * 1024
#: Bytes per chunk of the streamed answer, and series rows per chunk from the database (and per batch of lines).
CHUNK_BYTES = 256 * 1024
FETCH_ROWS = 2000


def _value(value) -> str:
    return str(value) if isinstance(value, int) else repr(float(value))


class _Family:
    """The sample lines of one metric family, gathered in `spool` (a temporary file past SPOOL_IN_MEMORY)."""

    def __init__(self, name: str, kind: str, text: str, spool: IO[bytes]):
        self.name, self.kind, self.text = name, kind, text
        self.pending: list[str] = []
        self.size = 0
        self.spool = spool

    def write(self, text: str) -> None:
        """Whole lines, many at once."""
        self.pending.append(text)
        self.size += len(text)
        if self.size >= BATCH_BYTES:
            self.flush()

    def flush(self) -> None:
        if self.pending:
            self.spool.write("".join(self.pending).encode())
            self.pending.clear()
            self.size = 0

    def chunks(self) -> Iterator[bytes]:
        """HELP, TYPE and every line, in chunks."""
        self.flush()
        yield f"# HELP {self.name} {self.text}\n# TYPE {self.name} {self.kind}\n".encode()
        self.spool.seek(0)
        while chunk := self.spool.read(CHUNK_BYTES):
            yield chunk


def chosen_clusters(user, slugs: list[str]) -> tuple[QuerySet, list[str]]:
    """The user's clusters, or those of them named in `slugs` (`?cluster=`), and the slugs not among them."""
    clusters = selectors.visible_clusters(user)
    if not slugs:
        return clusters, []
    clusters = clusters.filter(slug__in=slugs)
    found = set(clusters.values_list("slug", flat=True))
    return clusters, [slug for slug in slugs if slug not in found]


def exposition(clusters: QuerySet) -> Iterator[bytes]:
    """The exposition text for `clusters` (fresh directors only), in chunks of about CHUNK_BYTES.

    One query streams the series as plain values, FETCH_ROWS at a time; each family's lines of a batch are
    made by one comprehension into its spool, and the per-director totals are summed in SQL: neither the time
    nor the memory grows with more than the lines.
    """
    # The clusters' ids first: as plain ids the planner sees how few series rows `?cluster=` keeps (through the
    # visibility subquery it read and joined the whole table before filtering: 1/20 of the text cost 1/2 the time).
    cluster_ids = list(clusters.values_list("id", flat=True))
    fresh = Series.objects.filter(
        cluster_id__in=cluster_ids, present=True, host__traffic_feed__last_batch_at__gte=fresh_cutoff()
    )
    rows = fresh.order_by("cluster__slug", "host__hostname", "virtual_service_id", "real_server_id").values_list(
        "cluster__slug",
        "host__hostname",
        "virtual_service_id",
        "virtual_service__protocol",
        "virtual_service__address",
        "virtual_service__port",
        "virtual_service__fwmark",
        "virtual_service__address_family",
        "real_server__address",
        "real_server__port",
        *[field for _suffix, field, _kind, _text in METRICS],
    )
    with ExitStack() as spools:
        families = {
            scope: [
                _Family(
                    f"lvsweb_{scope}_{suffix}",
                    kind,
                    text,
                    spools.enter_context(tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY, mode="w+b")),
                )
                for suffix, _field, kind, text in METRICS
            ]
            for scope in ("virtual_service", "real_server")
        }
        _spool(families, _streamed(rows))
        yield from _joined(
            chunk
            for index in range(len(METRICS))
            for scope in ("virtual_service", "real_server")
            for chunk in families[scope][index].chunks()
        )
    yield from _joined(_director_lines(clusters, fresh))


#: Whether each metric's value is written as a float (repr(), as `_value` does) rather than an integer.
_FLOATS = [Series._meta.get_field(field).get_internal_type() == "FloatField" for _s, field, _k, _t in METRICS]


def _streamed(rows: QuerySet) -> Iterator[tuple]:
    """The rows of `rows` (plain values), FETCH_ROWS at a time. On PostgreSQL the query is streamed (psycopg's
    chunked rows mode): the database sends the next rows while these are written, on the other core, where a
    server-side cursor (`iterator()`) waited for each FETCH, and in autocommit first wrote the whole result
    to a temporary file (a cursor WITH HOLD)."""
    if connection.vendor != "postgresql":
        yield from rows.iterator(chunk_size=FETCH_ROWS)
        return
    try:
        sql, params = rows.query.sql_with_params()
    except EmptyResultSet:  # no clusters
        return
    with connection.cursor() as cursor:
        # Counted as a query like the others (tests, DEBUG): Django's debug cursor logs execute() only.
        logged = cursor.debug_sql(sql, params) if hasattr(cursor, "debug_sql") else nullcontext()
        with logged:
            from psycopg import pq  # PostgreSQL only

            # Chunks need libpq 17 (psycopg's binary wheels bundle a newer one); row by row before that.
            size = FETCH_ROWS if pq.version() >= 170000 else 1
            yield from cursor.cursor.stream(sql, params, size=size)


def _spool(families: dict[str, list[_Family]], rows: Iterator[tuple]) -> None:
    """The series' lines into their families' spools, FETCH_ROWS rows at a time: the labels once per row, then
    each family's lines of the batch by one comprehension (a method call and `_value` per line had cost
    more than the line: 2.4 million of them)."""
    last_service = None
    prefix = opening = ""
    while batch := list(islice(rows, FETCH_ROWS)):
        services: list[tuple] = []
        real_servers: list[tuple] = []
        for row in batch:
            cluster, director, service_id, protocol, address, port, fwmark, family, rs_address, rs_port = row[:10]
            if (cluster, director, service_id) != last_service:  # rows come grouped by service
                last_service = (cluster, director, service_id)
                endpoint = service_endpoint(protocol, address, port, fwmark, family)
                prefix = _labels([("cluster", cluster), ("director", director), ("virtual_service", endpoint)])
                opening = prefix[:-1] + ',real_server="'
            if rs_address is None:
                services.append((f"{prefix} ", *row[10:]))
            else:  # an address and a port: nothing to escape
                real_servers.append((f'{opening}{endpoint_of(rs_address, rs_port)}"}} ', *row[10:]))
        for scope, scoped in (("virtual_service", services), ("real_server", real_servers)):
            if not scoped:
                continue
            for index, metric in enumerate(families[scope], start=1):
                name = metric.name
                if _FLOATS[index - 1]:
                    metric.write("".join([f"{name}{row[0]}{row[index]!r}\n" for row in scoped]))
                else:
                    metric.write("".join([f"{name}{row[0]}{row[index]}\n" for row in scoped]))


def _joined(parts: Iterable[str | bytes]) -> Iterator[bytes]:
    """Parts gathered into chunks of at least CHUNK_BYTES (fewer, larger writes to the client)."""
    buffer: list[bytes] = []
    size = 0
    for part in parts:
        data = part.encode() if isinstance(part, str) else part
        buffer.append(data)
        size += len(data)
        if size >= CHUNK_BYTES:
            yield b"".join(buffer)
            buffer, size = [], 0
    if buffer:
        yield b"".join(buffer)


def _director_lines(clusters: QuerySet, fresh: QuerySet) -> Iterator[str]:
    """Per director and cluster, the sum of its services' figures (`lvsweb_director_*`, summed in SQL), then
    each director's traffic age and the console-wide broker counters."""
    totals = list(
        fresh.filter(real_server__isnull=True)
        .values_list("cluster__slug", "host__hostname")
        .annotate(*[Sum(field) for _suffix, field, _kind, _text in METRICS])
        .order_by("cluster__slug", "host__hostname")
    )
    for index, (suffix, _field, kind, text) in enumerate(METRICS):
        name = f"lvsweb_director_{suffix}"
        yield f"# HELP {name} {text} Sum over the director's virtual services.\n# TYPE {name} {kind}\n"
        for cluster, director, *values in totals:
            yield f"{name}{_labels([('cluster', cluster), ('director', director)])} {_value(values[index] or 0)}\n"
    now = timezone.now()
    feeds = (
        HostFeed.objects.filter(host__cluster_roles__cluster__in=clusters)
        .values_list("host__hostname", "last_batch_at")
        .distinct()
        .order_by("host__hostname")
    )
    yield "# HELP lvsweb_director_traffic_age_seconds Seconds since the director's last traffic batch.\n"
    yield "# TYPE lvsweb_director_traffic_age_seconds gauge\n"
    for hostname, last_batch_at in feeds:
        age = max((now - last_batch_at).total_seconds(), 0.0)
        yield f"lvsweb_director_traffic_age_seconds{_labels([('director', hostname)])} {age:.3f}\n"
    yield "\n".join(_broker_lines()) + "\n"


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
