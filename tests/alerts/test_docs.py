"""docs/alerts.md shows real messages: each sample there is what the console renders for the same alert."""

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from alerts import messages
from alerts.models import Alert
from teams.models import Team

DOC = (Path(__file__).resolve().parents[2] / "docs" / "alerts.md").read_text()
AT = datetime(2026, 12, 6, 3, 15, 2, tzinfo=UTC)


def sample(pk: int, kind: str, state: str) -> Alert:
    """The doc's alert: three real servers of cluster web, down (or up again)."""
    text = "is down: TCP connect: Connection refused" if state == "down" else "is up: HTTP GET / on it: status 200"
    items = [
        {
            "subject": f"clusters.realserver:{40 + n}",
            "cluster_name": "web",
            "name": f"10.20.0.{11 + n}:80",
            "text": f"10.20.0.{11 + n}:80 of TCP 10.10.0.100:80 {text}",
            "at": AT.isoformat(),
            "clusters": [3],
            "entry": 9120 + n,
        }
        for n in range(3)
    ]
    alert = Alert(
        pk=pk,
        team=Team(pk=1, name="Web ops", slug="web-ops"),
        rule_name="on call",
        event_type="real_server_down",
        severity="warning",
        kind=kind,
        status="dispatched",
        items=items,
        cluster_ids=[3],
        opened_at=AT,
        send_after=AT,
    )
    alert.title = messages.title_of(alert)
    return alert


def json_block(body: dict, sent_at: str) -> str:
    return json.dumps({**body, "sent_at": sent_at}, indent=2, ensure_ascii=False)


@pytest.fixture(autouse=True)
def public_url(settings):
    settings.LVSWEB_PUBLIC_URL = "https://lvs.example.net"


def test_the_mail_samples_are_what_is_sent():
    message = messages.message_of(sample(57, "problem", "down"))
    assert "subject `[lvsweb] 3 real servers down (web)`" in DOC
    assert messages.text_of(message).rstrip("\n") in DOC
    assert messages.html_of(message).rstrip("\n") in DOC


def test_the_webhook_samples_are_what_is_sent():
    problem = messages.message_of(sample(57, "problem", "down"))
    assert json_block(messages.json_of(problem), "2026-12-06T03:15:32.118204+00:00") in DOC
    assert json.dumps(messages.slack_of(problem), indent=2, ensure_ascii=False) in DOC
    resolved = messages.message_of(sample(58, "resolved", "up"))
    assert json.dumps(messages.slack_of(resolved), indent=2, ensure_ascii=False) in DOC


def test_the_test_alert_sample_is_what_is_sent():
    alert = Alert(
        pk=59,
        team=Team(pk=1, name="Web ops", slug="web-ops"),
        rule_name="(test)",
        event_type="test",
        severity="info",
        kind="test",
        status="dispatched",
        opened_at=AT,
        send_after=AT,
        title="Test alert: this channel works",
    )
    assert json_block(messages.json_of(messages.message_of(alert)), "2026-12-06T03:20:11.504932+00:00") in DOC


def test_the_other_titles_and_lines_are_what_is_sent():
    def alert(event_type: str, kind: str, name: str, text: str, count: int = 1) -> messages.Message:
        item = {"subject": "clusters.host:1", "cluster_name": "web", "name": name, "text": text, "at": AT.isoformat()}
        return messages.message_of(
            Alert(
                pk=60,
                team=Team(pk=1, name="Web ops", slug="web-ops"),
                event_type=event_type,
                kind=kind,
                items=[item] * count,
                opened_at=AT,
                send_after=AT,
            )
        )

    offline = alert("agent_offline", "problem", "director", "No heartbeat since 03:14:40 UTC (3 missed).")
    assert f"`[lvsweb] {offline.title}` lists\n`{offline.lines[0]}`" in DOC
    back = alert("agent_offline", "resolved", "director", "Heartbeat again.")
    assert f"`[lvsweb] {back.title}`" in DOC
    refused = "Report claiming to come from “director” rejected: bad signature."
    keys = alert("key_problem", "notice", "director", refused, count=2)
    assert f"`[lvsweb] {keys.title}` listing\n`{keys.lines[0]}`" in DOC
