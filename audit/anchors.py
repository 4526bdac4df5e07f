"""Checkpoints: the chain's newest entry and hash, signed with a key outside the database, written outside it.

A checkpoint line goes to the append-only checkpoint file (LVSWEB_AUDIT_CHECKPOINT_FILE; `chattr +a` it) and
to the audit streams (syslog, file) when they are configured. Someone who rewrites the database afterwards —
even recomputing every hash and mac — cannot make the entry a checkpoint names have another hash, nor
remove it, without `verify_audit` saying so. Checkpoints are written every LVSWEB_AUDIT_CHECKPOINT_EVERY
entries (just after the commit that reached the multiple), every few minutes when entries are not yet
anchored (audit/tasks.py), and at once by `manage.py audit_checkpoint`.
"""

import json
import logging
import os
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from audit import keys, verify
from audit.models import AuditCheckpoint, AuditEntry, AuditVerification

log = logging.getLogger(__name__)

#: How much of the checkpoint file's end is read to find its newest checkpoint.
TAIL_BYTES = 65536


class CheckpointRefused(RuntimeError):
    """The entries since the last checkpoint do not verify: the console will not sign them."""


def after_commit(entries: Sequence[AuditEntry], using: str) -> None:
    """After a commit that added `entries`: a checkpoint if it reached a multiple of N, and wake the streams.

    Runs as a robust on-commit hook (audit/chain.py): an error is logged, the change stays committed.
    """
    every = settings.AUDIT_CHECKPOINT_EVERY
    first, last = entries[0], entries[-1]
    if every > 0 and first.pk is not None and last.pk is not None and (first.pk - 1) // every != last.pk // every:
        write_checkpoint(entry_id=last.pk, entry_hash=last.hash, using=using)
    from audit import streaming

    streaming.kick()


def write_checkpoint(
    *, entry_id: int | None = None, entry_hash: str = "", using: str = "default", check: bool = False
) -> AuditCheckpoint | None:
    """Sign and write a checkpoint of entry `entry_id` (the newest one when None); None when there is none.

    `check`: first verify the entries since the newest checkpoint in the file (links, hashes, macs), so that
    the console never signs a chain that someone altered in the database since it last signed.
    """
    if entry_id is None:
        newest = AuditEntry.objects.using(using).order_by("-id").values_list("id", "hash").first()
        if newest is None:
            return None
        entry_id, entry_hash = newest
    if check:
        report = verify_since_last_checkpoint(using=using)
        if not report.ok:
            raise CheckpointRefused("; ".join(report.problems))
    count = AuditEntry.objects.using(using).filter(id__lte=entry_id).count()
    now = timezone.now().astimezone(UTC)
    payload = {
        "type": "audit.checkpoint",
        "v": 1,
        "entry": entry_id,
        "hash": entry_hash,
        "count": count,
        "time": now.isoformat(timespec="seconds"),
        "key": keys.signing_public_key(),
    }
    payload["signature"] = verify.public_key_text(keys.signing_key().sign(verify.canonical_bytes(payload)))
    line = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    append_line(Path(settings.AUDIT_CHECKPOINT_FILE), line)
    with transaction.atomic(using=using):
        checkpoint = AuditCheckpoint.objects.using(using).create(
            entry_id=entry_id, hash=entry_hash, created_at=now, line=line
        )
    log.info("audit checkpoint: entry #%s (%s entries)", entry_id, count)
    return checkpoint


def append_line(path: Path, line: str) -> None:
    """Append one line with a single write (O_APPEND) and fsync it: it is on disk before anyone relies on it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
    try:
        os.write(fd, (line + "\n").encode())
        os.fsync(fd)
    finally:
        os.close(fd)


def checkpoint_lines(path: str | Path | None = None) -> list[str]:
    """Every line of the checkpoint file (none when it does not exist yet)."""
    try:
        return Path(path or settings.AUDIT_CHECKPOINT_FILE).read_text().splitlines()
    except FileNotFoundError:
        return []


def newest_checkpoint() -> verify.Checkpoint | None:
    """The newest valid checkpoint at the end of the checkpoint file, reading only its tail."""
    path = Path(settings.AUDIT_CHECKPOINT_FILE)
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            handle.seek(max(0, handle.tell() - TAIL_BYTES))
            tail = handle.read().decode(errors="replace").splitlines()
    except FileNotFoundError:
        return None
    trusted = keys.trusted_public_keys()
    for line in reversed(tail):
        try:
            return verify.parse_checkpoint(line, 0, trusted)
        except verify.VerifyError:
            continue
    return None


def unanchored() -> bool:
    """True when the newest entry is after the newest checkpoint (or there is none)."""
    newest = AuditEntry.objects.order_by("-id").values_list("id", flat=True).first()
    if newest is None:
        return False
    checkpoint = newest_checkpoint()
    return checkpoint is None or checkpoint.entry_id < newest


def _entry_values(queryset):
    return queryset.order_by("id").values(*verify.CHAIN_FIELDS).iterator(chunk_size=2000)


def verify_since_last_checkpoint(using: str = "default") -> verify.Report:
    """Verify only the entries from the newest checkpoint on (what a new checkpoint would vouch for)."""
    from django.core.serializers.json import DjangoJSONEncoder

    checkpoint = newest_checkpoint()
    queryset = AuditEntry.objects.using(using).all()
    if checkpoint is not None:
        queryset = queryset.filter(id__gte=checkpoint.entry_id)
    report = verify.verify_entries(
        _entry_values(queryset),
        [checkpoint] if checkpoint else [],
        keyring=keys.hmac_keyring(),
        complete=checkpoint is None,
        encoder=DjangoJSONEncoder,
    )
    if checkpoint is not None and report.first_id != checkpoint.entry_id:
        report.problem(f"entry #{checkpoint.entry_id} is missing: the {checkpoint.describe()} names it")
    return report


def verify_database(extra_public_keys: Sequence[str] = (), checkpoint_file: str | None = None) -> verify.Report:
    """Walk the whole chain in the database (links, hashes, macs) and check it against every checkpoint."""
    from django.core.serializers.json import DjangoJSONEncoder

    checkpoints, bad_lines = verify.read_checkpoints(
        checkpoint_lines(checkpoint_file), keys.trusted_public_keys(extra_public_keys)
    )
    report = verify.verify_entries(
        _entry_values(AuditEntry.objects.all()),
        checkpoints,
        keyring=keys.hmac_keyring(),
        complete=True,
        encoder=DjangoJSONEncoder,
    )
    for problem in bad_lines:
        report.problem(problem)
    return report


def remember(report: verify.Report) -> AuditVerification:
    """Keep the result for the audit page (the last 50 are kept)."""
    row = AuditVerification.objects.create(
        checked_at=timezone.now(), ok=report.ok, summary=report.summary(), details="\n".join(report.lines()[1:])
    )
    AuditVerification.objects.filter(id__lte=row.id - 50).delete()
    return row


def status() -> dict:
    """What the audit page shows: the newest checkpoint and the last verification (cheap to compute)."""
    try:
        checkpoint, problem = newest_checkpoint(), ""
    except (OSError, ValueError) as exc:  # an unreadable file or key: say so on the page, not a 500
        checkpoint, problem = None, f"cannot read the checkpoints: {exc}"
    return {
        "checkpoint": checkpoint,
        "checkpoint_time": datetime.fromisoformat(checkpoint.time) if checkpoint else None,
        "checkpoint_problem": problem,
        "verification": AuditVerification.objects.order_by("-id").first(),
    }
