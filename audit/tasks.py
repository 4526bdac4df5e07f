"""Periodic audit work (Celery, scheduled in settings.CELERY_BEAT_SCHEDULE): streams, checkpoints, verification."""

import logging

from celery import shared_task

log = logging.getLogger(__name__)


@shared_task(name="lvsweb.audit.deliver", ignore_result=True)
def deliver() -> dict[str, int]:
    """Send the entries and checkpoints each configured stream has not had yet (audit/streaming.py)."""
    from audit import streaming

    return streaming.deliver()


@shared_task(name="lvsweb.audit.checkpoint", ignore_result=True)
def checkpoint() -> int | None:
    """Anchor entries not yet covered by a checkpoint (after verifying them); the entry anchored, if any."""
    from audit import anchors, streaming

    if not anchors.unanchored():
        return None
    written = anchors.write_checkpoint(check=True)
    streaming.kick()
    return written.entry_id if written else None


@shared_task(name="lvsweb.audit.verify", ignore_result=True)
def verify() -> bool:
    """Walk the whole chain against every checkpoint and keep the result for the audit page."""
    from audit import anchors

    report = anchors.verify_database()
    anchors.remember(report)
    if not report.ok:
        log.error("audit verification failed: %s", "; ".join(report.problems))
    return report.ok
