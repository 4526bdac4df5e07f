"""Sending one webhook: http(s) only, a timeout, no redirects followed, a bounded body, signed with HMAC-SHA256.

The signature header is `X-Lvsweb-Signature: t=<unix time>,v1=<hex>` where the hex is HMAC-SHA256 with the
channel's secret over `<t>.` followed by the raw body — the time is signed too, so a receiver can refuse a
replayed request older than a few minutes (docs/alerts.md shows a receiver in ten lines of Python).

Redirects are not followed at all (a 3xx answer is a failed delivery that names where it pointed): following
one could carry the signed body to another host. The receiver's answer is read up to 4 KiB, for the log.
"""

import hashlib
import hmac
import http.client
import ssl
import time
from urllib.parse import urlsplit

from django.conf import settings

#: The most characters of a webhook URL (longer ones are refused by name).
URL_MAX = 2000
#: The largest request body sent (alerts/messages.py shortens the list of items to fit).
MAX_BODY_BYTES = 64 * 1024
#: How much of the receiver's answer is kept for the delivery log.
MAX_ANSWER_BYTES = 4096
SIGNATURE_HEADER = "X-Lvsweb-Signature"


class WebhookError(Exception):
    """The receiver did not take the message; the text says why, for the delivery log."""


def url_problem(url: str) -> str:
    """Why `url` cannot be a webhook's URL, or "" when it can."""
    if not url:
        return "Give the webhook's URL."
    if len(url) > URL_MAX:
        return f"The URL is longer than {URL_MAX} characters."
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        return "Only http:// and https:// URLs can receive webhooks."
    if not parts.hostname:
        return "The URL names no host."
    try:
        parts.port  # noqa: B018 (raises on a port out of range)
    except ValueError:
        return "The URL's port is not a number from 1 to 65535."
    return ""


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The value of the signature header for `body` sent at `timestamp`."""
    digest = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def post(url: str, body: bytes, *, secret: str, headers: dict[str, str] | None = None) -> str:
    """POST `body` (JSON) to `url`, signed; returns the receiver's status line. Raises WebhookError."""
    problem = url_problem(url)
    if problem:
        raise WebhookError(problem)
    if len(body) > MAX_BODY_BYTES:
        raise WebhookError(f"The message is {len(body)} bytes, more than the {MAX_BODY_BYTES} allowed.")
    parts = urlsplit(url)
    host = parts.hostname or ""
    timeout = settings.ALERTS_WEBHOOK_TIMEOUT
    connection: http.client.HTTPConnection
    if parts.scheme == "https":
        connection = http.client.HTTPSConnection(
            host, parts.port, timeout=timeout, context=ssl.create_default_context()
        )
    else:
        connection = http.client.HTTPConnection(host, parts.port, timeout=timeout)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    all_headers = {
        "Content-Type": "application/json",
        "User-Agent": "lvsweb-alerts/1",
        SIGNATURE_HEADER: signature(secret, int(time.time()), body),
        **(headers or {}),
    }
    try:
        connection.request("POST", path, body=body, headers=all_headers)
        response = connection.getresponse()
        answer = response.read(MAX_ANSWER_BYTES).decode(errors="replace")
    except (TimeoutError, OSError, http.client.HTTPException) as exc:
        raise WebhookError(f"{parts.hostname}:{parts.port or parts.scheme}: {exc or type(exc).__name__}") from None
    finally:
        connection.close()
    if 300 <= response.status < 400:
        raise WebhookError(
            f"HTTP {response.status} redirect to {response.getheader('Location', '?')}: webhooks are not redirected."
        )
    if not 200 <= response.status < 300:
        raise WebhookError(f"HTTP {response.status} {response.reason}: {answer[:300]}".strip())
    return f"HTTP {response.status} {response.reason}"
