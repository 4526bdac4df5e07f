"""An agent's answer to a `read` command (adopting a host, dispatch/actions/adopt.py): checked as untrusted input.

Kept apart from adopt.py so that the report handler (reports.py) needs nothing of the deployments it serves.
"""

from typing import Any

from django.db import transaction
from django.utils import timezone
from lvsweb_agent.adopt import MAX_READING_BYTES, ReadingError, parse_reading, reading_size

from audit.choices import Result
from audit.recording import record
from clusters.models import Host
from dispatch import counters
from dispatch.models import KernelReading


def reading_status(reading: KernelReading) -> tuple[str, str]:
    """(status, error) as shown: a pending reading past its expiry is failed (the agent did not answer)."""
    if reading.status == KernelReading.Status.PENDING and timezone.now() > reading.expires_at:
        return KernelReading.Status.FAILED, "agent offline: the read command expired unanswered."
    return reading.status, reading.error


def reading_report(host: Host, payload: dict[str, Any]) -> str:
    """An agent's answer to `read` (inside handle_report's transaction): checked, stored, audited."""
    number = payload.get("reading")
    reading = None
    if isinstance(number, int) and not isinstance(number, bool):
        reading = KernelReading.objects.select_for_update().filter(pk=number, host=host).first()
    if reading is None:
        record(
            action="agent.report_rejected",
            actor_host=host.hostname,
            obj=host,
            result=Result.REFUSED,
            message=f"Reading rejected: it names reading {str(payload.get('reading'))[:40]}, not one of this host's.",
        )
        return "rejected"
    if reading.status != KernelReading.Status.PENDING:
        return "late"
    table, error = payload.get("table"), str(payload.get("error") or "")[:4000]
    refused = ""
    if not error:
        size = reading_size(table)
        if size > MAX_READING_BYTES:
            refused, error = "too_large", f"the reading is {size:,} bytes, more than the {MAX_READING_BYTES:,} accepted"
        else:
            try:
                parse_reading(table)
            except ReadingError as exc:
                refused, error = "junk", f"the reading was refused: {'; '.join(exc.problems[:20])}"[:4000]
    if refused:
        transaction.on_commit(lambda: counters.count_refused_report("reading", refused))
    reading.status = KernelReading.Status.FAILED if error else KernelReading.Status.READ
    reading.error = error
    reading.reading = None if error else table
    reading.finished_at = timezone.now()
    reading.save()
    services = len(table.get("services", [])) if not error and isinstance(table, dict) else 0
    record(
        action="host.kernel_read",
        actor_host=host.hostname,
        obj=host,
        result=Result.REFUSED if refused else Result.FAILURE if error else Result.SUCCESS,
        message=error or f"The kernel runs {services} IPVS services (reading {reading.pk}).",
    )
    return str(reading.status)
