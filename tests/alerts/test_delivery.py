"""Delivery: signed webhooks to a real HTTP receiver, retries with back-off through the real control worker,
redirects refused, rate limits, the test alert, secrets stored encrypted, and a failing channel on the dashboard."""

import hashlib
import hmac
from datetime import timedelta

import pytest
from celery import current_app
from django.core.exceptions import ValidationError
from django.test import override_settings
from django.utils import timezone

from alerts import actions, delivery, grouping, secrets
from alerts.choices import DeliveryStatus
from alerts.models import Alert, Delivery
from alerts.webhooks import MAX_BODY_BYTES, SIGNATURE_HEADER
from tests.alerts.conftest import rule_for, wait_for, webhook_channel
from tests.alerts.test_grouping import close_windows, report, transition
from tests.factories import make_member, make_user
from tests.reports import sealed_report

pytestmark = pytest.mark.django_db(transaction=True)


def verify(secret: str, header: str, body: bytes) -> bool:
    """What a receiver does (docs/alerts.md): recompute the HMAC over `<t>.<body>` and compare."""
    fields = dict(part.split("=", 1) for part in header.split(","))
    expected = hmac.new(secret.encode(), fields["t"].encode() + b"." + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, fields["v1"])


def test_the_webhook_carries_the_alert_as_json_signed_with_the_channels_secret(lab, receiver, cursor):
    channel, secret = webhook_channel(lab.cluster.team, receiver.url)
    rule_for(lab.cluster.team, [channel])
    report(lab, [transition("10.20.0.11", "up", "down")])
    close_windows()

    [request] = receiver.received
    assert request.path == "/hooks/lvsweb"
    assert request.headers["Content-Type"] == "application/json"
    assert verify(secret, request.headers[SIGNATURE_HEADER], request.body)
    assert not verify(secrets.new_secret(), request.headers[SIGNATURE_HEADER], request.body)
    assert not verify(secret, request.headers[SIGNATURE_HEADER], request.body.replace(b"down", b"up!!"))
    body = request.json()
    assert body["title"] == "1 real server down (web)"
    assert body["severity"] == "warning" and body["team"] == lab.cluster.team.slug
    assert body["items"][0]["name"] == "10.20.0.11:80"
    assert body["items"][0]["text"].endswith("TCP connect: Connection refused")
    assert body["url"].endswith(f"/alerts/{body['alert']}/")


def test_the_slack_form_is_one_text_field(lab, receiver, cursor):
    channel, _secret = webhook_channel(lab.cluster.team, receiver.url, kind="slack")
    rule_for(lab.cluster.team, [channel])
    report(lab, [transition("10.20.0.11", "up", "down")])
    close_windows()
    body = receiver.received[0].json()
    assert set(body) == {"text", "username"}
    assert body["text"].startswith(":red_circle: *1 real server down (web)* — <http")
    assert "• 10.20.0.11:80" in body["text"]


def test_a_receiver_failing_three_times_gets_the_alert_once_after_retries(lab, receiver, cursor, alert_worker):
    receiver.statuses = [500, 500, 500]
    channel, _secret = webhook_channel(lab.cluster.team, receiver.url)
    rule_for(lab.cluster.team, [channel])
    # Through the broker, as the director's agent sends it: the control worker handles it; the beat's scan and
    # the delivery task run on the same worker.
    payload = {
        "kind": "health",
        "host": "director",
        "results": [],
        "transitions": [transition("10.20.0.11", "up", "down")],
    }
    current_app.send_task(
        "lvsweb.control.report", args=[sealed_report(payload, lab.keys["director"], "director")], queue="control"
    )

    sent = wait_for(
        lambda: Delivery.objects.filter(status=DeliveryStatus.SENT).first(), timeout=90, what="the delivery"
    )
    assert len(receiver.received) == 4, alert_worker.log()
    bodies = [request.json() for request in receiver.received]
    assert all(body.pop("sent_at") for body in bodies)
    assert all(body == bodies[0] for body in bodies)  # the same alert each time
    assert sent.attempts == 4
    assert [line["outcome"] for line in sent.log] == ["retrying", "retrying", "retrying", "sent"]
    assert "HTTP 500" in sent.log[0]["detail"]
    channel.refresh_from_db()
    assert channel.failing_since is None and channel.last_error == ""


def test_a_redirect_is_a_failure_and_is_not_followed(lab, receiver, cursor, settings):
    settings.ALERTS_MAX_ATTEMPTS = 1
    receiver.statuses = [302]
    channel, _secret = webhook_channel(lab.cluster.team, receiver.url)
    rule_for(lab.cluster.team, [channel])
    report(lab, [transition("10.20.0.11", "up", "down")])
    close_windows()
    failed = Delivery.objects.get()
    assert failed.status == DeliveryStatus.FAILED
    assert "HTTP 302 redirect to http://192.0.2.1/elsewhere: webhooks are not redirected" in failed.last_error
    assert len(receiver.received) == 1
    channel.refresh_from_db()
    assert channel.failing_since is not None and "redirect" in channel.last_error


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("ftp://hooks.example.net/x", "Only http:// and https:// URLs"),
        ("file:///etc/passwd", "Only http:// and https:// URLs"),
        ("http:///nohost", "names no host"),
        ("https://hooks.example.net:99999/", "port"),
        ("https://hooks.example.net/" + "x" * 2000, "longer than 2000"),
    ],
)
def test_only_http_urls_are_webhooks(db, url, problem):
    from tests.factories import default_team

    with pytest.raises(ValidationError) as refused:
        webhook_channel(default_team(), url)
    assert any(problem in message for message in refused.value.message_dict["url"])


def test_a_channel_that_keeps_failing_gives_up_and_shows_on_the_dashboard_after_an_hour(
    lab, receiver, cursor, settings, client
):
    settings.ALERTS_MAX_ATTEMPTS = 2
    receiver.statuses = [503, 503]
    channel, _secret = webhook_channel(lab.cluster.team, receiver.url)
    rule_for(lab.cluster.team, [channel])
    report(lab, [transition("10.20.0.11", "up", "down")])
    [queued] = close_windows()
    assert delivery.attempt(queued.pk).status == DeliveryStatus.FAILED
    queued.refresh_from_db()
    assert [line["outcome"] for line in queued.log] == ["retrying", "failed"]
    assert delivery.attempt(queued.pk).status == DeliveryStatus.FAILED  # given up: not sent again
    assert len(receiver.received) == 2

    owner = make_user(staff=False)
    make_member(owner, team=lab.cluster.team, role="viewer")
    client.force_login(owner)
    assert "Alert channel failing" not in client.get("/").content.decode()
    channel.refresh_from_db()
    channel.failing_since = timezone.now() - timedelta(minutes=61)
    channel.save()
    page = client.get("/").content.decode()
    assert "Alert channel failing" in page and "pager" in page and "HTTP 503" in page


def test_the_rate_limit_logs_what_it_did_not_send(lab, receiver, cursor):
    channel, _secret = webhook_channel(lab.cluster.team, receiver.url)
    actions.update_channel(acting_user=None, channel=channel, fields={"rate_limit_per_hour": 1})
    rule_for(lab.cluster.team, [channel])
    report(lab, [transition("10.20.0.11", "up", "down")])
    close_windows()
    report(lab, [transition("10.20.0.12", "up", "down")])
    close_windows()
    assert len(receiver.received) == 1
    limited = Delivery.objects.get(status=DeliveryStatus.RATE_LIMITED)
    assert limited.log[0]["detail"] == "1 messages in the last hour: not sent."


def test_a_test_alert_goes_through_the_worker(lab, receiver, alert_worker):
    channel, secret = webhook_channel(lab.cluster.team, receiver.url)
    actions.send_test_alert(acting_user=None, channel=channel)
    wait_for(lambda: receiver.received, timeout=60, what="the test alert")
    request = receiver.received[0]
    assert verify(secret, request.headers[SIGNATURE_HEADER], request.body)
    assert request.json()["kind"] == "test" and request.json()["title"] == "Test alert: this channel works"
    # The receiver answers before the worker commits what it said: wait for the log, not the request.
    wait_for(lambda: Alert.objects.get().deliveries.get().status == DeliveryStatus.SENT, timeout=30, what="the log")


def test_the_secret_is_stored_encrypted_under_a_key_derived_from_secret_key(db, settings):
    from tests.factories import default_team

    channel, secret = webhook_channel(default_team(), "https://hooks.example.net/lvsweb")
    assert secret.startswith("lvwh_") and secret not in channel.secret_encrypted
    assert secrets.decrypt(channel.secret_encrypted) == secret
    old_key = settings.SECRET_KEY
    with override_settings(SECRET_KEY="another key entirely, rotated", SECRET_KEY_FALLBACKS=[old_key]):
        assert secrets.decrypt(channel.secret_encrypted) == secret
    with (
        override_settings(SECRET_KEY="another key entirely, rotated", SECRET_KEY_FALLBACKS=[]),
        pytest.raises(secrets.SecretUnreadable, match="rotate the secret"),
    ):
        secrets.decrypt(channel.secret_encrypted)


def test_a_long_alert_is_cut_to_fit_the_body_limit(lab, receiver, cursor):
    from alerts import messages

    channel, _secret = webhook_channel(lab.cluster.team, receiver.url)
    rule_for(lab.cluster.team, [channel])
    report(lab, [transition("10.20.0.11", "up", "down")])
    grouping.ingest()
    alert = Alert.objects.get()
    alert.items = alert.items * 2000
    body = messages.body_of(alert, messages.json_of)
    assert len(body) <= MAX_BODY_BYTES
    assert b'"more": ' in body
