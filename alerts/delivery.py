"""Delivering one alert to one channel: rate limit, send, log each attempt, retry with back-off.

`queue` makes the Delivery row and sends the Celery task after the commit; `attempt` is the task's body: it
locks the row, sends once, and writes the outcome to the delivery's log and the channel's state. The task
(alerts/tasks.py) retries with exponential back-off — `LVSWEB_ALERTS_RETRY_SECONDS` × 2ⁿ, at most
`LVSWEB_ALERTS_MAX_ATTEMPTS` attempts — and a delivery already sent is never sent again, whoever asks (a task
message put on the broker twice, by Celery's redelivery or by anyone who can write to the control queue).
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from celery import current_app
from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.utils import timezone

from alerts import messages, secrets, webhooks
from alerts.choices import ChannelKind, DeliveryStatus
from alerts.models import Channel, Delivery

#: How long a channel may keep failing before the dashboard shows it.
FAILING_SHOWN_AFTER = timedelta(hours=1)
OPEN = (DeliveryStatus.PENDING, DeliveryStatus.RETRYING)
DELIVER_TASK = "lvsweb.alerts.deliver"


class DeliveryError(Exception):
    """The channel did not take the message; the text is the reason, for the log."""


def _log(delivery: Delivery, outcome: str, detail: str, now: datetime) -> None:
    delivery.log.append({"at": now.isoformat(), "outcome": outcome, "detail": detail[:500]})


def sent_last_hour(channel: Channel, now: datetime) -> int:
    """Messages sent (or on their way) to `channel` in the hour before `now`: what its rate limit counts."""
    return channel.deliveries.filter(
        created_at__gt=now - timedelta(hours=1), status__in=[*OPEN, DeliveryStatus.SENT]
    ).count()


def queue(delivery: Delivery, *, now: datetime, rate_limited: bool = True) -> Delivery:
    """Save `delivery` and send its task after the commit — unless the channel's rate limit is reached."""
    channel = delivery.channel
    if rate_limited and sent_last_hour(channel, now) >= channel.rate_limit_per_hour:
        delivery.status = DeliveryStatus.RATE_LIMITED
        _log(delivery, "rate_limited", f"{channel.rate_limit_per_hour} messages in the last hour: not sent.", now)
        delivery.save()
        return delivery
    delivery.save()
    # By name (alerts/tasks.py wraps this module); no publish retries: a broker that is down must not hold up the
    # scan, and the delivery stays pending in the log, where it shows.
    transaction.on_commit(lambda: current_app.send_task(DELIVER_TASK, args=[delivery.pk], retry=False))
    return delivery


def _send(delivery: Delivery) -> str:
    """Send the alert to the channel once; returns what the other side said. Raises DeliveryError."""
    channel, alert = delivery.channel, delivery.alert
    if channel.kind == ChannelKind.EMAIL:
        message = messages.message_of(alert)
        mail = EmailMultiAlternatives(
            subject=f"[lvsweb] {message.title}",
            body=messages.text_of(message),
            from_email=settings.DEFAULT_FROM_EMAIL,
            to=channel.address_list,
            headers={"X-Lvsweb-Alert": str(alert.pk)},
        )
        mail.attach_alternative(messages.html_of(message), "text/html")
        try:
            mail.send()
        except Exception as exc:  # smtplib, sockets, the backend's own errors: all are a failed delivery
            raise DeliveryError(f"mail not sent: {exc or type(exc).__name__}") from None
        return f"mail to {len(channel.address_list)} address(es)"
    form = messages.slack_of if channel.kind == ChannelKind.SLACK else messages.json_of
    try:
        secret = secrets.decrypt(channel.secret_encrypted)
        return webhooks.post(
            channel.url,
            messages.body_of(alert, form),
            secret=secret,
            headers={"X-Lvsweb-Delivery": str(delivery.pk), "X-Lvsweb-Event": alert.kind},
        )
    except (webhooks.WebhookError, secrets.SecretUnreadable) as exc:
        raise DeliveryError(str(exc)) from None


@dataclass
class Outcome:
    """What one attempt came to: the status, and the seconds until the next try when there is one."""

    status: str
    retry_in: float | None = None


def backoff(attempts: int) -> float:
    """Seconds before the next try after `attempts` failed ones."""
    return min(settings.ALERTS_RETRY_SECONDS * 2 ** (attempts - 1), 3600.0)


@transaction.atomic
def attempt(delivery_id: int) -> Outcome:
    """Try to send one delivery (the Celery task's body)."""
    delivery = (
        Delivery.objects.select_for_update(of=("self",))
        .select_related("channel", "alert__team")
        .filter(pk=delivery_id)
        .first()
    )
    if delivery is None or delivery.status not in OPEN:
        return Outcome(delivery.status if delivery else "gone")
    channel = Channel.objects.select_for_update().get(pk=delivery.channel_id)
    delivery.channel = channel
    now = timezone.now()
    delivery.attempts += 1
    try:
        answer = _send(delivery)
    except DeliveryError as exc:
        delivery.last_error = str(exc)[:2000]
        channel.last_error = delivery.last_error
        channel.failing_since = channel.failing_since or now
        channel.save(update_fields=["last_error", "failing_since", "updated_at"])
        if delivery.attempts >= settings.ALERTS_MAX_ATTEMPTS:
            delivery.status = DeliveryStatus.FAILED
            _log(delivery, "failed", f"attempt {delivery.attempts}, giving up: {exc}", now)
            delivery.save()
            return Outcome(delivery.status)
        delivery.status = DeliveryStatus.RETRYING
        wait = backoff(delivery.attempts)
        _log(delivery, "retrying", f"attempt {delivery.attempts} failed, next in {wait:g} s: {exc}", now)
        delivery.save()
        return Outcome(delivery.status, wait)
    delivery.status, delivery.sent_at, delivery.last_error = DeliveryStatus.SENT, now, ""
    _log(delivery, "sent", f"attempt {delivery.attempts}: {answer}", now)
    delivery.save()
    if channel.failing_since or channel.last_error:
        channel.failing_since, channel.last_error = None, ""
        channel.save(update_fields=["failing_since", "last_error", "updated_at"])
    return Outcome(delivery.status)


def failing_channels(teams, now: datetime | None = None):
    """Enabled channels of `teams` that have failed every delivery for an hour or more (the dashboard's warning)."""
    now = now or timezone.now()
    return Channel.objects.filter(
        team__in=teams, enabled=True, failing_since__lte=now - FAILING_SHOWN_AFTER
    ).select_related("team")
