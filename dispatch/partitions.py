"""Control queue partitions: more control workers without reordering any director's reports (docs/scaling.md).

Agents send every report and traffic batch to the one queue they know, `control` (docs/dispatch.md; their
broker users may write nowhere else). With LVSWEB_CONTROL_PARTITIONS = N > 1, the worker that consumes
`control` (the router: one process, solo pool) no longer handles agents' messages itself: it reads the
envelope's `signer` — without verifying it, which the partition's worker does — and forwards the message to
`control.<k>`, k a stable hash of the host name. Each partition queue has one consumer, so one host's
messages are handled one after the other in the order the agent sent them, and always by the same process
(whose per-host caches, like the traffic series, stay warm); different hosts' messages are handled side by
side. The console's own tasks (beat's housekeeping, alerts, audit) go to `control.jobs`.

Forwarding costs one small task (decode, hash, LPUSH); the work it hands on — a signature check, the
database and the channel layer — is what needs more than one process.
"""

from __future__ import annotations

import hashlib
from typing import Any

from django.conf import settings
from lvsweb_agent.envelope import EnvelopeError, envelope_signer

#: Where agents send (agents/lvsweb_agent/broker.py): with one partition, every control worker consumes it.
CONTROL_QUEUE = "control"
#: The console's own tasks when the control plane is partitioned.
JOBS_QUEUE = "control.jobs"
#: The agents' tasks: always sent to CONTROL_QUEUE, forwarded from there by the router.
AGENT_TASKS = ("lvsweb.control.report", "lvsweb.control.traffic")


def partition_of(hostname: str, partitions: int) -> int:
    """The partition (0 … partitions - 1) of a host: the same on every console process and across restarts."""
    digest = hashlib.blake2b(hostname.encode("utf-8", "surrogateescape"), digest_size=8).digest()
    return int.from_bytes(digest, "big") % partitions


def partition_queue(index: int) -> str:
    """The queue of partition `index`."""
    return f"{CONTROL_QUEUE}.{index}"


def own_queue(partitions: int) -> str:
    """Where the console's own tasks go (CELERY_TASK_DEFAULT_QUEUE): `control`, or `control.jobs` when
    partitioned, so that beat's roll-ups (seconds at 50,000 series) never hold the router back."""
    return CONTROL_QUEUE if partitions <= 1 else JOBS_QUEUE


def task_routes(partitions: int) -> dict[str, dict[str, str]]:
    """CELERY_TASK_ROUTES: the agents' tasks to `control` (exact names win over the pattern), the rest of
    `lvsweb.control.*` to own_queue()."""
    own = own_queue(partitions)
    return {**{name: {"queue": CONTROL_QUEUE} for name in AGENT_TASKS}, "lvsweb.control.*": {"queue": own}}


def delivered_from(request: Any) -> str:
    """The queue a task's message was taken from (its routing key: the queue name on the Redis transport)."""
    return str((getattr(request, "delivery_info", None) or {}).get("routing_key") or CONTROL_QUEUE)


def forward(task: Any, envelope: Any) -> str | None:
    """As the router: send an agent's message on to its host's partition queue and return that queue; None when
    it is to be handled here (one partition, already on a partition queue, or no readable signer — then the
    handler rejects it, counted and audited as usual)."""
    partitions = settings.CONTROL_PARTITIONS
    if partitions <= 1 or delivered_from(task.request) != CONTROL_QUEUE:
        return None
    try:
        signer = envelope_signer(envelope)
    except EnvelopeError:
        return None
    queue = partition_queue(partition_of(signer, partitions))
    # Published before this message is acknowledged (acks late), one message at a time: order is kept.
    task.apply_async(args=[envelope], queue=queue, expires=task.request.expires)
    return queue
