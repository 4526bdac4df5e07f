"""Changes to alert channels, rules, silences and alerts: each one transaction, asking the policy, audited.

Who may do what (teams/policy.py's roles): owners manage channels and rules (they decide where a team's
alerts go, and see the delivery log); operators — the people on call — silence and acknowledge; viewers
read alerts, channels (never a secret) and rules.
"""

from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from alerts import delivery, secrets
from alerts.choices import AlertKind, AlertStatus, ChannelKind, Severity
from alerts.events import EVENT_TYPES
from alerts.models import Alert, Channel, Delivery, Rule, Silence
from audit.recording import diff, record, snapshot
from clusters.models import Cluster
from teams import policy
from teams.models import Team

CHANNEL_FIELDS = ["name", "kind", "addresses", "url", "rate_limit_per_hour", "enabled"]
RULE_FIELDS = ["name", "event_types", "min_severity", "group_seconds", "enabled"]
#: The longest silence (a longer one is a rule to disable).
MAX_SILENCE = timedelta(days=30)


def _name(user: AbstractBaseUser | None) -> str:
    return user.get_username() if user is not None else "system"


def _audit(action: str, user, obj, before: dict | None, after: dict | None, message: str = "") -> None:
    record(action=action, acting_user=user, obj=obj, changes=diff(before, after), team_id=obj.team_id, message=message)


def _save(obj, fields: dict[str, Any], allowed: list[str]) -> None:
    unknown = set(fields) - set(allowed)
    if unknown:
        raise ValidationError({sorted(unknown)[0]: "This field cannot be set here."})
    for name, value in fields.items():
        setattr(obj, name, value)
    obj.full_clean()
    obj.save()


@transaction.atomic
def create_channel(*, acting_user: AbstractBaseUser | None, team: Team, fields: dict[str, Any]) -> tuple[Channel, str]:
    """A new channel of `team`; returns it and, for webhooks, its signing secret — shown this once."""
    policy.require(acting_user, policy.MANAGE, team)
    channel = Channel(team=team)
    secret = ""
    if fields.get("kind") in (ChannelKind.WEBHOOK, ChannelKind.SLACK):
        secret = secrets.new_secret()
        channel.secret_encrypted = secrets.encrypt(secret)
    _save(channel, fields, CHANNEL_FIELDS)
    _audit("alert_channel.create", acting_user, channel, None, snapshot(channel, CHANNEL_FIELDS))
    return channel, secret


@transaction.atomic
def update_channel(*, acting_user: AbstractBaseUser | None, channel: Channel, fields: dict[str, Any]) -> Channel:
    """Change a channel's name, addresses, URL, rate limit or whether it is enabled (not its kind)."""
    policy.require(acting_user, policy.MANAGE, channel)
    if "kind" in fields and fields["kind"] != channel.kind:
        raise ValidationError({"kind": "A channel keeps its kind: make a new channel instead."})
    before = snapshot(channel, CHANNEL_FIELDS)
    _save(channel, fields, CHANNEL_FIELDS)
    after = snapshot(channel, CHANNEL_FIELDS)
    if before != after:
        _audit("alert_channel.update", acting_user, channel, before, after)
    return channel


@transaction.atomic
def rotate_secret(*, acting_user: AbstractBaseUser | None, channel: Channel) -> str:
    """A new signing secret for a webhook channel (the old one stops signing at once); returned this once."""
    policy.require(acting_user, policy.MANAGE, channel)
    if channel.kind == ChannelKind.EMAIL:
        raise ValidationError({"kind": "E-mail channels have no signing secret."})
    secret = secrets.new_secret()
    channel.secret_encrypted = secrets.encrypt(secret)
    channel.save(update_fields=["secret_encrypted", "updated_at"])
    _audit("alert_channel.rotate_secret", acting_user, channel, None, None, "Signing secret replaced.")
    return secret


@transaction.atomic
def delete_channel(*, acting_user: AbstractBaseUser | None, channel: Channel) -> None:
    """Delete a channel (its deliveries go with it; its alerts stay)."""
    policy.require(acting_user, policy.MANAGE, channel)
    _audit("alert_channel.delete", acting_user, channel, snapshot(channel, CHANNEL_FIELDS), None)
    channel.delete()


@transaction.atomic
def send_test_alert(*, acting_user: AbstractBaseUser | None, channel: Channel) -> Delivery:
    """Send a test message to `channel` now (no grouping, no rate limit), logged like any delivery."""
    policy.require(acting_user, policy.MANAGE, channel)
    now = timezone.now()
    alert = Alert.objects.create(
        team_id=channel.team_id,
        rule_name="(test)",
        event_type="test",
        severity=Severity.INFO,
        kind=AlertKind.TEST,
        status=AlertStatus.DISPATCHED,
        title="Test alert: this channel works",
        opened_at=now,
        send_after=now,
        dispatched_at=now,
    )
    _audit("alert_channel.test", acting_user, channel, None, None, "Test alert sent.")
    return delivery.queue(Delivery(alert=alert, channel=channel), now=now, rate_limited=False)


def _rule_relations(rule: Rule, clusters: list[Cluster] | None, channels: list[Channel] | None) -> None:
    if clusters is not None:
        if any(cluster.team_id != rule.team_id for cluster in clusters):
            raise ValidationError({"clusters": "A rule names only clusters of its own team."})
        rule.clusters.set(clusters)
        rule.all_clusters = not clusters
        rule.save(update_fields=["all_clusters"])
    if channels is not None:
        if any(channel.team_id != rule.team_id for channel in channels):
            raise ValidationError({"channels": "A rule sends only to channels of its own team."})
        rule.channels.set(channels)


def _rule_snapshot(rule: Rule) -> dict:
    values = snapshot(rule, RULE_FIELDS)
    values["clusters"] = sorted(rule.clusters.values_list("slug", flat=True))
    values["channels"] = sorted(rule.channels.values_list("name", flat=True))
    return values


@transaction.atomic
def create_rule(
    *,
    acting_user: AbstractBaseUser | None,
    team: Team,
    fields: dict[str, Any],
    clusters: list[Cluster] | None = None,
    channels: list[Channel] | None = None,
) -> Rule:
    """A new rule of `team`: which events, where, how severe, to which channels."""
    policy.require(acting_user, policy.MANAGE, team)
    if not channels:
        raise ValidationError({"channels": "Choose at least one channel."})
    rule = Rule(team=team)
    _save(rule, fields, RULE_FIELDS)
    _rule_relations(rule, clusters or [], channels)
    _audit("alert_rule.create", acting_user, rule, None, _rule_snapshot(rule))
    return rule


@transaction.atomic
def update_rule(
    *,
    acting_user: AbstractBaseUser | None,
    rule: Rule,
    fields: dict[str, Any],
    clusters: list[Cluster] | None = None,
    channels: list[Channel] | None = None,
) -> Rule:
    """Change a rule."""
    policy.require(acting_user, policy.MANAGE, rule)
    before = _rule_snapshot(rule)
    _save(rule, fields, RULE_FIELDS)
    if channels is not None and not channels:
        raise ValidationError({"channels": "Choose at least one channel."})
    _rule_relations(rule, clusters, channels)
    after = _rule_snapshot(rule)
    if before != after:
        _audit("alert_rule.update", acting_user, rule, before, after)
    return rule


@transaction.atomic
def delete_rule(*, acting_user: AbstractBaseUser | None, rule: Rule) -> None:
    """Delete a rule (its alerts stay, naming it)."""
    policy.require(acting_user, policy.MANAGE, rule)
    _audit("alert_rule.delete", acting_user, rule, _rule_snapshot(rule), None)
    rule.delete()


@transaction.atomic
def create_silence(
    *,
    acting_user: AbstractBaseUser | None,
    team: Team,
    ends_at: datetime,
    cluster: Cluster | None = None,
    event_type: str = "",
    reason: str = "",
) -> Silence:
    """Silence the team's alerts (of one cluster, of one type, when named) until `ends_at`."""
    policy.require(acting_user, policy.CHANGE, team)
    now = timezone.now()
    if ends_at <= now:
        raise ValidationError({"ends_at": "A silence ends in the future."})
    if ends_at > now + MAX_SILENCE:
        raise ValidationError({"ends_at": "A silence lasts at most 30 days; disable the rule instead."})
    if cluster is not None and cluster.team_id != team.pk:
        raise ValidationError({"cluster": "Silence only clusters of this team."})
    if event_type and event_type not in EVENT_TYPES:
        raise ValidationError({"event_type": f"Unknown event type “{event_type}”."})
    silence = Silence.objects.create(
        team=team,
        cluster=cluster,
        event_type=event_type,
        starts_at=now,
        ends_at=ends_at,
        reason=reason[:300],
        created_by_name=_name(acting_user),
    )
    _audit("alert_silence.create", acting_user, silence, None, None, f"{silence.get_summary()}. {reason}".strip())
    return silence


@transaction.atomic
def end_silence(*, acting_user: AbstractBaseUser | None, silence: Silence) -> Silence:
    """End a silence now."""
    policy.require(acting_user, policy.CHANGE, silence)
    now = timezone.now()
    if silence.ends_at > now:
        before = silence.ends_at
        silence.ends_at = max(now, silence.starts_at)
        silence.save(update_fields=["ends_at"])
        _audit("alert_silence.end", acting_user, silence, {"ends_at": before}, {"ends_at": silence.ends_at})
    return silence


@transaction.atomic
def acknowledge_alert(*, acting_user: AbstractBaseUser | None, alert: Alert) -> Alert:
    """Say that someone is on it: shown on the alert and in its resolved message."""
    policy.require(acting_user, policy.CHANGE, alert)
    if alert.acknowledged_at is None:
        alert.acknowledged_at, alert.acknowledged_by = timezone.now(), _name(acting_user)
        alert.save(update_fields=["acknowledged_at", "acknowledged_by"])
        record(
            action="alert.acknowledge",
            acting_user=acting_user,
            obj=alert,
            team_id=alert.team_id,
            cluster_id=alert.cluster_ids[0] if len(alert.cluster_ids) == 1 else None,
            message=f"Acknowledged: {alert}.",
        )
    return alert
