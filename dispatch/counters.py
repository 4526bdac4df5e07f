"""Counters an operator reads on /metrics: broker messages the workers dropped, agent reports the console refused.

They live in the console's own Redis (REDIS_URL), one hash each, so that every control worker process adds to
the same figures and they survive a worker restart (docs/dispatch.md, "Junk on the broker" and "Reports").
Counting never fails the caller: a Redis that cannot be reached is logged and the count is lost.
"""

from __future__ import annotations

import logging

import redis
from django.conf import settings

log = logging.getLogger(__name__)

DROPPED_KEY = "lvsweb:counters:broker_messages_dropped"
REFUSED_KEY = "lvsweb:counters:agent_reports_refused"

_client: redis.Redis | None = None


def _redis() -> redis.Redis:
    global _client
    if _client is None:
        _client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=5)
    return _client


def _increment(key: str, field: str) -> None:
    try:
        _redis().hincrby(key, field, 1)
    except redis.RedisError as exc:
        log.error("could not count %s in %s: %s", field, key, exc)


def _read(key: str) -> dict[str, int]:
    try:
        return {k.decode(): int(v) for k, v in _redis().hgetall(key).items()}
    except redis.RedisError as exc:
        log.error("could not read the counters %s: %s", key, exc)
        return {}


def count_dropped_message(reason: str, detail: str = "") -> None:
    """One message the broker transport dropped (lvsweb_agent.screen's `on_drop` hook), by reason."""
    _increment(DROPPED_KEY, reason)


def dropped_messages() -> dict[str, int]:
    """Messages dropped by the console's workers so far, by reason."""
    return _read(DROPPED_KEY)


def count_refused_report(kind: str, reason: str) -> None:
    """One signed report refused as stale, repeated or out of order (agents.replay), by kind and reason."""
    _increment(REFUSED_KEY, f"{kind}:{reason}")


def refused_reports() -> dict[tuple[str, str], int]:
    """Reports refused so far, by (kind, reason)."""
    counts = {}
    for field, value in _read(REFUSED_KEY).items():
        kind, _, reason = field.partition(":")
        counts[(kind, reason)] = value
    return counts
