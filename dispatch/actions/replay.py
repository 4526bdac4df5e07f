"""Refusing replayed reports: every signed report carries its stream's sequence and its time (docs/dispatch.md,
"Reports: replay"). A signature proves who wrote a report, not when: without this, anyone on the broker could
send a host's old "drift: []" heartbeat again and flip a drifted host back to "in sync".

A report is accepted when its `sent_at` is within AGENT_REPORT_WINDOW seconds of the console's clock (either
way) and its `sequence` is above the last one accepted from that host for the report's stream
(agents/lvsweb_agent/sequence.py: heartbeat, deployment, health, traffic). Anything else is refused before it is
acted on, counted (the stream's row, and /metrics), logged, and — for the streams whose reports are audited
(heartbeat, deployment, health; not traffic) — audited, at most once a minute per host and stream, the entry
saying how many were refused since the previous one, so that a flood of replays cannot flood the history.
"""

from __future__ import annotations

import logging
import math
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from lvsweb_agent.sequence import stream_of

from audit.choices import Result
from audit.recording import record
from clusters.models import Host
from dispatch import counters
from dispatch.models import ReportStream

logger = logging.getLogger(__name__)

#: Streams whose refusals are audited (their accepted reports write audit entries too).
AUDITED_STREAMS = {"heartbeat", "deployment", "health", "ha"}
AUDIT_EVERY = timedelta(minutes=1)
MAX_SEQUENCE = 2**63 - 1  # a PostgreSQL bigint


class Refused(Exception):
    """A report not to act on: `reason` is its label on /metrics, the message says why in words."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


def check(sequence: Any, sent_at: Any, *, last_sequence: int, now: float, window: float) -> None:
    """The acceptance rule alone: Refused unless `sent_at` is within `window` seconds of `now` and `sequence`
    is above `last_sequence` (0 before the stream's first report)."""
    if isinstance(sequence, bool) or not isinstance(sequence, int) or not 0 < sequence <= MAX_SEQUENCE:
        raise Refused("no_sequence", f"it carries no valid sequence ({sequence!r}); the agent may be out of date")
    if isinstance(sent_at, bool) or not isinstance(sent_at, int | float) or not math.isfinite(sent_at):
        raise Refused("no_time", f"it carries no valid sent_at ({sent_at!r})")
    if sent_at < now - window:
        raise Refused("stale", f"stale: sent {now - sent_at:.0f} s ago, more than the {window:.0f} s accepted")
    if sent_at > now + window:
        raise Refused(
            "future",
            f"sent {sent_at - now:.0f} s in the future, more than the {window:.0f} s accepted "
            "(is the host's clock right?)",
        )
    if sequence == last_sequence:
        raise Refused("repeated", f"repeated: sequence {sequence} was already accepted")
    if sequence < last_sequence:
        raise Refused(
            "out_of_order", f"out of order: sequence {sequence} is older than the last accepted, {last_sequence}"
        )


def _stream_row(host: Host, stream: str) -> ReportStream:
    """The host's stream row, locked until the end of the transaction (made at its first report)."""
    # Only this row is locked (the model's ordering would join the host and lock its row too).
    rows = ReportStream.objects.select_for_update(of=("self",)).filter(host=host, stream=stream).order_by()
    row = rows.first()
    if row is None:
        try:
            with transaction.atomic():
                ReportStream.objects.create(host=host, stream=stream)
        except IntegrityError:
            pass  # made meanwhile by another worker's report of the same stream
        row = rows.get()
    return row


def accept(host: Host, payload: dict, *, now: datetime | None = None) -> str | None:
    """Record `payload`'s sequence as its stream's latest and return None when it may be acted on; otherwise
    count, log and (maybe) audit the refusal and return its reason. Call inside the report's transaction,
    after its signature was verified."""
    assert transaction.get_connection().in_atomic_block, "accept() runs in the report's transaction"
    now = now or timezone.now()
    kind = str(payload.get("kind"))
    stream = stream_of(kind)
    row = _stream_row(host, stream)
    try:
        check(
            payload.get("sequence"),
            payload.get("sent_at"),
            last_sequence=row.last_sequence,
            now=now.timestamp(),
            window=settings.AGENT_REPORT_WINDOW,
        )
    except Refused as refusal:
        _refused(host, row, kind, refusal, now)
        return refusal.reason
    row.last_sequence = payload["sequence"]
    row.last_sent_at = datetime.fromtimestamp(payload["sent_at"], UTC)
    row.save(update_fields=["last_sequence", "last_sent_at"])
    return None


def _refused(host: Host, row: ReportStream, kind: str, refusal: Refused, now: datetime) -> None:
    row.refused += 1
    row.refused_unaudited += 1
    logger.warning("%s report from %r refused: %s", kind, host.hostname, refusal)
    transaction.on_commit(lambda: counters.count_refused_report(kind, refusal.reason))
    due = row.refusal_audited_at is None or now - row.refusal_audited_at >= AUDIT_EVERY
    if row.stream in AUDITED_STREAMS and due:
        others = row.refused_unaudited - 1
        record(
            action="agent.report_refused",
            actor_host=host.hostname,
            obj=host,
            result=Result.REFUSED,
            message=f"A {kind} report from “{host.hostname}” was refused: {refusal}."
            + (f" {others} other {row.stream} reports were refused since the previous entry." if others else ""),
        )
        row.refused_unaudited = 0
        row.refusal_audited_at = now
    row.save(update_fields=["refused", "refused_unaudited", "refusal_audited_at"])
