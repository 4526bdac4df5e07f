"""Fixtures of the alert tests: a real HTTP receiver, a real SMTP server (aiosmtpd), the lab inventory, and a
control worker with a beat of its own for the alert scan."""

import socket
import threading
import time
from email import message_from_bytes, policy

import pytest
from aiosmtpd.controller import Controller
from celery import current_app

from alerts import actions
from alerts.models import Cursor
from tests.dispatch.conftest import ControlWorker, lab  # noqa: F401 (a fixture, used by name)
from tests.webhooks import Receiver


@pytest.fixture
def receiver():
    """A running webhook receiver."""
    server = Receiver()
    server.start()
    yield server
    server.stop()


class Mailbox:
    """aiosmtpd's handler: keeps every message it is given."""

    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((envelope.rcpt_tos, message_from_bytes(envelope.content, policy=policy.default)))
        return "250 OK"


@pytest.fixture
def smtp(settings):
    """A real SMTP server on 127.0.0.1; Django's mail settings point at it."""
    mailbox = Mailbox()
    # aiosmtpd connects to its own port to see that it is up, so it needs a known one: a free port of the kernel's.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", port
    yield mailbox
    controller.stop()


def wait_for(check, timeout: float = 30.0, step: float = 0.2, what: str = "the condition"):
    """Poll `check` until it returns something true; fail naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(step)
    raise AssertionError(f"waited {timeout} s for {what}")


@pytest.fixture
def alert_worker(tmp_path, settings):
    """A real control worker (mail to the test's SMTP server when there is one, fast retries), and a beat thread
    that sends it the alert scan every half second, as `celery beat` does every LVSWEB_ALERTS_SCAN_INTERVAL."""
    env = {
        "SECRET_KEY": settings.SECRET_KEY,
        "EMAIL_BACKEND": settings.EMAIL_BACKEND,
        "EMAIL_HOST": str(settings.EMAIL_HOST),
        "EMAIL_PORT": str(settings.EMAIL_PORT),
        "LVSWEB_ALERTS_RETRY_SECONDS": "0.5",
        "LVSWEB_PUBLIC_URL": "https://lvs.example.net",
    }
    worker = ControlWorker(tmp_path / "control-worker.log", **env)
    stop = threading.Event()

    def beat():
        while not stop.wait(0.5):
            current_app.send_task("lvsweb.alerts.scan", queue="control")

    thread = threading.Thread(target=beat, daemon=True)
    thread.start()
    yield worker
    stop.set()
    thread.join()
    worker.stop()


@pytest.fixture
def cursor(db):
    """Alerts read the audit history from here on (as on a scan's first run)."""
    return Cursor.objects.create(name="audit", last_entry_id=0)


def webhook_channel(team, url: str, *, kind: str = "webhook", name: str = "pager"):
    """A webhook channel of `team` and its signing secret."""
    return actions.create_channel(
        acting_user=None, team=team, fields={"name": name, "kind": kind, "url": url, "rate_limit_per_hour": 100}
    )


def rule_for(team, channels, **fields):
    """A rule of `team` sending every event type (warning and up unless told) to `channels`."""
    values = {"name": "on call", "event_types": [], "min_severity": "info", "group_seconds": 1, **fields}
    return actions.create_rule(acting_user=None, team=team, fields=values, channels=list(channels))
