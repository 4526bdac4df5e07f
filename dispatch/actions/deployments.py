"""Plan, apply and reconcile: compile per-host documents and send them, signed, to the agents."""

import logging
from collections.abc import Collection, Iterable
from datetime import timedelta
from typing import Any

from celery import current_app as celery_app  # the console's app (lvsweb.celery), without importing the project layer
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import transaction
from django.db.models import Max
from django.utils import timezone
from lvsweb_agent.retry import Backoff, GaveUp, broker_unreachable, retry, send_task_once

from audit.choices import Result
from audit.recording import record
from clusters.compiler import compile_documents, inventory_snapshot
from clusters.models import Cluster, ClusterHost, Host
from dispatch import events
from dispatch.actions.reports import fail_deployment
from dispatch.capabilities import capability_gaps
from dispatch.choices import NOT_SENT_REASONS, OPEN_STATUSES, DeploymentKind, DeploymentStatus, SyncState
from dispatch.models import Deployment, Revision
from dispatch.signing import seal_command
from teams import policy

AGENT_COMMAND_TASK = "lvsweb.agent.command"
# Publishing happens in the request that applied, after commit: at most 0.25 + 0.5 + 1 = 1.75 s of waiting
# for a broker that is briefly away, then the deployment fails saying so (the operator applies again).
PUBLISH_BACKOFF = Backoff(attempts=4, base=0.25, cap=2.0)

logger = logging.getLogger(__name__)


def unreachable_state(host: Host) -> SyncState | None:
    """Why the console can send `host` no command at all (revoked, never enrolled), or None when it can."""
    if host.revoked_at is not None:
        return SyncState.REVOKED
    if not host.public_key:
        return SyncState.NEVER_ENROLLED
    return None


def _refusal(host: Host) -> str:
    """Why a command cannot be sent to `host`, or "" when it can."""
    state = unreachable_state(host)
    return NOT_SENT_REASONS[state] if state is not None else ""


def names_in_words(names: Iterable[str]) -> str:
    """Names as a sentence lists them: 'a', 'a and b', 'a, b and c'."""
    names = list(names)
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


#: How "these hosts get nothing" reads, by why: (one host, several hosts), and what to do (for one, for several).
NOT_SENT_WORDS = {
    SyncState.NEVER_ENROLLED: (
        ("was never enrolled", "were never enrolled"),
        (
            "run `lvsweb-agent enroll` there first: Hosts → the host → Enroll shows the command",
            "run `lvsweb-agent enroll` on each first: Hosts → a host → Enroll shows the command",
        ),
    ),
    SyncState.REVOKED: (
        ("is revoked", "are revoked"),
        ("enroll its agent again to manage it", "enroll their agents again to manage them"),
    ),
}


def not_sent_words(hostnames_by_state: dict[SyncState, list[str]], *, advice: bool = False) -> str:
    """Who gets nothing and why, e.g. 'rs1 and rs2 were never enrolled; rs3 is revoked' (with what to do)."""
    parts = []
    for state, (verbs, what_to_do) in NOT_SENT_WORDS.items():
        names = sorted(hostnames_by_state.get(state, []))
        if names:
            several = len(names) > 1
            part = f"{names_in_words(names)} {verbs[several]}"
            parts.append(f"{part} ({what_to_do[several]})" if advice else part)
    return "; ".join(parts)


def sent_summary(deployments: Iterable[Deployment]) -> tuple[str, bool]:
    """('sent to 1 of 3 hosts; rs2 and rs3 were never enrolled', whether every host was sent its command)."""
    deployments = list(deployments)
    not_sent: dict[SyncState, list[str]] = {}
    for deployment in deployments:
        state = deployment.not_sent_state
        if state is not None:
            not_sent.setdefault(state, []).append(deployment.host.hostname)
    sent = len(deployments) - sum(len(names) for names in not_sent.values())
    text = f"sent to {sent} of {len(deployments)} hosts"
    if not_sent:
        text += f"; {not_sent_words(not_sent)}"
    return text, not not_sent


def other_snapshots(cluster: Cluster, hosts: Iterable[Host]) -> list[dict[str, Any]]:
    """The latest applied inventory of every other cluster these hosts serve (their documents include it)."""
    cluster_ids = (
        ClusterHost.objects.filter(host__in=list(hosts))
        .exclude(cluster=cluster)
        .values_list("cluster_id", flat=True)
        .distinct()
    )
    latest = []
    for other_id in cluster_ids:
        revision = Revision.objects.filter(cluster_id=other_id).order_by("-number").first()
        if revision is not None:
            latest.append(revision.inventory)
    return latest


def departed_hosts(cluster: Cluster, snapshot: dict[str, Any]) -> dict[str, tuple[int, list[str]]]:
    """The hosts taken out of the cluster whose kernels may still hold its config: hostname -> (the revision
    whose config it may hold, the roles it had in it).

    A host qualifies while, since the last apply of this cluster that sent it the cluster's config and that
    its agent ran (applied, failed part-way, or still under way), no apply without the cluster has been
    applied on it. Commands its agent never ran (never enrolled, revoked, not sent, expired unanswered) do
    not count either way. So a host keeps being sent its clean-up until its agent has done it.
    """
    linked = {entry["hostname"] for entry in snapshot["hosts"]}
    members: dict[int, dict[str, list[str]]] = {}
    for number, hosts in cluster.revisions.values_list("number", "inventory__hosts"):
        for entry in hosts or []:
            members.setdefault(number, {}).setdefault(entry["hostname"], []).append(entry["role"])
    departed: dict[str, tuple[int, list[str]] | None] = {}
    history = (
        Deployment.objects.filter(cluster=cluster, kind=DeploymentKind.APPLY, revision__isnull=False)
        .exclude(host__hostname__in=linked)
        .order_by("-id")
        .values_list("host__hostname", "revision__number", "status", "started_at")
    )
    for hostname, number, status, started_at in history.iterator():
        if hostname in departed:
            continue
        ran = status in (DeploymentStatus.APPLIED, *OPEN_STATUSES) or started_at is not None
        roles = members.get(number, {}).get(hostname)
        if roles is None:  # a clean-up: once applied, nothing of this cluster is left on the host
            if status == DeploymentStatus.APPLIED:
                departed[hostname] = None
        elif ran:
            departed[hostname] = (number, roles)
    return {hostname: entry for hostname, entry in sorted(departed.items()) if entry is not None}


def _send(deployment: Deployment, payload: dict[str, Any]) -> None:
    envelope = seal_command(payload)
    queue = deployment.host.queue
    transaction.on_commit(lambda: publish_command(deployment_id=deployment.pk, queue=queue, envelope=envelope))


def publish_command(*, deployment_id: int, queue: str, envelope: dict[str, Any], backoff: Backoff = PUBLISH_BACKOFF):
    """Put a signed command on the host's queue; a broker out of reach is tried again with backoff, and when
    it stays away the deployment fails with the reason (never left pending until it expires)."""

    def send() -> None:
        send_task_once(celery_app, AGENT_COMMAND_TASK, args=[envelope], queue=queue)

    try:
        retry(send, what=f"sending the command to {queue}", transient=broker_unreachable, backoff=backoff)
    except GaveUp as exc:
        logger.error("%s", exc)
        try:
            fail_unsent_deployment(deployment_id=deployment_id, reason=str(exc))
        except Exception:
            # E.g. the browsers' channel layer on the same unreachable Redis: the apply itself has committed,
            # so the request must not fail; an unrecorded deployment still fails when its command expires.
            logger.exception("deployment %s: could not record that its command was not sent", deployment_id)


@transaction.atomic
def fail_unsent_deployment(*, deployment_id: int, reason: str) -> Deployment | None:
    """Fail a deployment whose command never reached the broker (audited, broadcast); None if it had ended."""
    deployment = (
        Deployment.objects.select_for_update(of=("self",))
        .select_related("host")
        .filter(pk=deployment_id, status__in=OPEN_STATUSES)
        .first()
    )
    if deployment is None:
        return None
    fail_deployment(
        deployment,
        f"not sent: the broker could not be reached ({reason}); the agent never got this command.",
        at=timezone.now(),
    )
    return deployment


def _issue(
    *,
    kind: DeploymentKind,
    cluster: Cluster,
    snapshot: dict[str, Any],
    revision: Revision | None,
    departed: dict[str, tuple[int, list[str]]] | None = None,
    only: Collection[str] | None = None,
) -> list[Deployment]:
    """Create one deployment per host of the snapshot, and per departed host (`departed_hosts`), and send
    each its signed command after commit; with `only`, to those of them named there (e.g. the directors)."""
    departed = departed or {}
    hostnames = [host["hostname"] for host in snapshot["hosts"]] + list(departed)
    if only is not None:
        hostnames = [hostname for hostname in hostnames if hostname in only]
    hosts = list(Host.objects.select_for_update().filter(hostname__in=hostnames).order_by("pk"))
    if kind == DeploymentKind.APPLY:
        for host in hosts:
            if not _refusal(host):
                host.document_serial += 1
                host.save(update_fields=["document_serial"])
    serials = {host.hostname: host.document_serial for host in hosts}
    leaving = {hostname: roles for hostname, (_number, roles) in departed.items()}
    documents = compile_documents([snapshot, *other_snapshots(cluster, hosts)], serials, leaving)
    now = timezone.now()
    expires = now + timedelta(seconds=settings.AGENT_COMMAND_TTL)
    deployments = []
    for host in hosts:
        refusal = _refusal(host)
        deployment = Deployment.objects.create(
            kind=kind,
            cluster=cluster,
            revision=revision,
            host=host,
            serial=host.document_serial,
            document=documents[host.hostname] if kind != DeploymentKind.RECONCILE else {},
            warnings=capability_gaps(documents[host.hostname], host.facts),
            status=DeploymentStatus.FAILED if refusal else DeploymentStatus.PENDING,
            error=refusal,
            finished_at=now if refusal else None,
            expires_at=expires,
        )
        deployments.append(deployment)
        if refusal:
            continue
        payload = {
            "kind": str(kind),
            "host": host.hostname,
            "serial": host.document_serial,
            "cluster": cluster.slug,
            "cluster_revision": revision.number if revision else None,
            "deployment": deployment.pk,
            "issued_at": now.timestamp(),
            "expires_at": expires.timestamp(),
        }
        if kind != DeploymentKind.RECONCILE:
            payload["document"] = deployment.document
        _send(deployment, payload)
    # Commit hooks run in the order they were registered: every command leaves before the browsers hear of
    # any (a host's wait does not include the channel layer's round trips, and a channel layer out of reach
    # cannot keep a command from leaving).
    for deployment in deployments:
        events.broadcast(cluster.pk, events.deployment_event(deployment))
    return deployments


def applies_under_way(cluster: Cluster) -> list[Deployment]:
    """The cluster's apply deployments not yet ended, by hostname: while there are any, no other apply (nor a
    "now" action) may start, so that two applies never interleave."""
    return list(
        Deployment.objects.filter(cluster=cluster, kind=DeploymentKind.APPLY, status__in=OPEN_STATUSES)
        .select_related("revision", "host")
        .order_by("host__hostname")
    )


def _require_hosts(snapshot: dict[str, Any], departed: dict[str, Any]) -> None:
    if not snapshot["hosts"] and not departed:
        raise ValidationError(
            {NON_FIELD_ERRORS: ["This cluster has no hosts yet: give it a director (and real servers) first."]}
        )


def _require_a_receiver(snapshot: dict[str, Any], departed: dict[str, Any]) -> None:
    """Refuse an apply that no host can be sent (each never enrolled or revoked): it would only record a
    revision that reached nobody, as if it had been applied."""
    hostnames = [entry["hostname"] for entry in snapshot["hosts"]] + list(departed)
    unreachable: dict[SyncState, list[str]] = {}
    for host in Host.objects.filter(hostname__in=hostnames):
        state = unreachable_state(host)
        if state is None:
            return
        unreachable.setdefault(state, []).append(host.hostname)
    if unreachable:
        raise ValidationError(
            {
                NON_FIELD_ERRORS: [
                    f"No host can receive this revision: {not_sent_words(unreachable, advice=True)}. "
                    "Nothing was applied."
                ]
            }
        )


@transaction.atomic
def plan_cluster(*, acting_user: AbstractBaseUser | None, cluster: Cluster) -> list[Deployment]:
    """Ask every host's agent what it would change for the current inventory (a dry run; nothing changes)."""
    cluster = Cluster.objects.select_for_update().get(pk=cluster.pk)
    policy.require(acting_user, "plan", cluster)
    snapshot = inventory_snapshot(cluster)
    departed = departed_hosts(cluster, snapshot)
    _require_hosts(snapshot, departed)
    deployments = _issue(kind=DeploymentKind.PLAN, cluster=cluster, snapshot=snapshot, revision=None, departed=departed)
    record(
        action="cluster.plan",
        acting_user=acting_user,
        obj=cluster,
        cluster_id=cluster.pk,
        message=f"Plan requested from {len(deployments)} hosts.",
    )
    return deployments


@transaction.atomic
def apply_cluster(*, acting_user: AbstractBaseUser | None, cluster: Cluster) -> Revision:
    """Make the current inventory a new numbered revision and send every host its document.

    Refused while an earlier apply of the same cluster is still under way, so two applies never interleave.
    """
    cluster = Cluster.objects.select_for_update().get(pk=cluster.pk)
    policy.require(acting_user, "apply", cluster)
    running = applies_under_way(cluster)
    if running:
        until = max(deployment.expires_at for deployment in running)
        raise ValidationError(
            {
                NON_FIELD_ERRORS: [
                    f"Revision {running[0].revision.number} is still being applied on "
                    f"{', '.join(d.host.hostname for d in running)}; apply again when it has finished "
                    f"(at the latest {until:%H:%M:%S} UTC, when unanswered commands expire)."
                ]
            }
        )
    snapshot = inventory_snapshot(cluster)
    departed = departed_hosts(cluster, snapshot)
    _require_hosts(snapshot, departed)
    _require_a_receiver(snapshot, departed)
    previous = cluster.revisions.aggregate(number=Max("number"))["number"] or 0
    revision = Revision.objects.create(
        cluster=cluster,
        number=previous + 1,
        inventory=snapshot,
        created_by_name=acting_user.get_username() if acting_user else "system",
    )
    deployments = _issue(
        kind=DeploymentKind.APPLY, cluster=cluster, snapshot=snapshot, revision=revision, departed=departed
    )
    summary, everyone = sent_summary(deployments)
    record(
        action="cluster.apply",
        acting_user=acting_user,
        obj=cluster,
        cluster_id=cluster.pk,
        changes={"revision": [previous or None, revision.number]},
        # Some hosts were sent nothing: the apply did not do all it was asked to, and History must not say it did.
        result=Result.SUCCESS if everyone else Result.PARTIAL,
        message=f"Revision {revision.number} {summary}.",
    )
    return revision


@transaction.atomic
def reconcile_host(*, acting_user: AbstractBaseUser | None, cluster: Cluster, host: Host) -> Deployment:
    """Ask the host's agent to re-apply the document it already has, repairing drift."""
    policy.require(acting_user, "reconcile", cluster)
    if not ClusterHost.objects.filter(cluster=cluster, host=host).exists():
        raise ValidationError({"host": f"{host} has no role in {cluster}."})
    snapshot = inventory_snapshot(cluster)
    snapshot["hosts"] = [entry for entry in snapshot["hosts"] if entry["hostname"] == host.hostname]
    latest = cluster.revisions.order_by("-number").first()
    [deployment] = _issue(kind=DeploymentKind.RECONCILE, cluster=cluster, snapshot=snapshot, revision=latest)
    record(
        action="host.reconcile",
        acting_user=acting_user,
        obj=host,
        cluster_id=cluster.pk,
        message=f"Reconcile requested ({deployment.get_status_display()}).",
    )
    return deployment
