"""A Redis transport that drops what it cannot read instead of dying on it (docs/dispatch.md, "Junk on the broker").

Anyone who can write to the broker can put anything on a queue. kombu's own Redis transport decodes the
envelope of every message it pops (`json.loads` in `Channel._brpop_read`) and then its body (base64 in
`Message.__init__`) outside of any error handling, so `LPUSH control 'not json at all'` raised
JSONDecodeError out of the consumer and Celery stopped the worker ("Unrecoverable error"). This transport
screens each popped message first (agents/lvsweb_agent/broker_transport.py: kombu's Redis transport with this screen;
this module holds the rules and stays light enough for the console's settings to import), the console's
control worker and the agent alike:

- larger than `max_message_bytes` (default 16 MiB, `LVSWEB_BROKER_MAX_MESSAGE_BYTES`): dropped before parsing;
- not a JSON object, or without kombu's envelope fields (`properties`, `delivery_info`, `delivery_tag`, …);
- a content type other than JSON (pickle, YAML, …: never deserialised here) or a compressed body;
- a body that is not base64 / UTF-8 / JSON, or a Celery task message whose body is not `[args, kwargs, embed]`.

Behind the screen, broker_transport's `Consumer` (Celery's `worker_consumer`) drops a message whose headers
make Celery's own task handler raise (`bad_task`) instead of letting the exception stop the worker.

A dropped message is gone (it was popped, never delivered nor acknowledged), logged with its reason and a
short excerpt, counted in `DROPPED` and passed to the `on_drop(reason, detail)` hook (a transport option:
a callable or "module:function"), which the console points at its Redis counters (/metrics) and the agent
at a counter file in its state directory. A hook that fails is logged, never fatal.

The screen parses the body once more than kombu does (Celery's worker parses it again later; a body of the
wrong shape, e.g. a JSON string, made Celery's strategy raise TypeError and stop the worker, so the shape
must be known before delivery). Measured here: 0.034 ms per heartbeat report (kombu's own envelope parse:
0.014 ms) and 10.7 ms for a 1.3 MB full traffic table of 1,000 services x 10 real servers (kombu: 1.5 ms),
which a director sends once a minute; its batches in between carry only the rows that changed.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import os
import threading
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlparse

from kombu.utils.encoding import bytes_to_str as kombu_bytes_to_str

#: kombu's `bytes_to_str` (bytes decoded, str as is), typed: kombu leaves it unannotated. broker_transport uses it too.
bytes_to_str = cast(Callable[[bytes | str], str], kombu_bytes_to_str)

log = logging.getLogger(__name__)

DEFAULT_MAX_MESSAGE_BYTES = 16 * 2**20
JSON_TYPE = "application/json"
#: Why a message was dropped: the `reason` label of the counters.
REASONS = ("too_large", "not_json", "malformed", "content_type", "bad_body", "bad_task")

#: Messages dropped by this process, by reason.
DROPPED: Counter[str] = Counter()
_dropped_lock = threading.Lock()


class Dropped(Exception):
    """A message that must not be delivered: `reason` is one of REASONS, the message says what was wrong."""

    def __init__(self, reason: str, detail: str):
        super().__init__(detail)
        self.reason = reason


def max_message_bytes_from_environment() -> int:
    """LVSWEB_BROKER_MAX_MESSAGE_BYTES, or 16 MiB when unset or not a positive integer."""
    value = os.environ.get("LVSWEB_BROKER_MAX_MESSAGE_BYTES", "")
    try:
        return int(value) if value and int(value) > 0 else DEFAULT_MAX_MESSAGE_BYTES
    except ValueError:
        log.error(
            "LVSWEB_BROKER_MAX_MESSAGE_BYTES=%r is not a number of bytes; using %s", value, DEFAULT_MAX_MESSAGE_BYTES
        )
        return DEFAULT_MAX_MESSAGE_BYTES


def screen_raw(item: bytes | str, max_bytes: int) -> dict[str, Any]:
    """The message popped from a queue (kombu's JSON envelope), checked; Dropped when it must not be delivered."""
    if len(item) > max_bytes:
        raise Dropped("too_large", f"{len(item)} bytes, more than the {max_bytes} a message may have")
    try:
        message = json.loads(bytes_to_str(item))
    except (ValueError, UnicodeDecodeError) as exc:
        raise Dropped("not_json", f"the message is not JSON ({exc})") from None
    screen_message(message)
    return dict(message)


def screen_message(message: Any) -> None:
    """Check a decoded kombu message (envelope, content type, body); Dropped when it must not be delivered."""
    if not isinstance(message, dict):
        raise Dropped("malformed", f"the message is a JSON {type(message).__name__}, not an object")
    properties = message.get("properties")
    if not isinstance(properties, dict) or not isinstance(properties.get("delivery_info"), dict):
        raise Dropped("malformed", "the message has no properties with delivery_info")
    if not isinstance(properties.get("delivery_tag"), str | int) or isinstance(properties.get("delivery_tag"), bool):
        raise Dropped("malformed", "the message has no delivery_tag")
    headers = message.get("headers")
    if headers is not None and not isinstance(headers, dict):
        raise Dropped("malformed", "the message's headers are not an object")
    if headers and "compression" in headers:
        raise Dropped("content_type", f"compressed messages ({headers['compression']!r}) are not accepted")
    content_type = message.get("content-type")
    if content_type != JSON_TYPE:
        raise Dropped("content_type", f"content type {content_type!r}: only {JSON_TYPE} is accepted")
    if message.get("content-encoding", "utf-8") not in ("utf-8", "utf8"):
        raise Dropped("content_type", f"content encoding {message.get('content-encoding')!r}: only utf-8")
    body = message.get("body")
    encoding = properties.get("body_encoding")
    if not isinstance(body, str):
        raise Dropped("bad_body", "the message's body is not text")
    try:
        raw = base64.b64decode(body, validate=True) if encoding == "base64" else body.encode()
        if encoding not in ("base64", None, "utf-8"):
            raise ValueError(f"unknown body encoding {encoding!r}")
        decoded = json.loads(raw)
    except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
        raise Dropped("bad_body", f"the body is not {encoding or 'plain'} JSON ({exc})") from None
    if headers and "task" in headers:
        # Celery's task protocol 2: the body is [args, kwargs, embed]; anything else breaks the worker later.
        if not isinstance(headers["task"], str) or not isinstance(headers.get("id"), str):
            raise Dropped("malformed", "a task message without a task name and id")
        if not (
            isinstance(decoded, list)
            and len(decoded) == 3
            and isinstance(decoded[0], list)
            and isinstance(decoded[1], dict)
            and isinstance(decoded[2], dict)
        ):
            raise Dropped("malformed", "a task message whose body is not [args, kwargs, embed]")


def dropped(queue: str, error: Dropped, item: Any, hook: Callable[[str, str], None] | None) -> None:
    """Log and count one dropped message, and tell `hook` (whose failure is logged, never raised)."""
    with _dropped_lock:
        DROPPED[error.reason] += 1
    log.warning("dropped a message from queue %r (%s): %s — %s", queue, error.reason, error, _excerpt(item))
    try:
        if hook is not None:
            hook(error.reason, str(error))
    except Exception:
        log.exception("could not count a dropped message")


def _excerpt(item: Any, limit: int = 120) -> str:
    text = item if isinstance(item, str) else repr(item)
    return text[:limit] + ("…" if len(text) > limit else "")


def transport_for(broker_url: str) -> str | None:
    """The screening transport for a broker URL ("module:Class", as Celery's `broker_transport` takes it);
    None for a broker that is not Redis (kombu's own transport then)."""
    scheme = urlparse(broker_url.split(";", 1)[0]).scheme
    if scheme in ("redis", "rediss", "socket"):
        return "lvsweb_agent.broker_transport:Transport"
    if scheme == "sentinel":
        return "lvsweb_agent.broker_transport:SentinelTransport"
    return None


class DropFile:
    """The agent's count of dropped messages, by reason, in a small JSON file of its state directory.

    Every heartbeat carries the counts (facts `dropped_messages`), so an operator sees junk on the broker from
    the console too. Written on each drop (rare by nature).
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._lock = threading.Lock()

    def read(self) -> dict[str, int]:
        """The counts so far ({} when nothing was ever dropped or the file is unreadable)."""
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {}
        if not isinstance(data, dict):
            return {}
        return {str(k): v for k, v in data.items() if isinstance(v, int) and not isinstance(v, bool)}

    def __call__(self, reason: str, detail: str) -> None:
        """Count one dropped message (never raises: the transport logs a failing hook)."""
        with self._lock:
            counts = self.read()
            counts[reason] = counts.get(reason, 0) + 1
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_name(self.path.name + ".tmp")
            tmp.write_text(json.dumps(counts, sort_keys=True))
            tmp.replace(self.path)
