"""Director high availability: the agents' VRRP reports (docs/ha.md).

An `ha` report (HA-INTERFACE.md §3) says that one VRRP instance of the reporting director changed state. It
arrives verified by `handle_report` (the director's own key, its stream's sequence) but its body is still
untrusted: a report of the wrong shape or size, or about an instance the host has no VIP group for, is refused
and counted like any other junk. Every change of holder is a History entry by the system, with keepalived's or
the agent's cause, and the cluster's pages are told at once over their websocket. Heartbeats carry every
instance's state (`facts["ha"]`): a change a lost report did not tell is taken from there.
"""

import re
from collections import Counter
from datetime import UTC, datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from audit.choices import Result
from audit.models import AuditEntry
from audit.recording import record
from clusters.choices import HostRole
from clusters.models import ClusterHost, Host, VipGroup
from dispatch import counters, events
from dispatch.choices import VrrpState
from dispatch.ha import group_statuses
from dispatch.models import DirectorRole

INSTANCE = re.compile(r"^[A-Za-z0-9_.-]{1,32}$")
STATES = frozenset(state.value for state in VrrpState)
#: Limits of an untrusted report: the longest cause kept, the most instances a heartbeat may list.
MAX_CAUSE = 500
MAX_INSTANCES = 255
#: The History entries that change who holds a VIP group.
HOLDING_ACTIONS = ("ha.failover", "ha.failback", "ha.release")


def _time(value: Any) -> datetime | None:
    if isinstance(value, int | float) and not isinstance(value, bool) and 0 < value < 2**33:
        return datetime.fromtimestamp(value, UTC)
    return None


def groups_by_instance(host: Host) -> dict[str, VipGroup]:
    """The host's VIP groups by its keepalived instance names for them (as the compiler names them)."""
    groups = list(
        VipGroup.objects.filter(
            cluster__cluster_hosts__host=host, cluster__cluster_hosts__role=HostRole.DIRECTOR
        ).select_related("cluster")
    )
    found = {f"{group.cluster.slug}-{group.name}": group for group in groups}
    names = Counter(group.name for group in groups)
    for group in groups:
        if names[group.name] == 1:
            found.setdefault(group.name, group)
    return found


def _refuse(host: Host, reason: str, message: str) -> str:
    transaction.on_commit(lambda: counters.count_refused_report("ha", reason))
    record(
        action="agent.report_rejected",
        actor_host=host.hostname,
        obj=host,
        result=Result.REFUSED,
        message=f"VRRP report of {host} refused: {message}."[:4000],
    )
    return "rejected"


def ha_report(host: Host, payload: dict[str, Any]) -> str:
    """Record one verified `ha` report (inside `handle_report`'s transaction); returns what was done."""
    instance, state, previous = payload.get("instance"), payload.get("state"), payload.get("previous")
    cause, at = payload.get("cause", ""), _time(payload.get("at"))
    if not isinstance(instance, str) or not INSTANCE.match(instance):
        return _refuse(host, "invalid", f"instance {str(instance)[:40]!r} is not a VRRP instance name")
    if state not in STATES or (previous is not None and previous not in STATES):
        return _refuse(host, "invalid", f"state {str(state)[:20]!r} (previous {str(previous)[:20]!r}) is unknown")
    if at is None:
        return _refuse(host, "invalid", "its time ('at') is not a unix time")
    if not isinstance(cause, str) or len(cause) > 4 * MAX_CAUSE:
        return _refuse(host, "invalid", "its cause is not a short text")
    group = groups_by_instance(host).get(instance)
    if group is None:
        return _refuse(host, "unknown_instance", f"it has no VIP group named {instance!r}")
    return transition(host, group, instance=instance, state=state, at=at, cause=cause[:MAX_CAUSE])


def ha_facts(host: Host, facts: dict[str, Any]) -> int:
    """Take the instances' states from a heartbeat's `facts["ha"]`; returns how many changed. Junk is counted."""
    reported = facts.get("ha")
    if reported is None:
        return 0
    if not isinstance(reported, dict) or len(reported) > MAX_INSTANCES:
        transaction.on_commit(lambda: counters.count_refused_report("ha", "invalid_facts"))
        return 0
    groups = groups_by_instance(host)
    changed = 0
    for instance, item in reported.items():
        group = groups.get(instance) if isinstance(instance, str) else None
        if group is None or not isinstance(item, dict) or item.get("state") not in STATES:
            continue
        at = _time(item.get("since")) or timezone.now()
        role = DirectorRole.objects.filter(host=host, vip_group=group).first()
        if role is None or role.state != item["state"]:
            transition(host, group, instance=instance, state=item["state"], at=at, cause="seen in a heartbeat")
            changed += 1
    return changed


def transition(host: Host, group: VipGroup, *, instance: str, state: str, at: datetime, cause: str) -> str:
    """Store `host`'s new state in `group`; audit a change of holder; tell the cluster's pages."""
    role = DirectorRole.objects.select_for_update().filter(host=host, vip_group=group).first()
    was = role.state if role is not None else None
    if role is None:
        role = DirectorRole(host=host, vip_group=group, cluster_id=group.cluster_id)
    role.instance, role.state, role.since, role.cause = instance, state, at, cause
    holder = (
        DirectorRole.objects.filter(vip_group=group, state=VrrpState.MASTER)
        .exclude(host=host)
        .select_related("host")
        .first()
    )
    role.save()
    if state == VrrpState.MASTER and was != VrrpState.MASTER:
        _audit_takeover(host, group, holder.host if holder else _last_holder(host, group), cause)
    elif was == VrrpState.MASTER and state != VrrpState.MASTER:
        record(
            action="ha.release",
            obj=group,
            cluster_id=group.cluster_id,
            team_id=group.cluster.team_id,
            changes={host.hostname: [was, state]},
            message=f"{host} left VIP group {group} ({VrrpState(was).label} → {VrrpState(state).label})"
            + (f": {cause}" if cause else ""),
        )
    [status] = group_statuses(group.cluster, [group])
    events.broadcast(group.cluster_id, status.as_event())
    return "ha"


def _last_holder(host: Host, group: VipGroup) -> Host | None:
    """Who held `group` last when no director holds it now: the director whose release is the group's latest
    holding entry in History. The old holder's report and the new one's race (two agents, one queue): a release
    that arrives first must not turn "failover from ha1" into "failover" or a fail-back into a failover."""
    entry = (
        AuditEntry.objects.filter(
            object_type=group._meta.label_lower, object_id=str(group.pk), action__in=HOLDING_ACTIONS
        )
        .order_by("-pk")
        .first()
    )
    if entry is None or entry.action != "ha.release" or not isinstance(entry.changes, dict):
        return None
    names = [name for name in entry.changes if name != host.hostname]
    return Host.objects.filter(hostname=names[0]).first() if len(names) == 1 else None


def _audit_takeover(host: Host, group: VipGroup, previous: Host | None, cause: str) -> None:
    priorities = dict(
        ClusterHost.objects.filter(cluster_id=group.cluster_id, role=HostRole.DIRECTOR, drained=False).values_list(
            "host_id", "vrrp_priority"
        )
    )
    preferred = bool(priorities) and priorities.get(host.pk, 0) >= max(priorities.values())
    back = previous is not None and preferred
    words = "fail-back" if back else "failover"
    message = f"{words}: {host} took VIP group {group}" + (
        f" {'back ' if back else ''}from {previous}" if previous else ""
    )
    record(
        action="ha.failback" if back else "ha.failover",
        obj=group,
        cluster_id=group.cluster_id,
        team_id=group.cluster.team_id,
        changes={"holder": [previous.hostname if previous else None, host.hostname]},
        message=message + (f": {cause}" if cause else ""),
    )
