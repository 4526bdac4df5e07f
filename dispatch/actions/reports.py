"""What agents report, checked against the reporting host's own key; and giving up on silent hosts."""

import logging
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from lvsweb_agent.envelope import EnvelopeError, envelope_signer, load_public_key, open_envelope

from audit.choices import Result
from audit.recording import record
from clusters.choices import AgentStatus, SyncState
from clusters.models import Host, sync_state
from dispatch import counters, events
from dispatch.actions import replay
from dispatch.actions.ha import ha_facts, ha_report
from dispatch.actions.health import health_report
from dispatch.actions.readings import reading_report
from dispatch.choices import OPEN_STATUSES, DeploymentKind, DeploymentStatus
from dispatch.models import Deployment

logger = logging.getLogger(__name__)

REPORT_STATUSES = {
    "applying": DeploymentStatus.APPLYING,
    "applied": DeploymentStatus.APPLIED,
    "failed": DeploymentStatus.FAILED,
}


REPORT_KINDS = ("heartbeat", "deployment", "plan", "refusal", "health", "reading", "ha")


def _reject(signer: str, reason: str) -> None:
    transaction.on_commit(lambda: counters.count_refused_report("report", "rejected"))
    record(
        action="agent.report_rejected",
        object_type="clusters.host",
        object_repr=signer[:255],
        result=Result.REFUSED,
        message=f"Report claiming to come from “{signer}” rejected: {reason}.",
    )
    logger.warning("report from %r rejected: %s", signer, reason)


def _broadcast_host(host: Host) -> None:
    state = sync_state(host)
    for cluster_id in host.cluster_roles.values_list("cluster_id", flat=True):
        events.broadcast(cluster_id, events.host_event(host, state))


@transaction.atomic
def handle_report(envelope: Any) -> str:
    """Verify and record one report; returns what was done (for logs and tests). Never raises on bad input."""
    try:
        signer = envelope_signer(envelope)
    except EnvelopeError as exc:
        _reject("?", str(exc))
        return "rejected"
    host = Host.objects.select_for_update().filter(hostname=signer).first()
    if host is None:
        _reject(signer, "no host of that name")
        return "rejected"
    if host.revoked_at is not None or not host.public_key:
        _reject(signer, "the host is revoked" if host.revoked_at else "the host is not enrolled")
        return "rejected"
    try:
        payload = open_envelope(envelope, load_public_key(host.public_key))
    except EnvelopeError as exc:
        _reject(signer, str(exc))
        return "rejected"
    if payload.get("host") != signer:
        _reject(signer, f"it speaks for another host ({payload.get('host')!r})")
        return "rejected"
    kind = payload.get("kind")
    if kind not in REPORT_KINDS:
        _reject(signer, f"unknown report kind {kind!r}")
        return "rejected"
    if replay.accept(host, payload) is not None:
        return "refused"  # stale, repeated or out of order: counted (and audited) by replay.accept
    if kind == "heartbeat":
        return _heartbeat(host, payload)
    if kind == "health":
        return health_report(host, payload)
    if kind == "reading":
        return reading_report(host, payload)
    if kind == "ha":
        return ha_report(host, payload)
    return _deployment_report(host, payload)


def _heartbeat(host: Host, payload: dict[str, Any]) -> str:
    facts = payload.get("facts") if isinstance(payload.get("facts"), dict) else {}
    was = sync_state(host)
    host.last_heartbeat_at = timezone.now()
    host.agent_status = AgentStatus.ONLINE
    host.facts = facts
    host.agent_version = str(facts.get("agent_version", host.agent_version))[:50]
    host.kernel_version = str(facts.get("kernel", host.kernel_version))[:100]
    drift = facts.get("drift")
    # A null drift means the agent could not compare (facts["drift_error"] says why): unknown, never "in sync".
    host.drift = drift if isinstance(drift, list) else []
    applied = facts.get("applied_serial")
    if isinstance(applied, int) and applied >= 0:
        host.applied_serial = applied
    host.save()
    now = sync_state(host)
    if now != was:
        record(
            action="host.sync_state",
            actor_host=host.hostname,
            obj=host,
            changes={"state": [str(was), str(now)]},
            message=facts.get("drift_error") or (f"{len(host.drift)} operations of drift." if host.drift else ""),
        )
    _broadcast_host(host)
    ha_facts(host, facts)
    return "heartbeat"


def _deployment_report(host: Host, payload: dict[str, Any]) -> str:
    if payload["kind"] == "refusal" and payload.get("deployment") is None:
        # The agent refused a command it could not verify, so it never read which deployment it was for.
        record(
            action="agent.command_refused",
            actor_host=host.hostname,
            obj=host,
            result=Result.REFUSED,
            message=f"refused by the agent: {payload.get('error', '')}"[:4000],
        )
        return "refused"
    deployment = (
        Deployment.objects.select_for_update(of=("self",))
        .select_related("host", "revision")
        .filter(pk=payload.get("deployment"), host=host)
        .first()
    )
    if deployment is None:
        _reject(host.hostname, f"it names deployment {payload.get('deployment')!r}, which is not this host's")
        return "rejected"
    if deployment.status not in OPEN_STATUSES:
        return "late"  # already finished or given up as expired; the first word stands
    kind = payload["kind"]
    operations = payload.get("operations")
    if isinstance(operations, list):
        deployment.operations = operations
    now = timezone.now()
    if kind == "refusal":
        deployment.status = DeploymentStatus.FAILED
        deployment.error = f"refused by the agent: {payload.get('error', '')}"[:4000]
        record(
            action="agent.command_refused",
            actor_host=host.hostname,
            obj=deployment,
            cluster_id=deployment.cluster_id,
            result=Result.REFUSED,
            message=deployment.error,
        )
    elif kind == "plan":
        error = str(payload.get("error") or "")
        deployment.status = DeploymentStatus.FAILED if error else DeploymentStatus.APPLIED
        deployment.error = error[:4000]
    else:
        status = REPORT_STATUSES.get(payload.get("status"))
        if status is None:
            _reject(host.hostname, f"unknown deployment status {payload.get('status')!r}")
            return "rejected"
        deployment.status = status
        deployment.error = str(payload.get("error") or "")[:4000]
        if status == DeploymentStatus.APPLIED and isinstance(payload.get("serial"), int):
            host.applied_serial = payload["serial"]
            host.drift = []
            host.save(update_fields=["applied_serial", "drift", "updated_at"])
    if deployment.status == DeploymentStatus.APPLYING:
        deployment.started_at = deployment.started_at or now
    else:
        deployment.finished_at = now
    deployment.save()
    if deployment.kind != DeploymentKind.PLAN and deployment.status in (
        DeploymentStatus.APPLIED,
        DeploymentStatus.FAILED,
    ):
        record(
            action=f"deployment.{deployment.status}",
            actor_host=host.hostname,
            obj=deployment,
            cluster_id=deployment.cluster_id,
            result=Result.SUCCESS if deployment.status == DeploymentStatus.APPLIED else Result.FAILURE,
            message=deployment.error
            or f"{len(deployment.operations)} operations"
            + (f" for revision {deployment.revision.number}" if deployment.revision_id else ""),
        )
    events.broadcast(deployment.cluster_id, events.deployment_event(deployment))
    return str(deployment.status)


@transaction.atomic
def expire_deployments(now: datetime | None = None) -> int:
    """Fail every command that was not answered in time (the agent is offline); returns how many."""
    now = now or timezone.now()
    expired = list(
        Deployment.objects.select_for_update(skip_locked=True, of=("self",))
        .select_related("host", "revision")
        .filter(status__in=OPEN_STATUSES, expires_at__lte=now)
    )
    for deployment in expired:
        fail_deployment(
            deployment,
            f"agent offline: the command expired unanswered after {settings.AGENT_COMMAND_TTL} s "
            f"(last heartbeat: {_ago(deployment.host.last_heartbeat_at, now)}).",
            at=now,
        )
    return len(expired)


def fail_deployment(deployment: Deployment, error: str, *, at: datetime) -> None:
    """End an open deployment as failed with `error`, without its agent's word: audited and sent to browsers."""
    deployment.status = DeploymentStatus.FAILED
    deployment.error = error
    deployment.finished_at = at
    deployment.save(update_fields=["status", "error", "finished_at"])
    record(
        action="deployment.failed",
        obj=deployment,
        cluster_id=deployment.cluster_id,
        result=Result.FAILURE,
        message=error,
    )
    events.broadcast(deployment.cluster_id, events.deployment_event(deployment))


def _ago(moment: datetime | None, now: datetime) -> str:
    if moment is None:
        return "never"
    return f"{int((now - moment).total_seconds())} s ago"


@transaction.atomic
def mark_offline_hosts(now: datetime | None = None) -> int:
    """Hosts whose agent missed three heartbeats are offline; returns how many changed."""
    now = now or timezone.now()
    limit = now - timedelta(seconds=3 * settings.AGENT_HEARTBEAT_INTERVAL)
    stale = list(
        Host.objects.select_for_update(skip_locked=True).filter(
            agent_status=AgentStatus.ONLINE, last_heartbeat_at__lt=limit
        )
    )
    for host in stale:
        host.agent_status = AgentStatus.OFFLINE
        host.save(update_fields=["agent_status", "updated_at"])
        record(
            action="host.sync_state",
            obj=host,
            changes={
                "state": [str(SyncState.IN_SYNC if not host.drift else SyncState.DRIFTED), str(SyncState.OFFLINE)]
            },
            message=f"No heartbeat since {host.last_heartbeat_at:%H:%M:%S} UTC (3 missed).",
        )
        _broadcast_host(host)
    return len(stale)


__all__ = ["expire_deployments", "fail_deployment", "handle_report", "mark_offline_hosts"]
