"""Streaming every entry and checkpoint where auditors look: syslog (RFC 5424) and/or a JSON-lines file.

Each configured sink has a cursor row (`AuditSink`): the last entry and checkpoint it has been given. A
delivery run (the Celery task `lvsweb.audit.deliver`, woken after each commit that adds entries and every
few seconds by beat) takes the sink's row lock, sends what follows the cursor in id order — each checkpoint
right after the entry it names — and advances the cursor after each batch the receiver has taken. A failed
send leaves the cursor where it was and records the error; the next run sends from there again. So every
line is delivered at least once and in order (a receiver may see a batch twice after an error mid-batch).

Targets: LVSWEB_AUDIT_SYSLOG = tcp://host:port or tls://host:port (octet-counted frames, RFC 6587) or
unix:///dev/log (one datagram per line), and LVSWEB_AUDIT_STREAM_FILE = a path (one JSON object per line).
"""

import json
import logging
import os
import socket
import ssl
from datetime import timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.utils import timezone

from audit.models import AuditCheckpoint, AuditEntry, AuditSink

log = logging.getLogger(__name__)

#: Entries sent per batch (and per cursor step).
BATCH = 500
#: Seconds a connect, send or the receiver's acknowledgement may take.
TIMEOUT = 10.0
#: RFC 5424 priority: facility local0 (16), severity informational (6).
PRIORITY = 16 * 8 + 6
APP_NAME = "lvsweb-audit"


class SinkError(OSError):
    """A sink that could not take the lines (unreachable, refused, misconfigured); the message says which."""


def configured() -> list[tuple[str, str]]:
    """The sinks this installation streams to, as (name, target)."""
    sinks = []
    if settings.AUDIT_SYSLOG:
        sinks.append(("syslog", settings.AUDIT_SYSLOG))
    if settings.AUDIT_STREAM_FILE:
        sinks.append(("file", settings.AUDIT_STREAM_FILE))
    return sinks


def kick() -> None:
    """Wake a delivery run (after a commit that added entries); beat runs one every few seconds anyway."""
    if not configured():
        return
    from audit.tasks import deliver

    # No publish retries: a broker that is down must not hold up the change that was just committed.
    deliver.apply_async(retry=False)


def entry_line(entry: AuditEntry) -> str:
    """An entry as one JSON line: every field needed to verify it (audit/verify.py)."""
    document = {"type": "audit.entry", **entry.chain_document()}
    return json.dumps(document, sort_keys=True, separators=(",", ":"), cls=DjangoJSONEncoder)


def syslog_frame(line: str, msgid: str, timestamp: str) -> bytes:
    """An RFC 5424 message carrying `line` as its MSG."""
    hostname = (socket.gethostname() or "-").replace(" ", "")[:255]
    return f"<{PRIORITY}>1 {timestamp} {hostname} {APP_NAME} {os.getpid()} {msgid} - {line}".encode()


class Sender:
    """Sends batches of (msgid, timestamp, line) to one target; raises SinkError when it cannot."""

    def __init__(self, target: str):
        self.target = target

    def send(self, messages: list[tuple[str, str, str]]) -> None:
        """Deliver the batch; return only once the receiver has taken all of it."""
        try:
            if self.target.startswith(("tcp://", "tls://")):
                self._send_stream(messages)
            elif self.target.startswith("unix://"):
                self._send_unix(messages)
            else:
                self._send_file(messages)
        except (OSError, ValueError) as exc:
            if isinstance(exc, SinkError):
                raise
            raise SinkError(f"{self.target}: {exc}") from exc

    def _send_stream(self, messages):
        url = urlsplit(self.target)
        if not url.hostname or not url.port:
            raise SinkError(f"{self.target}: give tcp://host:port or tls://host:port")
        raw = socket.create_connection((url.hostname, url.port), timeout=TIMEOUT)
        conn = raw
        try:
            if url.scheme == "tls":
                context = ssl.create_default_context(cafile=settings.AUDIT_SYSLOG_CA_FILE or None)
                conn = context.wrap_socket(raw, server_hostname=url.hostname)
            data = b"".join(
                str(len(frame)).encode() + b" " + frame
                for frame in (syslog_frame(line, msgid, ts) for msgid, ts, line in messages)
            )
            conn.sendall(data)
            # The receiver has read everything once it closes its side after ours: wait for that, so that
            # the cursor moves only past lines the receiver took (not past lines lost in a socket buffer).
            try:
                if isinstance(conn, ssl.SSLSocket):
                    conn = conn.unwrap()
                conn.shutdown(socket.SHUT_WR)
                while conn.recv(4096):
                    pass
            except ssl.SSLError:
                pass  # a TLS receiver that closes without close_notify: what was sent was read
        finally:
            conn.close()
            raw.close()

    def _send_unix(self, messages):
        path = urlsplit(self.target).path
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.settimeout(TIMEOUT)
            sock.connect(path)
            for msgid, ts, line in messages:
                sock.send(syslog_frame(line, msgid, ts))

    def _send_file(self, messages):
        path = self.target[len("file://") :] if self.target.startswith("file://") else self.target
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        try:
            os.write(fd, "".join(line + "\n" for _msgid, _ts, line in messages).encode())
            os.fsync(fd)
        finally:
            os.close(fd)


def _batch(sink: AuditSink) -> tuple[list[tuple[str, str, str]], int, int]:
    """The next lines for `sink` in order, and the cursor after them: (messages, last entry, last checkpoint)."""
    # Checkpoints first: one is written after its entry committed, so every entry a checkpoint read here names
    # is visible to the entries query after it — a checkpoint line never overtakes its entry.
    checkpoints = list(AuditCheckpoint.objects.filter(id__gt=sink.last_checkpoint_id).order_by("id")[:BATCH])
    entries = list(AuditEntry.objects.filter(id__gt=sink.last_entry_id).order_by("id")[:BATCH])
    at_tail = len(entries) < BATCH
    messages, last_entry, last_checkpoint = [], sink.last_entry_id, sink.last_checkpoint_id
    pending = list(checkpoints)
    for entry in entries:
        messages.append(("entry", entry.occurred_at.isoformat(timespec="microseconds"), entry_line(entry)))
        last_entry = entry.pk
        while pending and pending[0].entry_id <= entry.pk:
            last_checkpoint = _add_checkpoint(messages, pending.pop(0))
    # A checkpoint of an entry already streamed (or at the end of the history) follows at once.
    while pending and (pending[0].entry_id <= last_entry or at_tail):
        last_checkpoint = _add_checkpoint(messages, pending.pop(0))
    return messages, last_entry, last_checkpoint


def _add_checkpoint(messages: list, checkpoint: AuditCheckpoint) -> int:
    messages.append(("checkpoint", checkpoint.created_at.isoformat(timespec="microseconds"), checkpoint.line))
    return checkpoint.pk


def deliver_sink(name: str, target: str, *, max_batches: int = 200) -> int:
    """Send what `name` has not had yet, batch by batch; the number of lines sent (0 when another run has it)."""
    AuditSink.objects.get_or_create(name=name, defaults={"target": target})
    sender = Sender(target)
    sent = 0
    for _ in range(max_batches):
        with transaction.atomic():
            sink = AuditSink.objects.select_for_update(skip_locked=True).filter(name=name).first()
            if sink is None:
                return sent  # another run is delivering to this sink
            messages, last_entry, last_checkpoint = _batch(sink)
            if not messages:
                return sent
            try:
                sender.send(messages)
            except SinkError as exc:
                log.warning("audit stream %s: %s", name, exc)
                sink.last_error, sink.last_error_at, sink.target = str(exc)[:2000], timezone.now(), target
                sink.save(update_fields=["last_error", "last_error_at", "target"])
                return sent
            sink.last_entry_id, sink.last_checkpoint_id = last_entry, last_checkpoint
            sink.delivered_at, sink.last_error, sink.target = timezone.now(), "", target
            sink.save(update_fields=["last_entry_id", "last_checkpoint_id", "delivered_at", "last_error", "target"])
            sent += len(messages)
    return sent


def deliver() -> dict[str, int]:
    """One delivery run over every configured sink: lines sent per sink."""
    return {name: deliver_sink(name, target) for name, target in configured()}


def lagging() -> list[str]:
    """A sentence per configured sink that is behind: its last error, or too many or too old entries unsent."""
    problems = []
    if not configured():
        return problems  # no query at all on installations that do not stream
    cursors = {sink.name: sink for sink in AuditSink.objects.all()}
    for name, target in configured():
        sink = cursors.get(name)
        after = sink.last_entry_id if sink else 0
        behind = AuditEntry.objects.filter(id__gt=after).order_by("id")
        oldest = behind.values_list("occurred_at", flat=True).first()
        if sink and sink.last_error:
            problems.append(f"The audit stream to {target} fails: {sink.last_error}")
            continue
        if oldest is None:
            continue
        limit = settings.AUDIT_STREAM_MAX_LAG_ENTRIES
        count = behind[: limit + 1].count()
        age = timezone.now() - oldest
        if count > limit or age > timedelta(seconds=settings.AUDIT_STREAM_MAX_LAG_SECONDS):
            many = f"more than {limit}" if count > limit else str(count)
            problems.append(
                f"The audit stream to {target} is behind: {many} entries not delivered, the oldest from "
                f"{int(age.total_seconds())} s ago."
            )
    return problems
