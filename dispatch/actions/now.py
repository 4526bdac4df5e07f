"""Drain now, enable now, disable now: one real server's new state sent to the directors at once.

For operators who expect what `ipvsadm -e -w 0` does. The change is saved like a one-click drain, and a
revision of its own is made of the latest revision with only this real server's state changed, so every
other unapplied change of the inventory stays unapplied (and is still shown as such). It goes to the
cluster's directors only — and, when the real server enters or leaves the kernel (disabled), to its own host
too, whose TUN/DR recipe holds the VIP only for real servers that are not disabled.
"""

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import transaction
from django.db.models import Max

from audit.recording import record
from clusters import actions as inventory
from clusters.choices import HostRole, RealServerState
from clusters.models import Cluster, Host, RealServer
from dispatch.actions.deployments import _issue, _refusal, applies_under_way
from dispatch.choices import DeploymentKind, DeploymentStatus
from dispatch.models import Revision
from dispatch.unapplied import find_sent, with_state
from teams import policy

#: The verb of each state, as the buttons and audit entries say it.
NOW_VERBS = {
    RealServerState.DRAINING: "drain",
    RealServerState.ACTIVE: "enable",
    RealServerState.DISABLED: "disable",
}
_DONE = {"drain": "Drained", "enable": "Enabled", "disable": "Disabled"}


def _refuse(message: str) -> ValidationError:
    return ValidationError({NON_FIELD_ERRORS: [message]})


@transaction.atomic
def apply_real_server_now(
    *, acting_user: AbstractBaseUser | None, real_server: RealServer, state: RealServerState | str
) -> Revision:
    """Put `real_server` in `state` and send that change alone to the directors as a new revision.

    Refused while an apply of the cluster is under way, when the cluster was never applied or the real
    server is not in its latest revision (apply first), when that revision already has it in this state,
    and when no director can receive a command.
    """
    state = RealServerState(state)
    verb = NOW_VERBS[state]
    cluster = Cluster.objects.select_for_update().get(pk=real_server.virtual_service.cluster_id)
    policy.require(acting_user, "apply", cluster)
    name = f"{real_server.endpoint} of {real_server.virtual_service.endpoint}"
    running = applies_under_way(cluster)
    if running:
        until = max(deployment.expires_at for deployment in running)
        under_way = running[0].revision
        assert under_way is not None  # an apply's deployments always belong to a revision
        raise _refuse(
            f"Revision {under_way.number} is still being applied on "
            f"{', '.join(d.host.hostname for d in running)}; {verb} {real_server.endpoint} now when it has finished "
            f"(at the latest {until:%H:%M:%S} UTC, when unanswered commands expire), or {verb} it for the next apply."
        )
    latest = cluster.revisions.order_by("-number").first()
    if latest is None:
        raise _refuse(
            f"{cluster} was never applied, so {name} is not in the kernel yet: apply the cluster first (Plan & apply)."
        )
    found = find_sent(latest.inventory, real_server)
    if found is None:
        raise _refuse(
            f"{name} is not in revision {latest.number}, the last one sent, so the directors do not have it: "
            "apply the cluster first (Plan & apply)."
        )
    if found[1]["state"] == state:
        raise _refuse(f"{name} is already {state} in revision {latest.number}, the last one sent: nothing to {verb}.")
    directors = {entry["hostname"] for entry in latest.inventory["hosts"] if entry["role"] == HostRole.DIRECTOR}
    refusals = {host.hostname: _refusal(host) for host in Host.objects.filter(hostname__in=directors)}
    if not directors or all(refusals.get(hostname) != "" for hostname in directors):
        why = "; ".join(f"{hostname}: {refusals.get(hostname) or 'no longer exists'}" for hostname in sorted(directors))
        raise _refuse(
            f"No director of revision {latest.number} can receive a command ({why or 'it has no director'}): "
            f"{verb} {real_server.endpoint} for the next apply instead."
        )
    recipients = set(directors)
    # Its host's recipe (the VIP on tunl0 or lo) holds the VIPs of real servers that are not disabled only.
    own_host = found[1].get("host")
    real_server_hosts = {e["hostname"] for e in latest.inventory["hosts"] if e["role"] == HostRole.REAL_SERVER}
    if RealServerState.DISABLED in (state, found[1]["state"]) and own_host in real_server_hosts:
        recipients.add(own_host)

    real_server = inventory.set_real_server_state(acting_user=acting_user, real_server=real_server, state=state)
    snapshot = with_state(latest.inventory, real_server, state)
    number = (cluster.revisions.aggregate(number=Max("number"))["number"] or 0) + 1
    revision = Revision.objects.create(
        cluster=cluster,
        number=number,
        inventory=snapshot,
        created_by_name=acting_user.get_username() if acting_user else "system",
    )
    deployments = _issue(
        kind=DeploymentKind.APPLY, cluster=cluster, snapshot=snapshot, revision=revision, only=recipients
    )
    sent = [d.host.hostname for d in deployments if d.status == DeploymentStatus.PENDING]
    record(
        action=f"real_server.{verb}_now",
        acting_user=acting_user,
        obj=real_server,
        cluster_id=cluster.pk,
        changes={"revision": [latest.number, revision.number]},
        message=f"{_DONE[verb]} {name} now: revision {revision.number} (revision {latest.number} with only this "
        f"change) sent to {', '.join(sent) or 'no host'} ({len(sent)} of {len(deployments)} hosts).",
    )
    return revision
