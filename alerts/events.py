"""The events alerts know, and how each is read from an audit entry: one table, extended by adding rows.

An event is a *problem* (a real server went down), the *clear* of a problem (it came back) or a one-off
*notice* (an apply failed). Problems and clears of one type share a `subject` — what they are about, e.g.
`real_server:42` — so that the clear finds the problem it ends.

`ACTIONS` maps the audit action names the lower layers already write (dispatch/actions/health.py,
dispatch/actions/reports.py, dispatch/actions/replay.py, dispatch/actions/deployments.py,
dispatch/actions/enrollment.py) to a function that reads the entry. A new event source is one row here and,
when it is a new kind of event, one row in `EVENT_TYPES` — nothing in the lower layers changes, since they only
write their audit entries as before.
"""

from collections.abc import Callable
from dataclasses import dataclass

from alerts.choices import Severity
from audit.models import AuditEntry

PROBLEM, CLEAR, NOTICE = "problem", "clear", "notice"


@dataclass(frozen=True)
class EventType:
    """A kind of event rules choose: its name in the console and how severe it is."""

    label: str
    severity: Severity
    resolvable: bool


#: Every event type, by the name rules and the API use.
EVENT_TYPES: dict[str, EventType] = {
    "real_server_down": EventType("real server down (and up again)", Severity.WARNING, True),
    "quorum_lost": EventType("quorum lost, sorry server in use (and regained)", Severity.CRITICAL, True),
    "host_drifted": EventType("host drifted from its document (and back in sync)", Severity.WARNING, True),
    "agent_offline": EventType("agent offline (and back)", Severity.CRITICAL, True),
    "apply_failed": EventType("apply failed on a host", Severity.CRITICAL, False),
    "apply_partial": EventType("apply partly failed (hosts not reached)", Severity.WARNING, False),
    "director_failover": EventType("director failover", Severity.WARNING, False),
    "enrollment_token_used": EventType("enrollment token used (a host enrolled)", Severity.INFO, False),
    "key_problem": EventType("key problem (a signed report or command refused)", Severity.WARNING, False),
}

#: The names alone, sorted: the API's choices.
EVENT_TYPE_NAMES = sorted(EVENT_TYPES)


@dataclass(frozen=True)
class Signal:
    """What one audit entry means for alerts."""

    event_type: str
    state: str
    subject: str
    name: str
    text: str

    @property
    def severity(self) -> Severity:
        return EVENT_TYPES[self.event_type].severity


def _signal(entry: AuditEntry, event_type: str, state: str, subject: str = "") -> Signal:
    subject = subject or f"{entry.object_type}:{entry.object_id or entry.object_repr}"
    return Signal(event_type, state, subject, entry.object_repr, entry.message or entry.object_repr)


def _health(entry: AuditEntry) -> list[Signal]:
    state = {"health.down": PROBLEM, "health.up": CLEAR}[entry.action]
    return [_signal(entry, "real_server_down", state)]


def _quorum(entry: AuditEntry) -> list[Signal]:
    return [_signal(entry, "quorum_lost", PROBLEM if entry.action == "health.quorum_lost" else CLEAR)]


def _sync_state(entry: AuditEntry) -> list[Signal]:
    """A host's state changed (dispatch/actions/reports.py): offline, back, drifted, in sync again."""
    change = entry.changes.get("state") if isinstance(entry.changes, dict) else None
    if not isinstance(change, list) or len(change) != 2:
        return []
    was, now = change
    subject = f"clusters.host:{entry.object_id or entry.object_repr}"
    signals = []
    if now == "offline":
        signals.append(_signal(entry, "agent_offline", PROBLEM, subject))
    elif was == "offline":
        signals.append(_signal(entry, "agent_offline", CLEAR, subject))
    if now == "drifted" and was != "drifted":
        signals.append(_signal(entry, "host_drifted", PROBLEM, subject))
    elif now == "in_sync":
        # Whatever it was before (drifted, or offline after drifting): in sync ends an open drift.
        signals.append(_signal(entry, "host_drifted", CLEAR, subject))
    return signals


def _apply(entry: AuditEntry) -> list[Signal]:
    return [_signal(entry, "apply_partial", NOTICE)] if entry.result == "partial" else []


def _notice(event_type: str) -> Callable[[AuditEntry], list[Signal]]:
    return lambda entry: [_signal(entry, event_type, NOTICE)]


#: Audit action → what it means. Director failover and fail-back (issue 17) are the History entries that
#: dispatch/actions/ha.py writes when another director takes a VIP group.
ACTIONS: dict[str, Callable[[AuditEntry], list[Signal]]] = {
    "health.down": _health,
    "health.up": _health,
    "health.quorum_lost": _quorum,
    "health.quorum_regained": _quorum,
    "host.sync_state": _sync_state,
    "deployment.failed": _notice("apply_failed"),
    "cluster.apply": _apply,
    "host.enroll": _notice("enrollment_token_used"),
    "agent.report_rejected": _notice("key_problem"),
    "agent.command_refused": _notice("key_problem"),
    # A replayed (or stale: the agent's clock is off) signed report, refused by dispatch/actions/replay.py.
    "agent.report_refused": _notice("key_problem"),
    "ha.failover": _notice("director_failover"),
    "ha.failback": _notice("director_failover"),
}


def signals_of(entry: AuditEntry) -> list[Signal]:
    """What `entry` means for alerts (nothing, for most entries)."""
    read = ACTIONS.get(entry.action)
    return read(entry) if read is not None else []
