"""Adopt a live host: ask its agent what its kernel runs, propose that as inventory, and adopt it on confirmation.

1. `request_reading`: a signed `read` command to the host's agent (lvsweb_agent.adopt.read_host answers it);
2. `reading_report`: the agent's answer, checked as untrusted input (size, then lvsweb_agent.adopt.parse_reading),
   refused and counted when it is junk;
3. `preview_adopt` / `commit_adopt`: the reading as a cluster's inventory (an existing cluster or a new one) — its
   services and real servers through the import's audited actions (rows: create, unchanged, conflict), the host's
   role, and what the adopting apply will do on the host, planned by the agent's own pure planner against the
   reading. A commit then applies the cluster: the agent finds nothing to change in the kernel and its ledger
   (lvsweb_agent/ledger.py) takes the adopted objects as its own, so the next apply changes only what the
   operator changed. What the operator left out stays the kernel's alone (owns_ipvs_table is false).
"""

import logging
import time
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from celery import current_app as celery_app
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import transaction
from django.utils import timezone
from lvsweb_agent.adopt import Reading, ReadingError, parse_reading
from lvsweb_agent.document import parse_document
from lvsweb_agent.ledger import Ledger
from lvsweb_agent.planner import plan
from lvsweb_agent.retry import GaveUp, broker_unreachable, retry, send_task_once

from audit.recording import record
from clusters.actions import locks
from clusters.actions.clusters import create_cluster
from clusters.actions.hosts import assign_host_role, update_host
from clusters.actions.imports import ImportResult, _Importer
from clusters.choices import HostRole
from clusters.compiler import compile_documents, inventory_snapshot
from clusters.interchange.ruleset import RuleSetBuilder
from clusters.models import Cluster, ClusterHost, Host
from dispatch.actions.deployments import (
    AGENT_COMMAND_TASK,
    PUBLISH_BACKOFF,
    apply_cluster,
    other_snapshots,
    unreachable_state,
)
from dispatch.actions.readings import reading_status
from dispatch.choices import NOT_SENT_REASONS
from dispatch.models import KernelReading, Revision
from dispatch.signing import seal_command
from teams import policy

logger = logging.getLogger(__name__)

#: A reading older than this is read again before adopting: the kernel may have changed since.
MAX_READING_AGE = timedelta(minutes=30)


@transaction.atomic
def request_reading(*, acting_user: AbstractBaseUser | None, host: Host) -> KernelReading:
    """Ask the host's agent what its kernel runs (nothing changes on the host); operators and owners only."""
    host = Host.objects.select_for_update().get(pk=host.pk)
    policy.require(acting_user, policy.CHANGE, host)
    state = unreachable_state(host)
    if state is not None:
        raise ValidationError({"host": f"{host.hostname} cannot be read: {NOT_SENT_REASONS[state]}"})
    now = timezone.now()
    reading = KernelReading.objects.create(
        host=host,
        requested_by_name=acting_user.get_username() if acting_user else "system",
        expires_at=now + timedelta(seconds=settings.AGENT_COMMAND_TTL),
    )
    payload = {
        "kind": "read",
        "host": host.hostname,
        "reading": reading.pk,
        "deployment": None,
        "issued_at": now.timestamp(),
        "expires_at": reading.expires_at.timestamp(),
    }
    envelope, queue = seal_command(payload), host.queue
    transaction.on_commit(lambda: _publish(reading.pk, queue, envelope))
    record(
        action="host.read_kernel",
        acting_user=acting_user,
        obj=host,
        message="Asked the agent what its kernel runs, to adopt it (nothing changes on the host).",
    )
    return reading


def _publish(reading_id: int, queue: str, envelope: dict[str, Any]) -> None:
    try:
        retry(
            lambda: send_task_once(celery_app, AGENT_COMMAND_TASK, args=[envelope], queue=queue),
            what=f"sending the read command to {queue}",
            transient=broker_unreachable,
            backoff=PUBLISH_BACKOFF,
        )
    except GaveUp as exc:
        logger.error("%s", exc)
        KernelReading.objects.filter(pk=reading_id, status=KernelReading.Status.PENDING).update(
            status=KernelReading.Status.FAILED,
            error=f"not sent: the broker could not be reached ({exc}).",
            finished_at=timezone.now(),
        )


@dataclass
class AdoptResult:
    """What adopting a reading does (or did): the inventory rows, the host's role, the adopting apply's plan."""

    reading: KernelReading
    cluster: Cluster
    new_cluster: bool
    role: str
    imported: ImportResult
    #: The operations the adopting apply will run on the host (the agent's planner against the reading).
    operations: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    revision: Revision | None = None

    @property
    def ok(self) -> bool:
        return self.imported.ok

    @property
    def kernel_operations(self) -> list[dict[str, Any]]:
        """The planned operations that touch the kernel (all but the files persisting settings at boot)."""
        return [op for op in self.operations if op["op"] not in ("write-file", "remove-file")]


class AdoptRejected(Exception):
    """The reading conflicts with the inventory; nothing was saved. `result` says where."""

    def __init__(self, result: AdoptResult):
        super().__init__(f"Adopting has {result.imported.errors.total} errors; nothing was saved.")
        self.result = result


def _checked_reading(reading: KernelReading) -> Reading:
    status, error = reading_status(reading)
    if status != KernelReading.Status.READ:
        raise ValidationError(
            {"reading": f"This reading cannot be adopted: {error or 'the agent has not answered yet'}"}
        )
    if reading.finished_at is None or timezone.now() - reading.finished_at > MAX_READING_AGE:
        raise ValidationError({"reading": "This reading is more than 30 minutes old; read the kernel again."})
    try:
        return parse_reading(reading.reading)
    except ReadingError as exc:  # stored readings were checked; a console upgrade may read them otherwise
        raise ValidationError({"reading": f"This reading cannot be used: {exc}"}) from None


def _rules(parsed: Reading, exclude: frozenset[str]):
    builder = RuleSetBuilder("kernel")
    line = 0
    for service in parsed.services:
        if str(service.key) in exclude:
            continue
        line += 1
        builder.add_service(service, line)
        for dest in service.real_servers:
            line += 1
            builder.add_dest(service.key, dest, line)
    return builder.build()


def _vip_interface(acting_user, host: Host, cluster: Cluster, parsed: Reading, warnings: list[str]) -> None:
    """Where the kernel holds the VIPs, if that is one interface with full-length prefixes, becomes the host's VIP
    interface (unless it directs other clusters, whose VIPs would move)."""
    held = {(a.interface, a.prefix == (128 if ":" in a.address else 32)) for s in parsed.services if s.key.address
            for a in parsed.holders(s.key.address)}  # fmt: skip
    if len(held) != 1 or not next(iter(held))[1]:
        return
    interface = next(iter(held))[0]
    if interface == host.vip_interface:
        return
    directs = ClusterHost.objects.filter(host=host, role=HostRole.DIRECTOR).exclude(cluster=cluster).exists()
    if directs:
        warnings.append(
            f"The kernel holds the VIPs on {interface}; this host's VIP interface stays {host.vip_interface} "
            "because it directs other clusters: the apply adds the VIPs there."
        )
        return
    update_host(acting_user=acting_user, host=host, changes={"vip_interface": interface})


def _adopt(*, acting_user, reading: KernelReading, cluster: Cluster | None, new_cluster: dict[str, Any] | None,
           exclude: frozenset[str], update_existing: bool) -> AdoptResult:  # fmt: skip
    host = Host.objects.get(pk=reading.host_id)
    policy.require(acting_user, policy.CHANGE, host)
    parsed = _checked_reading(reading)
    unknown = exclude - {str(service.key) for service in parsed.services}
    if unknown:
        raise ValidationError({"exclude": f"Not in the reading: {', '.join(sorted(unknown))}."})
    role = HostRole.DIRECTOR if parsed.services else HostRole.REAL_SERVER
    if role == HostRole.REAL_SERVER and not (parsed.recipe_vips("tunl0") or parsed.recipe_vips("lo")):
        raise ValidationError({"reading": "The kernel runs no IPVS service and holds no VIP on tunl0 or lo."})
    if cluster is None:
        if not new_cluster:
            raise ValidationError({"cluster": "Choose a cluster, or name a new one."})
        cluster = create_cluster(acting_user=acting_user, fields=new_cluster)
    policy.require(acting_user, policy.CHANGE, cluster)
    warnings: list[str] = []
    existing = ClusterHost.objects.filter(cluster=cluster, host=host).first()
    if existing is None:
        assign_host_role(acting_user=acting_user, cluster=cluster, host=host, role=role)
    elif existing.role != role:
        raise ValidationError({"cluster": f"{host} is a {existing.get_role_display()} of {cluster}, not a {role}."})
    if role == HostRole.DIRECTOR:
        _vip_interface(acting_user, host, cluster, parsed, warnings)
    importer = _Importer(
        acting_user=acting_user, cluster=cluster, parsed=_rules(parsed, exclude), update_existing=update_existing
    )
    imported = importer.run()
    result = AdoptResult(reading, cluster, new_cluster is not None, str(role), imported, warnings=warnings)
    if imported.ok:
        host.refresh_from_db()
        snapshot = inventory_snapshot(cluster)
        documents = compile_documents([snapshot, *other_snapshots(cluster, [host])], {host.hostname: 0})
        the_plan = plan(parse_document(documents[host.hostname]), parsed.actual, Ledger(), time.time())
        result.operations = [op.to_json() for op in the_plan.operations]
        result.notes = list(the_plan.notes)
    return result


def preview_adopt(
    *,
    acting_user: AbstractBaseUser | None,
    reading: KernelReading,
    cluster: Cluster | None = None,
    new_cluster: dict[str, Any] | None = None,
    exclude: frozenset[str] = frozenset(),
    update_existing: bool = False,
) -> AdoptResult:
    """What adopting the reading into `cluster` (or a new cluster of `new_cluster`'s team, name and slug) would
    do; nothing is kept (the writes run through the audited actions and are rolled back)."""
    with transaction.atomic(), locks.previewing():
        result = _adopt(
            acting_user=acting_user,
            reading=reading,
            cluster=cluster,
            new_cluster=new_cluster,
            exclude=exclude,
            update_existing=update_existing,
        )
        transaction.set_rollback(True)
    return result


@transaction.atomic
def commit_adopt(
    *,
    acting_user: AbstractBaseUser | None,
    reading: KernelReading,
    cluster: Cluster | None = None,
    new_cluster: dict[str, Any] | None = None,
    exclude: frozenset[str] = frozenset(),
    update_existing: bool = False,
) -> AdoptResult:
    """Adopt the reading: the inventory (each object audited), one `host.adopt` entry, then the cluster applied —
    the adopting revision, whose apply changes nothing in the host's kernel. All or nothing (AdoptRejected)."""
    result = _adopt(
        acting_user=acting_user,
        reading=reading,
        cluster=cluster,
        new_cluster=new_cluster,
        exclude=exclude,
        update_existing=update_existing,
    )
    if not result.ok:
        transaction.set_rollback(True)
        raise AdoptRejected(result)
    record(
        action="host.adopt",
        acting_user=acting_user,
        obj=reading.host,
        cluster_id=result.cluster.pk,
        team_id=result.cluster.team_id,
        changes={"cluster": [None, result.cluster.slug], "role": [None, result.role]},
        message=f"Adopted what {reading.host} runs into {result.cluster} as {result.role}: "
        f"{result.imported.summary()}; the adopting apply plans {len(result.kernel_operations)} kernel operations.",
    )
    try:
        result.revision = apply_cluster(acting_user=acting_user, cluster=result.cluster)
    except ValidationError as exc:
        raise ValidationError({NON_FIELD_ERRORS: [f"Adopted nothing: {' '.join(exc.messages)}"]}) from None
    return result
