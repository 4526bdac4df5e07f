"""Taking in a director's traffic batch: verify it like any report, advance each series' rate window,
keep raw history, and send what changed to the cluster's browsers (docs/traffic.md)."""

from __future__ import annotations

import functools
import logging
import math
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from operator import attrgetter
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from lvsweb_agent.envelope import EnvelopeError, envelope_signer, load_public_key, open_envelope
from lvsweb_agent.model import normalize_address

from audit.choices import Result
from audit.recording import record
from clusters.models import Host
from dispatch import counters, events
from dispatch.actions import replay
from traffic import inventory, pending, storage
from traffic.choices import Resolution
from traffic.consumers import chunk_group
from traffic.models import HostFeed, Series
from traffic.rates import COUNTERS, RATES, WINDOW, WINDOW_TOLERANCE, RateState, Reading, advance, normalize
from traffic.warnings import quiet_among_busy

logger = logging.getLogger(__name__)

ROW_LENGTH = 10
SeriesKey = tuple[int, int | None]


class BatchError(ValueError):
    """A batch that does not have the documented shape; the message says which field is wrong."""


def _reject(signer: str, reason: str) -> str:
    transaction.on_commit(lambda: counters.count_refused_report("traffic", "rejected"))
    record(
        action="agent.report_rejected",
        object_type="clusters.host",
        object_repr=signer[:255],
        result=Result.REFUSED,
        message=f"Traffic batch claiming to come from “{signer}” rejected: {reason}.",
    )
    logger.warning("traffic batch from %r rejected: %s", signer, reason)
    return "rejected"


def handle_batch(envelope: Any, *, queue: str = "control") -> str:
    """Verify a signed traffic batch with the sending host's own key and take it in. Never raises on bad input.
    `queue` is the one it came from: while others wait there, the host's batches are merged (traffic.pending)."""
    try:
        signer = envelope_signer(envelope)
    except EnvelopeError as exc:
        with transaction.atomic():
            return _reject("?", str(exc))
    host = Host.objects.filter(hostname=signer).first()
    with transaction.atomic():
        if host is None:
            return _reject(signer, "no host of that name")
        if host.revoked_at is not None or not host.public_key:
            return _reject(signer, "the host is revoked" if host.revoked_at else "the host is not enrolled")
        try:
            payload = open_envelope(envelope, load_public_key(host.public_key))
        except EnvelopeError as exc:
            return _reject(signer, str(exc))
        if payload.get("host") != signer or payload.get("kind") != "traffic":
            return _reject(signer, f"not a traffic batch of {signer} (host {payload.get('host')!r})")
        try:
            parsed = _parse(payload)
        except BatchError as exc:
            return _reject(signer, f"malformed traffic batch: {exc}")
        if replay.accept(host, payload) is not None:
            return "refused"  # an old or repeated batch would reset the feed: counted by replay.accept
    batch = pending.take(host.pk, payload, queue)
    if batch is None:
        return "held"  # the queue is behind: merged into the host's next batch (latest wins)
    with transaction.atomic():
        try:
            return ingest_batch(host=host, payload=batch, parsed=parsed if batch is payload else None)
        except BatchError as exc:
            return _reject(signer, f"malformed traffic batch: {exc}")


def _number(payload: dict, name: str, kind=float):
    value = payload.get(name)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise BatchError(f"{name} must be a number of at least 0, not {value!r}")
    return kind(value)


def _parse_rows(rows: Any, name: str) -> list[list]:
    if not isinstance(rows, list):
        raise BatchError(f"{name} must be a list")
    for row in rows:
        if not isinstance(row, list) or not row or not isinstance(row[0], str):
            raise BatchError(f"each of {name} must be a list starting with a service key, not {row!r}")
    return rows


@functools.lru_cache(maxsize=100_000)
def _normalized_address(address: str) -> str:
    """normalize_address, remembered: a busy director's batch names the same few thousand addresses again."""
    return normalize_address(address)


def _map(row: list, directory: inventory.DirectorInventory) -> SeriesKey | None:
    service = directory.services.get(row[0])
    if service is None:
        return None  # a kernel service the console does not manage (typed by hand): not ours to show
    if len(row) < 3 or row[1] is None:
        return (service[0], None)
    try:
        address = _normalized_address(str(row[1]))
    except ValueError:
        return None
    real_server = directory.real_servers.get((service[0], address, row[2] if isinstance(row[2], int) else 0))
    return None if real_server is None else (service[0], real_server)


_WHOLE_NUMBERS = {int}


def _parse(payload: dict) -> tuple[str, int, float, float, bool, list[list], list[list]]:
    """(epoch, seq, at, interval, full, rows, gone) of a batch, or BatchError naming the wrong field."""
    epoch = payload.get("epoch")
    if not isinstance(epoch, str) or not 0 < len(epoch) <= 64:
        raise BatchError(f"epoch must be a short text, not {epoch!r}")
    seq = _number(payload, "seq", int)
    at = _number(payload, "at")
    interval = _number(payload, "interval")
    rows = _parse_rows(payload.get("rows", []), "rows")
    for row in rows:
        counts = row[3:]
        # type() is int: JSON's whole numbers, not its booleans (a bool is an int to isinstance)
        if len(row) != ROW_LENGTH or set(map(type, counts)) != _WHOLE_NUMBERS or min(counts) < 0:
            raise BatchError(f"a row must be [service, address, port, then 7 counts of at least 0], not {row!r}")
    gone_rows = _parse_rows(payload.get("gone", []), "gone")
    return epoch, seq, at, interval, payload.get("full") is True, rows, gone_rows


# settings.TRAFFIC_STORE_EVERY (5 s): a director's series rows are written at most this often (the worker's
# clock). In between, the control worker's in-memory series are the live state: the browsers get every batch's
# figures at once, raw history is written with every batch, and what reads the rows (a page as it loads,
# /metrics, a drain's preview) sees figures at most this much older than the director's last batch taken in.
# A worker that stops without storing (killed) loses at most this much of the rows: the next batch then reads
# them back as a gap, like a lost batch (docs/traffic.md, "What is stored when").


@dataclass
class _Director:
    """A control-worker process's live state of one director, after its last batch taken in here."""

    #: The feed row as this process left it: any other writer (another worker) changes it, and then the
    #: database, not this state, is where the next batch starts.
    token: tuple
    directory: inventory.DirectorInventory
    series: dict[SeriesKey, Series]
    #: The feed's epoch, seq and agent time of the last batch taken in (the row has those of the last store).
    epoch: str
    seq: int
    sampled_at: float
    #: Series changed since the last store, by id, and when that store was (time.monotonic()).
    unstored: dict[int, Series] = field(default_factory=dict)
    stored_at: float = 0.0


#: Per control-worker process: each director's live state (see _Director), reused by its next batch when nothing
#: else took a batch of that director since (same feed row) and the inventory mapping is unchanged: the live path
#: then reads no Series rows. Any other case reads them from PostgreSQL.
_directors: dict[int, _Director] = {}


def _feed_token(feed: HostFeed) -> tuple:
    return (feed.pk, feed.epoch, feed.seq, feed.last_batch_at)


def _live_state(host: Host, feed: HostFeed | None, directory) -> _Director | None:
    """This process's state of the host when still exact (it took the host's last batch) and mapped by the same
    inventory, else None. When only the inventory changed, what waits to be stored is stored first, so that the
    series read back are exact."""
    state = _directors.pop(host.pk, None)
    if state is None or feed is None or state.token != _feed_token(feed):
        return None
    if state.directory == directory:
        return state
    storage.update_series(list(state.unstored.values()), _STORED_FIELDS)
    feed.epoch, feed.seq, feed.sampled_at = state.epoch, state.seq, state.sampled_at
    feed.save(update_fields=["epoch", "seq", "sampled_at"])
    return None


def store_pending() -> int:
    """Write every director's series changed since their last store (a worker shutting down); returns how many."""
    count = 0
    for state in _directors.values():
        pk, epoch, seq, last_batch_at = state.token
        with transaction.atomic():
            # Only while the row is as this process left it: otherwise another worker went on from it since.
            mine = HostFeed.objects.filter(pk=pk, epoch=epoch, seq=seq, last_batch_at=last_batch_at)
            if not mine.update(epoch=state.epoch, seq=state.seq, sampled_at=state.sampled_at):
                continue
            storage.update_series(list(state.unstored.values()), _STORED_FIELDS)
        count += len(state.unstored)
        state.unstored = {}
    _directors.clear()  # the feed rows changed: the next batch starts from the database
    return count


def _moving(item: Series, closing_before: float) -> bool:
    """Whether a series' rates may change now: they still move and its window closes."""
    if item.anchor_at > closing_before:
        return False
    if any(getattr(item, name) > 0 for name in RATES):
        return True
    return any(getattr(item, name) != getattr(item, f"anchor_{name}") for name in COUNTERS)


@transaction.atomic
def ingest_batch(*, host: Host, payload: dict, now: datetime | None = None, parsed: tuple | None = None) -> str:
    """Take in one verified batch; returns "ok", "late" (an old or repeated batch) or raises BatchError.

    The live path comes first: rates are worked out (from this process's live state when possible) and the
    cluster's browsers get the event before anything is written; then raw history is stored, and the series
    rows when settings.TRAFFIC_STORE_EVERY seconds passed since their last store (or this process had no exact state).
    """
    now = now or timezone.now()
    epoch, seq, at, interval, full, rows, gone_rows = parsed or _parse(payload)
    first_seq = payload.get("first_seq", seq)  # a merged batch (traffic.pending) covers first_seq…seq

    feed = HostFeed.objects.select_for_update().filter(host=host).first()
    directory = inventory.for_director(host.pk, fresh=full)
    live = _live_state(host, feed, directory)
    # The feed as of the last batch taken in: this process's own when it took it, else the row's (a store's).
    last_epoch, last_seq, last_sampled_at = "", 0, 0.0
    if live is not None:
        last_epoch, last_seq, last_sampled_at = live.epoch, live.seq, live.sampled_at
    elif feed is not None:
        last_epoch, last_seq, last_sampled_at = feed.epoch, feed.seq, feed.sampled_at
    restarted = feed is None or last_epoch != epoch
    if not restarted and seq <= last_seq:
        if live is not None:
            _directors[host.pk] = live  # nothing changed: the state stays exact
        return "late"
    # The agent sends only changed rows: after the batch just before this one, an absent row is unchanged.
    unchanged_until = last_sampled_at if not restarted and first_seq == last_seq + 1 else None
    if live is not None:
        everything = live.series
    else:
        everything = {(item.virtual_service_id, item.real_server_id): item for item in Series.objects.filter(host=host)}
    if feed is None:
        feed = HostFeed(host=host, last_batch_at=now)

    incoming: dict[SeriesKey, tuple[int, int, tuple[int, ...]]] = {}
    for row in rows:
        key = _map(row, directory)
        if key is not None:
            incoming[key] = (row[3], row[4], normalize(row[5:]))
    gone = {key for key in (_map(row, directory) for row in gone_rows) if key is not None}

    if full or restarted:
        series = dict(everything)
    else:
        closing_before = at - WINDOW * WINDOW_TOLERANCE
        services = {key[0] for key in (*incoming, *gone)}
        series = {
            key: item
            for key, item in everything.items()
            if key[0] in services or key in incoming or _moving(item, closing_before)
        }
    changed, created, samples, live_rows = [], [], [], []
    cluster_of = {service_id: cluster_id for service_id, cluster_id in directory.services.values()}
    for key in incoming.keys() - series.keys():
        if key[0] in cluster_of:
            series[key] = Series(
                host=host,
                cluster_id=cluster_of[key[0]],
                virtual_service_id=key[0],
                real_server_id=key[1],
                updated_at=now,
            )
            created.append(series[key])
            everything[key] = series[key]
    for key, item in series.items():
        before = _live(item)
        if key in incoming:
            active, inactive, counters = incoming[key]
            item.active, item.inactive, item.present = active, inactive, True
        elif key in gone or full:
            item.active = item.inactive = 0
            item.present = False
            counters = _counters(item)
        else:
            counters = _counters(item)
        state = None if restarted or item.id is None else _state(item)
        state, rolled = advance(state, Reading(at, counters), unchanged_until=unchanged_until)
        if not item.present:
            state = RateState(anchor=state.anchor, last=state.last)
        _store(item, state)
        if rolled or _live(item) != before:
            item.updated_at = now
            if item.id is not None:
                changed.append(item)
            live_rows.append(item)
        if rolled and item.present and (any(state.rates) or item.active or item.inactive):
            samples.append((item, state.span))

    rolled_services = {item.virtual_service_id for item, _ in samples}
    # Live first: new series need their ids for the event, then the browsers get it; storage follows.
    Series.objects.bulk_create(created)
    _broadcast(host, now, at, live_rows, cluster_of, _quiet(everything, rolled_services, directory))
    raw = int(Resolution.RAW)
    storage.insert_samples(
        [(item.pk, raw, now, span, item.active, item.inactive, *_get_rates(item)) for item, span in samples],
        RATES,
    )
    unstored = live.unstored if live else {}
    unstored.update((item.pk, item) for item in changed)
    feed.last_batch_at = now  # every batch: what says the feed is fresh
    clock = time.monotonic()
    if live is None or full or restarted or clock - live.stored_at >= settings.TRAFFIC_STORE_EVERY:
        storage.update_series(list(unstored.values()), _STORED_FIELDS)
        feed.sampled_at, feed.epoch, feed.seq, feed.interval = at, epoch, seq, interval
        feed.save()
        unstored, stored_at = {}, clock
    else:
        feed.save(update_fields=["last_batch_at"])
        stored_at = live.stored_at
    kept = _Director(_feed_token(feed), directory, everything, epoch, seq, at, unstored, stored_at)
    transaction.on_commit(lambda: _directors.__setitem__(host.pk, kept))
    return "ok"


def _quiet(everything: dict[SeriesKey, Series], service_ids: set[int], directory) -> dict[int, list[int]]:
    """For each of the services (ids): its quiet real servers on this director (see quiet_among_busy)."""
    rates: dict[int, dict[int, float]] = {service_id: {} for service_id in service_ids}
    for (service_id, real_server_id), item in everything.items():
        if real_server_id is not None and service_id in rates and item.present:
            rates[service_id][real_server_id] = item.cps
    return {service_id: quiet_among_busy(rates[service_id], directory.takes_new) for service_id in service_ids}


_STORED_FIELDS = [
    "present", "updated_at", "active", "inactive", "read_at", *COUNTERS, "anchor_at",
    *(f"anchor_{name}" for name in COUNTERS), *RATES,
]  # fmt: skip


# The per-series steps below run for every row of a busy director every second (11,000 at 1,000 x 10): one
# C-level getter per group of fields instead of a getattr per field and name built per call (the profile of a
# 1,000 x 10 batch had a third of the worker's time in these few functions).
_ANCHOR_NAMES = tuple(f"anchor_{name}" for name in COUNTERS)
_get_counters = attrgetter(*COUNTERS)
_get_anchors = attrgetter(*_ANCHOR_NAMES)
_get_rates = attrgetter(*RATES)
_get_live = attrgetter("present", "active", "inactive", *RATES)
_get_event_head = attrgetter("virtual_service_id", "real_server_id", "present", "active", "inactive")
_TWO_PLACES = (2,) * len(RATES)


def _counters(item: Series) -> tuple[int, ...]:
    return _get_counters(item)


def _state(item: Series) -> RateState:
    # The state _store left on the item (the fields say the same), else built from the fields (a row just read).
    state = item.__dict__.get("_rate_state")
    if state is not None:
        return state
    return RateState(
        anchor=Reading(item.anchor_at, _get_anchors(item)),
        last=Reading(item.read_at, _get_counters(item)),
        rates=_get_rates(item),
    )


def _store(item: Series, state: RateState) -> None:
    values = item.__dict__  # plain model fields: what setattr would do, without a lookup per name
    values["read_at"], values["anchor_at"] = state.last.at, state.anchor.at
    values.update(zip(COUNTERS, state.last.counters, strict=True))
    values.update(zip(_ANCHOR_NAMES, state.anchor.counters, strict=True))
    values.update(zip(RATES, state.rates, strict=True))
    values["_rate_state"] = state


def _live(item: Series) -> tuple:
    """What a browser shows of a series."""
    return _get_live(item)


def live_row(item: Series) -> list:
    """One row of a traffic event: [service, real server or null, present, active, inactive, cps, in_pps,
    out_pps, in_bps, out_bps] (rates rounded to what a page shows)."""
    return [*_get_event_head(item), *map(round, _get_rates(item), _TWO_PLACES)]


def _broadcast(
    host: Host, now: datetime, read_at: float, rows: list[Series], cluster_of: dict[int, int], quiet
) -> None:
    """One event per cluster the host directs, also when nothing changed (it tells browsers the feed lives),
    with the services' totals and the warnings; the real servers' rows go to the groups of their service chunks
    (traffic.consumers), which only the traffic pages showing those services join."""
    head = {"type": "traffic", "host": host.hostname, "host_id": host.pk, "at": now.astimezone(UTC).timestamp()}
    head["read_at"] = read_at
    by_cluster: dict[int, dict] = {
        cluster_id: {"rows": [], "checked": [], "quiet": []} for cluster_id in set(cluster_of.values())
    }
    by_chunk: dict[str, list] = {}
    for item in rows:
        if item.real_server_id is None:
            by_cluster[item.cluster_id]["rows"].append(live_row(item))
        else:
            by_chunk.setdefault(chunk_group(item.cluster_id, item.virtual_service_id), []).append(live_row(item))
    for service_id, real_servers in quiet.items():
        event = by_cluster[cluster_of[service_id]]
        event["checked"].append(service_id)
        event["quiet"].extend(real_servers)
    messages = [(events.cluster_group(cluster_id), {**head, **event}) for cluster_id, event in by_cluster.items()]
    messages += [(group, {**head, "rows": chunk_rows}) for group, chunk_rows in by_chunk.items()]

    # Sent at once, not after the commit: storage must not hold the live figures back. A batch whose storage
    # then fails was still read from the kernel; the next batch carries on from the stored state.
    async def send_all() -> None:
        layer = get_channel_layer()
        for group, event in messages:
            await layer.group_send(group, {"type": "cluster.event", "event": event})

    async_to_sync(send_all)()
