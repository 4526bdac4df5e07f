"""What an alert says: its title, the lines of its items, and its four forms (text, HTML, JSON, Slack).

Every form is built from the same `Message`, so a mail, a webhook and the console say the same words.
"""

import json
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.template.loader import render_to_string
from django.utils import timezone

from alerts.choices import AlertKind
from alerts.events import EVENT_TYPES
from alerts.models import Alert
from alerts.webhooks import MAX_BODY_BYTES

#: The most items a message lists; the rest are counted ("and 12 more").
MAX_ITEMS = 100

#: (one, many) nouns of each event type's items, for titles.
NOUNS = {
    "real_server_down": ("real server", "real servers"),
    "quorum_lost": ("virtual service", "virtual services"),
    "host_drifted": ("host", "hosts"),
    "agent_offline": ("agent", "agents"),
    "apply_failed": ("deployment", "deployments"),
    "apply_partial": ("apply", "applies"),
    "director_failover": ("failover", "failovers"),
    "enrollment_token_used": ("host", "hosts"),
    "key_problem": ("signed message", "signed messages"),
}
#: What a problem and its clearing say of the items.
STATES = {
    "real_server_down": ("down", "up again"),
    "quorum_lost": ("below quorum: sorry server in use", "back to quorum"),
    "host_drifted": ("drifted from what was applied", "in sync again"),
    "agent_offline": ("offline", "back online"),
    "apply_failed": ("failed", ""),
    "apply_partial": ("partly failed", ""),
    "director_failover": ("", ""),
    "enrollment_token_used": ("enrolled with a one-time token", ""),
    "key_problem": ("refused", ""),
}


def title_of(alert: Alert) -> str:
    """The alert's one-line summary: "3 real servers down (web)", "Resolved: 3 real servers up again (web)"."""
    if alert.kind == AlertKind.TEST:
        return "Test alert: this channel works"
    count = len(alert.items)
    one, many = NOUNS.get(alert.event_type, ("event", "events"))
    problem, cleared = STATES.get(alert.event_type, ("", ""))
    state = cleared if alert.kind == AlertKind.RESOLVED else problem
    noun = one if count == 1 else many
    label = EVENT_TYPES[alert.event_type].label if alert.event_type in EVENT_TYPES else alert.event_type
    body = f"{count} {noun} {state}".strip() if state else f"{label}: {count} {noun}"
    names = sorted({item.get("cluster_name", "") for item in alert.items} - {""})
    where = f" ({', '.join(names)})" if names else ""
    prefix = "Resolved: " if alert.kind == AlertKind.RESOLVED else ""
    return f"{prefix}{body}{where}"


@dataclass
class Message:
    """The words of one alert, shared by every form."""

    alert: Alert
    title: str
    lines: list[str]
    more: int
    link: str

    def context(self) -> dict[str, Any]:
        return {
            "alert": self.alert,
            "title": self.title,
            "lines": self.lines,
            "more": self.more,
            "link": self.link,
            "team": self.alert.team.name,
        }


def _line(item: dict) -> str:
    """One item in words: its message, led by what it is about unless the message already says so."""
    name, text = item["name"], item["text"]
    return text if text.startswith(name) else f"{name}: {text}"


def message_of(alert: Alert, items: int = MAX_ITEMS) -> Message:
    """The message of `alert`, listing at most `items` of its items."""
    lines = [_line(item) for item in alert.items]
    if alert.kind == AlertKind.TEST:
        lines = ["A test of this channel, sent from the console. Nothing is wrong."]
    link = settings.LVSWEB_PUBLIC_URL.rstrip("/") + alert.get_absolute_url()
    return Message(alert, alert.title or title_of(alert), lines[:items], max(len(lines) - items, 0), link)


def text_of(message: Message) -> str:
    """The plain-text mail."""
    return render_to_string("alerts/email.txt", message.context())


def html_of(message: Message) -> str:
    """The HTML mail."""
    return render_to_string("alerts/email.html", message.context())


def json_of(message: Message) -> dict[str, Any]:
    """The generic webhook's body."""
    alert = message.alert
    return {
        "version": 1,
        "alert": alert.pk,
        "kind": alert.kind,
        "event_type": alert.event_type,
        "severity": alert.severity,
        "team": alert.team.slug,
        "rule": alert.rule_name,
        "title": message.title,
        "items": [
            {"subject": item["subject"], "name": item["name"], "text": item["text"], "at": item["at"]}
            for item in alert.items[: len(message.lines)]
        ]
        if alert.kind != AlertKind.TEST
        else [],
        "more": message.more,
        "clusters": alert.cluster_ids,
        "opened_at": alert.opened_at.isoformat(),
        "acknowledged_by": alert.acknowledged_by or None,
        "url": message.link,
        "sent_at": timezone.now().isoformat(),
    }


def slack_of(message: Message) -> dict[str, Any]:
    """The Slack / Mattermost incoming-webhook body: `text` in their markdown."""
    icon = {"problem": ":red_circle:", "resolved": ":large_green_circle:"}.get(
        message.alert.kind, ":information_source:"
    )
    lines = [f"{icon} *{message.title}* — <{message.link}|details>"]
    lines += [f"• {line}" for line in message.lines]
    if message.more:
        lines.append(f"… and {message.more} more")
    return {"text": "\n".join(lines), "username": "lvsweb"}


def body_of(alert: Alert, form) -> bytes:
    """The webhook body in `form` (json_of or slack_of), with fewer items until it fits MAX_BODY_BYTES."""
    items = MAX_ITEMS
    while True:
        body = json.dumps(form(message_of(alert, items)), ensure_ascii=False).encode()
        if len(body) <= MAX_BODY_BYTES or items == 0:
            return body
        items //= 2
