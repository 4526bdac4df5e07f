"""From audit entries to alerts: read what happened, group it per rule, and send it when the window closes.

**Where events come from.** Every event alerts care about is already written, in the transaction of the
change itself, as an audit entry by the layers below (health transitions, host state, failed deployments,
enrollments, refused signatures). Alerts read them from above — a beat task every
`LVSWEB_ALERTS_SCAN_INTERVAL` seconds (default 2) reads the entries after a cursor, by id — instead of the
lower layers calling into alerts, which they must not import (.importlinter), or writing a second record of
their own (an "outbox") next to the audit entry they already write. This costs nothing in the lower layers,
cannot miss an event that was recorded (the entry commits with the change; a rollback removes both), and
survives a worker that was down: the cursor picks up where it stopped. Reading by id is safe because
entries get their ids when they join the chain, under the chain's lock, just before their commit
(audit/chain.py): an entry with a lower id is never committed after one with a higher id. The cost is the
scan interval's delay, small against the grouping window.

**Grouping.** An event that matches a rule joins the rule's collecting alert of the same type and kind
(problem, resolved, notice), or opens one whose window ends `rule.group_seconds` later; when the window
closes the alert is sent once to each of the rule's channels. So 40 real servers going down within the
window are one message, and their recovery — each clear finds its open problem (`Condition`) — one
resolved message. A problem that clears while its alert is still collecting is taken out of it (a flap says
nothing); a problem that was silenced, and so never announced, is not announced as resolved either.

On its first run the cursor starts at the newest entry: alerts are about what happens from now on, not the
history before alerts were set up.
"""

from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Max, Q
from django.utils import timezone

from alerts import delivery, messages
from alerts.choices import AlertKind, AlertStatus, Severity
from alerts.events import ACTIONS, CLEAR, NOTICE, PROBLEM, Signal, signals_of
from alerts.models import Alert, Condition, Cursor, Delivery, Rule, Silence
from audit.models import AuditEntry
from clusters.models import Cluster, Host

BATCH = 500
KIND_OF_STATE = {PROBLEM: AlertKind.PROBLEM, CLEAR: AlertKind.RESOLVED, NOTICE: AlertKind.NOTICE}


class Scope:
    """Which teams and clusters an entry concerns (hosts: their team and the clusters they play a role in)."""

    def __init__(self) -> None:
        self._clusters: dict[int, tuple[int, str]] = {}

    def of(self, entry: AuditEntry) -> tuple[set[int], list[int]]:
        if entry.cluster_id:
            return {self._team_of(entry.cluster_id)} - {0}, [entry.cluster_id]
        if entry.object_type == "clusters.host":
            host = (
                Host.objects.filter(pk=entry.object_id).first()
                if entry.object_id.isdigit()
                else Host.objects.filter(hostname=entry.object_repr).first()
            )
            if host is None:
                return set(), []
            clusters = sorted(host.cluster_roles.values_list("cluster_id", flat=True).distinct())
            return {host.team_id} | {self._team_of(pk) for pk in clusters} - {0}, clusters
        return ({entry.team_id} if entry.team_id else set()), []

    def _team_of(self, cluster_id: int) -> int:
        return self._cluster(cluster_id)[0]

    def names(self, clusters: list[int]) -> str:
        """The clusters' names, for messages."""
        return ", ".join(self._cluster(pk)[1] for pk in clusters)

    def _cluster(self, cluster_id: int) -> tuple[int, str]:
        if cluster_id not in self._clusters:
            row = Cluster.objects.filter(pk=cluster_id).values_list("team_id", "name").first()
            self._clusters[cluster_id] = row or (0, "")
        return self._clusters[cluster_id]


def _matches(rule: Rule, signal: Signal, clusters: list[int]) -> bool:
    if rule.event_types and signal.event_type not in rule.event_types:
        return False
    if signal.severity.rank < Severity(rule.min_severity).rank:
        return False
    if rule.all_clusters:
        return True
    return bool({cluster.pk for cluster in rule.clusters.all()} & set(clusters))


def _collecting(rule: Rule, signal: Signal, kind: AlertKind, now: datetime) -> Alert:
    alert = (
        Alert.objects.select_for_update()
        .filter(rule=rule, event_type=signal.event_type, kind=kind, status=AlertStatus.COLLECTING, send_after__gt=now)
        .order_by("-id")
        .first()
    )
    if alert is None:
        alert = Alert.objects.create(
            team_id=rule.team_id,
            rule=rule,
            rule_name=rule.name,
            event_type=signal.event_type,
            severity=signal.severity,
            kind=kind,
            opened_at=now,
            send_after=now + timedelta(seconds=rule.group_seconds),
        )
    return alert


def _add(alert: Alert, signal: Signal, entry: AuditEntry, clusters: list[int], names: str) -> None:
    alert.items.append(
        {
            "subject": signal.subject,
            "cluster_name": names,
            "name": signal.name,
            "text": signal.text,
            "at": entry.occurred_at.isoformat(),
            "clusters": clusters,
            "entry": entry.pk,
        }
    )
    alert.cluster_ids = sorted(set(alert.cluster_ids) | set(clusters))
    alert.save(update_fields=["items", "cluster_ids"])


def apply_signal(rule: Rule, signal: Signal, entry: AuditEntry, clusters: list[int], names: str, now: datetime) -> None:
    """Let one event join the rule's alerts (see the module's docstring)."""
    if signal.state == NOTICE:
        _add(_collecting(rule, signal, AlertKind.NOTICE, now), signal, entry, clusters, names)
        return
    condition = (
        Condition.objects.select_for_update()
        .filter(rule=rule, event_type=signal.event_type, subject=signal.subject)
        .first()
    )
    if signal.state == PROBLEM:
        if condition is not None:
            return  # already open: said once
        alert = _collecting(rule, signal, AlertKind.PROBLEM, now)
        _add(alert, signal, entry, clusters, names)
        Condition.objects.create(
            rule=rule, event_type=signal.event_type, subject=signal.subject, alert=alert, opened_at=now
        )
        return
    if condition is None:
        return  # nothing open: nothing to resolve
    # Locked: a concurrent dispatch_due (skip_locked) leaves it alone, and its status read here is the real one.
    problem = Alert.objects.select_for_update().get(pk=condition.alert_id)
    condition.delete()
    if problem.status == AlertStatus.COLLECTING:
        problem.items = [item for item in problem.items if item["subject"] != signal.subject]
        problem.status = AlertStatus.COLLECTING if problem.items else AlertStatus.CANCELLED
        problem.save(update_fields=["items", "status"])
    elif problem.status == AlertStatus.DISPATCHED:
        _add(_collecting(rule, signal, AlertKind.RESOLVED, now), signal, entry, clusters, names)


def ingest(now: datetime | None = None) -> int:
    """Read the audit entries after the cursor into alerts; returns how many entries were read."""
    now = now or timezone.now()
    with transaction.atomic():
        cursor = Cursor.objects.select_for_update(skip_locked=True).filter(name="audit").first()
        if cursor is None:
            if Cursor.objects.filter(name="audit").exists():
                return 0  # another scan holds it
            newest = AuditEntry.objects.aggregate(newest=Max("id"))["newest"] or 0
            Cursor.objects.get_or_create(name="audit", defaults={"last_entry_id": newest})
            return 0
        newest = AuditEntry.objects.aggregate(newest=Max("id"))["newest"] or 0
        entries = list(
            AuditEntry.objects.filter(id__gt=cursor.last_entry_id, id__lte=newest, action__in=list(ACTIONS)).order_by(
                "id"
            )[:BATCH]
        )
        scope = Scope()
        rules_of: dict[int, list[Rule]] = {}
        for entry in entries:
            signals = signals_of(entry)
            if not signals:
                continue
            teams, clusters = scope.of(entry)
            for team_id in sorted(teams):
                if team_id not in rules_of:
                    rules_of[team_id] = list(
                        Rule.objects.filter(team_id=team_id, enabled=True).prefetch_related("clusters")
                    )
                for rule in rules_of[team_id]:
                    for signal in signals:
                        if _matches(rule, signal, clusters):
                            apply_signal(rule, signal, entry, clusters, scope.names(clusters), now)
        cursor.last_entry_id = entries[-1].pk if len(entries) == BATCH else newest
        cursor.save(update_fields=["last_entry_id"])
        return len(entries)


def active_silence(alert: Alert, now: datetime) -> Silence | None:
    """A silence of the alert's team that covers it now (its cluster or every cluster; its type or every type)."""
    silences = Silence.objects.filter(team_id=alert.team_id, starts_at__lte=now, ends_at__gt=now).filter(
        Q(event_type="") | Q(event_type=alert.event_type)
    )
    for silence in silences.order_by("-ends_at"):
        if silence.cluster_id is None or silence.cluster_id in alert.cluster_ids:
            return silence
    return None


def dispatch_due(now: datetime | None = None) -> int:
    """Send the alerts whose grouping window has closed (or mark them silenced); returns how many."""
    now = now or timezone.now()
    with transaction.atomic():
        due = list(
            Alert.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("rule")
            .filter(status=AlertStatus.COLLECTING, send_after__lte=now)
            .order_by("id")
        )
        for alert in due:
            silence = active_silence(alert, now)
            if silence is not None:
                alert.status, alert.silence = AlertStatus.SILENCED, silence
                alert.save(update_fields=["status", "silence"])
                continue
            alert.status, alert.dispatched_at = AlertStatus.DISPATCHED, now
            alert.title = messages.title_of(alert)[:300]
            alert.save(update_fields=["status", "dispatched_at", "title"])
            channels = alert.rule.channels.filter(enabled=True) if alert.rule else []
            for channel in channels:
                delivery.queue(Delivery(alert=alert, channel=channel), now=now)
        return len(due)


def scan() -> tuple[int, int]:
    """One beat: read new entries, then send what is due."""
    return ingest(), dispatch_due()


__all__ = ["active_silence", "dispatch_due", "ingest", "scan"]
