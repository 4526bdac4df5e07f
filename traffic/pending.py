"""Latest wins when the control plane is behind: a director's batches that wait while others are queued are
merged into one (in Redis) and taken in together, instead of one after the other.

The counters in a batch are cumulative, so merging consecutive batches of one agent run loses nothing: a row
keeps its latest reading, a row that left the kernel stays gone unless it came back, and a full table followed
by changes is still the full table. Rates then cover the merged stretch (still a window of at least 2 s).
"""

from __future__ import annotations

import json
import time

import redis
from django.conf import settings

#: How long a director's batches may be held back while the control queue is not empty (seconds).
MAX_DEFER = 0.5
#: A merged batch left behind (its agent stopped sending) is dropped after this many seconds.
KEEP = 30
KEY = "lvsweb:traffic:pending:{host_id}"

_client: redis.Redis | None = None


def _redis() -> redis.Redis:
    global _client
    if _client is None:
        _client = redis.Redis.from_url(settings.CELERY_BROKER_URL, socket_timeout=10)
    return _client


def _key(row: list) -> tuple:
    return (row[0], row[1] if len(row) > 1 else None, row[2] if len(row) > 2 and row[1] is not None else 0)


def merge(older: dict, newer: dict) -> dict:
    """Two batches of one agent run (`newer.seq` > `older.seq`) as one batch, read at `newer`'s time.
    A batch of another run (epoch), or an older one, is not merged: `newer` wins alone."""
    if older.get("epoch") != newer.get("epoch") or not older.get("seq", 0) < newer.get("seq", 0):
        return newer
    merged = dict(newer, first_seq=older.get("first_seq", older["seq"]))
    if newer.get("full") is True:
        return merged
    rows = {_key(row): row for row in older.get("rows", [])}
    gone = {_key(row): row for row in older.get("gone", [])}
    for row in newer.get("gone", []):
        rows.pop(_key(row), None)
        gone[_key(row)] = row
    for row in newer.get("rows", []):
        rows[_key(row)] = row
        gone.pop(_key(row), None)
    merged.update(rows=list(rows.values()), gone=list(gone.values()), full=older.get("full") is True)
    return merged


def take(host_id: int, payload: dict, queue: str = "control") -> dict | None:
    """The batch to take in now: `payload` merged with the host's held-back batches; None when it is held back
    too (other batches wait in `queue` and the host's first held-back batch is younger than MAX_DEFER)."""
    client, key = _redis(), KEY.format(host_id=host_id)
    stored = client.get(key)
    held = json.loads(stored) if stored else None
    merged = merge(held["batch"], payload) if held else payload
    since = held["since"] if held else time.time()
    if client.llen(queue) > 0 and time.time() - since < MAX_DEFER:
        client.set(key, json.dumps({"since": since, "batch": merged}), ex=KEEP)
        return None
    if held:
        client.delete(key)
    return merged
