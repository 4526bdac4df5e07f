"""Verifying the audit history: the hash chain, its keyed macs and the signed checkpoints (docs/audit.md).

This module is what an external auditor runs, on a machine with no database and no console settings:
it needs only the Python standard library and `cryptography`, and imports nothing of Django. So

    python -m audit.verify --export audit.json --checkpoints audit-checkpoints.jsonl --public-key key.pub

checks an exported history (the console's JSON export) against the checkpoints the console signed; the
console's own `manage.py verify_audit` walks the database with the same code.

What is checked, entry by entry in id order:
- link: each entry's `prev_hash` is the hash of the entry before it (the first one's is all zeros);
- content: SHA-256 over the entry's fields in canonical JSON (`HASHED_FIELDS`) equals its `hash`;
- mac: HMAC-SHA256 of the hash with the key named by `key_id` equals its `mac` (when the key ring is at hand:
  on the console, or given to the auditor); an entry written before the keyed chain has none;
- checkpoints: each signature is made by a trusted Ed25519 key, and the entry it names exists with that hash
  (and, walking from the first entry, that many entries up to it).
"""

import argparse
import base64
import binascii
import hashlib
import hmac
import json
import sys
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

#: The previous-hash of the first entry.
GENESIS_HASH = "0" * 64

#: The fields that make up an entry's hash, in a fixed order.
HASHED_FIELDS = (
    "occurred_at",
    "actor_type",
    "actor_user_id",
    "actor_name",
    "source_address",
    "user_agent",
    "request_id",
    "action",
    "object_type",
    "object_id",
    "object_repr",
    "team_id",
    "cluster_id",
    "changes",
    "result",
    "message",
    "prev_hash",
)

#: What an exported or streamed entry carries besides its hashed fields, to be verified on its own.
CHAIN_FIELDS = ("id", *HASHED_FIELDS, "hash", "mac", "key_id")

#: How many problems are listed before the rest are only counted.
MAX_PROBLEMS = 20


class VerifyError(ValueError):
    """An input the verifier cannot use (a malformed export, checkpoint line or key); the message says which."""


# --- Hashes and macs ---------------------------------------------------------------------------------------


def canonical_time(value: datetime | str) -> str:
    """The entry time as it is hashed: ISO 8601 with microseconds (an export may have dropped zero ones)."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError as exc:
            raise VerifyError(f"occurred_at: {value!r} is not an ISO 8601 time") from exc
    return value.isoformat(timespec="microseconds")


def entry_hash(values: Mapping[str, Any], encoder: type[json.JSONEncoder] | None = None) -> str:
    """SHA-256 over an entry's `HASHED_FIELDS` (occurred_at as `canonical_time`) in canonical JSON."""
    payload = {name: values[name] for name in HASHED_FIELDS}
    payload["occurred_at"] = canonical_time(values["occurred_at"])
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), cls=encoder)
    return hashlib.sha256(text.encode()).hexdigest()


def key_id(key: bytes) -> str:
    """A short public name of an HMAC key (a digest: it tells nothing about the key)."""
    return hashlib.sha256(b"lvsweb-audit-key-id:" + key).hexdigest()[:16]


def entry_mac(key: bytes, hash_: str) -> str:
    """HMAC-SHA256 of an entry's hash: only the holder of the key can make it for a recomputed hash."""
    return hmac.digest(key, hash_.encode(), "sha256").hex()


def parse_hmac_keys(text: str) -> list[bytes]:
    """Keys from text, one per line (or comma-separated), newest first; blank lines and #-comments skipped."""
    keys = []
    for line in text.replace(",", "\n").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keys.append(line.encode())
    return keys


@dataclass(frozen=True)
class KeyRing:
    """HMAC keys by key id; the first one given is the current one, which signs new entries."""

    keys: tuple[bytes, ...]

    @property
    def by_id(self) -> dict[str, bytes]:
        """Every key by its id."""
        return {key_id(key): key for key in self.keys}

    @property
    def current(self) -> tuple[str, bytes]:
        """(key id, key) of the key new entries are signed with."""
        return key_id(self.keys[0]), self.keys[0]


# --- Checkpoints -------------------------------------------------------------------------------------------


def canonical_bytes(payload: Mapping[str, Any]) -> bytes:
    """The bytes a checkpoint's signature covers: its fields, signature left out, in canonical JSON."""
    return json.dumps(
        {k: v for k, v in payload.items() if k != "signature"}, sort_keys=True, separators=(",", ":")
    ).encode()


def public_key_text(raw: bytes) -> str:
    """A raw Ed25519 public key as base64, as checkpoints and settings write it."""
    return base64.b64encode(raw).decode()


def load_public_key_text(text: str) -> str:
    """A trusted public key from text: base64 of the raw 32 bytes, or a PEM public key; as base64."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    text = text.strip()
    try:
        if text.startswith("-----BEGIN"):
            key = serialization.load_pem_public_key(text.encode())
            if not isinstance(key, Ed25519PublicKey):
                raise VerifyError("the PEM public key is not an Ed25519 key")
            return public_key_text(key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw))
        raw = base64.b64decode(text, validate=True)
        Ed25519PublicKey.from_public_bytes(raw)
        return public_key_text(raw)
    except (binascii.Error, ValueError, TypeError) as exc:
        if isinstance(exc, VerifyError):
            raise
        raise VerifyError("not an Ed25519 public key (base64 of 32 bytes, or PEM)") from exc


@dataclass(frozen=True)
class Checkpoint:
    """A signed statement: entry #`entry_id` of the chain had hash `hash` at `time` (`count` entries to it)."""

    entry_id: int
    hash: str
    count: int | None
    time: str
    key: str
    line_number: int

    def describe(self) -> str:
        """How a report names it."""
        return f"checkpoint of {self.time} (line {self.line_number}, entry #{self.entry_id})"


def parse_checkpoint(line: str, line_number: int, trusted: Iterable[str]) -> Checkpoint:
    """Parse one checkpoint line and check its signature; VerifyError saying what is wrong otherwise."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    try:
        data = json.loads(line)
        if not isinstance(data, dict):
            raise TypeError
        entry_id, hash_, time, key = int(data["entry"]), str(data["hash"]), str(data["time"]), str(data["key"])
        count = data.get("count")
        count = int(count) if count is not None else None
        signature = base64.b64decode(str(data["signature"]), validate=True)
    except (ValueError, TypeError, KeyError, binascii.Error) as exc:
        raise VerifyError(
            f"checkpoint line {line_number}: not a checkpoint (needs entry, hash, time, key, signature)"
        ) from exc
    if key not in set(trusted):
        raise VerifyError(f"checkpoint line {line_number}: signed by a key that is not trusted ({key})")
    try:
        Ed25519PublicKey.from_public_bytes(base64.b64decode(key)).verify(signature, canonical_bytes(data))
    except (InvalidSignature, ValueError, binascii.Error) as exc:
        raise VerifyError(
            f"checkpoint line {line_number}: the signature does not verify (the line was altered)"
        ) from exc
    return Checkpoint(entry_id, hash_, count, time, key, line_number)


def read_checkpoints(lines: Iterable[str], trusted: Iterable[str]) -> tuple[list[Checkpoint], list[str]]:
    """Every valid checkpoint (sorted by entry) and a problem for each line that is not one."""
    trusted = set(trusted)
    checkpoints, problems = [], []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            checkpoints.append(parse_checkpoint(line, number, trusted))
        except VerifyError as exc:
            problems.append(str(exc))
    checkpoints.sort(key=lambda c: (c.entry_id, c.line_number))
    return checkpoints, problems


# --- The walk ----------------------------------------------------------------------------------------------


@dataclass
class Report:
    """What a verification found: problems (the history is not intact) and notes (what was not covered)."""

    entries: int = 0
    first_id: int | None = None
    last_id: int | None = None
    checkpoints: int = 0
    last_anchored: Checkpoint | None = None
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    more_problems: int = 0

    @property
    def ok(self) -> bool:
        """True when nothing was found altered, removed, inserted or reordered."""
        return not self.problems

    def problem(self, text: str) -> None:
        """Add a problem (only the first MAX_PROBLEMS are kept: after a break the rest follow from it)."""
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(text)
        else:
            self.more_problems += 1

    def summary(self) -> str:
        """One line: intact or not, how many entries, and how far they are anchored."""
        anchored = (
            f"anchored up to #{self.last_anchored.entry_id} ({self.last_anchored.time})"
            if self.last_anchored
            else "no checkpoint anchors them"
        )
        if self.ok:
            return f"Audit chain intact: {self.entries} entries verified, {anchored}."
        found = len(self.problems) + self.more_problems
        return f"Audit chain NOT intact: {found} problem(s) in {self.entries} entries."

    def lines(self) -> list[str]:
        """The whole report, one finding per line."""
        out = [self.summary()]
        out += [f"PROBLEM: {p}" for p in self.problems]
        if self.more_problems:
            out.append(f"... and {self.more_problems} more problem(s) after those.")
        out += [f"note: {n}" for n in self.notes]
        return out


def _ranges(ids: list[int]) -> str:
    return f"#{ids[0]}–#{ids[-1]}" if ids[0] != ids[-1] else f"#{ids[0]}"


def verify_entries(
    entries: Iterable[Mapping[str, Any]],
    checkpoints: list[Checkpoint],
    *,
    keyring: KeyRing | None,
    complete: bool,
    encoder: type[json.JSONEncoder] | None = None,
) -> Report:
    """Walk `entries` (dicts with `CHAIN_FIELDS`, in id order) and check them against `checkpoints`.

    `complete`: the entries are the whole chain from its first entry (the database), so a checkpoint naming
    an entry after the last one means the tail was removed, and the first entry must start the chain. An
    export may be a range: checkpoints outside it are only noted.
    """
    report = Report(checkpoints=len(checkpoints))
    by_entry: dict[int, list[Checkpoint]] = {}
    for checkpoint in checkpoints:
        by_entry.setdefault(checkpoint.entry_id, []).append(checkpoint)
    pending = sorted(by_entry)  # checkpointed entry ids, in order; consumed as the walk passes them
    position = 0
    keys = keyring.by_id if keyring else {}
    expected_prev: str | None = GENESIS_HASH if complete else None
    previous_id: int | None = None
    last_good_checkpoint: Checkpoint | None = None
    unkeyed: list[int] = []
    keyed_seen = False
    unchecked_macs = 0
    unanchored_from: int | None = None

    for entry in entries:
        entry_id = int(entry["id"])
        report.entries += 1
        if report.first_id is None:
            report.first_id = entry_id
        # Checkpoints naming entries that the walk has passed without meeting: those entries are missing.
        while position < len(pending) and pending[position] < entry_id:
            for checkpoint in by_entry[pending[position]]:
                if report.entries > 1 or complete:
                    report.problem(
                        f"entry #{checkpoint.entry_id} is missing: the {checkpoint.describe()} names it, and the "
                        f"history goes from #{previous_id if previous_id is not None else '(start)'} to "
                        f"#{entry_id} (it was removed, or its id changed)"
                    )
                else:
                    report.notes.append(f"the {checkpoint.describe()} is before this export's first entry")
            position += 1

        if unanchored_from is None:
            unanchored_from = entry_id
        hash_ = str(entry.get("hash", ""))
        prev = str(entry.get("prev_hash", ""))
        if expected_prev is not None and prev != expected_prev:
            if previous_id is None:
                report.problem(
                    f"entry #{entry_id} does not start the chain (its previous-hash is not the genesis hash): "
                    "the entries before it were removed"
                )
            else:
                report.problem(
                    f"entry #{entry_id} does not follow #{previous_id}: its previous-hash is not #{previous_id}'s hash "
                    f"— an entry between them was removed or inserted, the two were reordered, or #{previous_id} "
                    "was altered"
                )
        try:
            computed = entry_hash(entry, encoder)
        except (KeyError, VerifyError) as exc:
            raise VerifyError(f"entry #{entry_id}: {exc}") from exc
        if computed != hash_:
            report.problem(f"entry #{entry_id}: its content does not match its hash — the entry was altered")
        mac, kid = str(entry.get("mac") or ""), str(entry.get("key_id") or "")
        if not mac:
            if keyed_seen:
                report.problem(
                    f"entry #{entry_id} has no mac although entries before it have one — its mac was removed "
                    "(the entry was altered or inserted)"
                )
            else:
                unkeyed.append(entry_id)
        else:
            keyed_seen = True
            if keyring is None:
                unchecked_macs += 1
            elif kid not in keys:
                report.problem(
                    f"entry #{entry_id}: its mac is made with key {kid or '(none)'}, which is not in the key ring"
                )
            elif not hmac.compare_digest(entry_mac(keys[kid], hash_), mac):
                report.problem(
                    f"entry #{entry_id}: its mac does not match — the entry was altered or its hash recomputed by "
                    "someone without the HMAC key"
                )

        if position < len(pending) and pending[position] == entry_id:
            for checkpoint in by_entry[entry_id]:
                if checkpoint.hash != hash_:
                    since = f"#{last_good_checkpoint.entry_id}" if last_good_checkpoint else "the first entry"
                    report.problem(
                        f"entry #{entry_id} is not the entry the {checkpoint.describe()} signed (hash differs): the "
                        f"history was rewritten — the first changed entry is after {since} and at or before "
                        f"#{entry_id}"
                    )
                elif complete and checkpoint.count is not None and checkpoint.count != report.entries:
                    report.problem(
                        f"the {checkpoint.describe()} counted {checkpoint.count} entries up to #{entry_id}; there are "
                        f"{report.entries} — entries before it were removed or inserted"
                    )
                else:
                    last_good_checkpoint = checkpoint
                    report.last_anchored = checkpoint
                    unanchored_from = None
            position += 1

        expected_prev = hash_
        previous_id = entry_id
    report.last_id = previous_id

    for entry_id in pending[position:]:
        for checkpoint in by_entry[entry_id]:
            if complete:
                report.problem(
                    f"entry #{entry_id} is missing: the {checkpoint.describe()} names it, and the history ends at "
                    f"#{previous_id if previous_id is not None else '(no entries)'} — the newest entries were removed"
                )
            else:
                report.notes.append(f"the {checkpoint.describe()} is after this export's last entry")

    if unkeyed:
        report.notes.append(f"{_ranges(unkeyed)} not keyed (written before the keyed chain)")
    if unchecked_macs:
        report.notes.append(
            f"macs of {unchecked_macs} entries not checked: no HMAC key ring given (it stays with the console; "
            "links, hashes and checkpoints were checked)"
        )
    if unanchored_from is not None:
        report.notes.append(
            f"not yet anchored: {_ranges([unanchored_from, previous_id])} (no checkpoint covers them yet; removing "
            "them would show only as fewer entries)"
        )
    if not checkpoints:
        report.notes.append("no checkpoints were given: a rewrite with recomputed hashes and macs would not show")
    return report


# --- Exports -----------------------------------------------------------------------------------------------


def read_export(path: str | Path) -> list[dict[str, Any]]:
    """The entries of a JSON export (a list of objects with `CHAIN_FIELDS`), sorted by id."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise VerifyError(f"{path}: cannot read a JSON export ({exc})") from exc
    if not isinstance(data, list) or not all(isinstance(item, dict) for item in data):
        raise VerifyError(f"{path}: a JSON export is a list of entries")
    for number, item in enumerate(data, 1):
        missing = [name for name in CHAIN_FIELDS if name not in item]
        if missing:
            raise VerifyError(
                f"{path}: entry {number} lacks {', '.join(missing)} (exported before the keyed chain? export again)"
            )
    return sorted(data, key=lambda item: int(item["id"]))


def verify_export(
    export: str | Path,
    *,
    checkpoint_lines: Iterable[str],
    trusted_keys: Iterable[str],
    keyring: KeyRing | None = None,
) -> Report:
    """Verify an exported range of the history against signed checkpoints; nothing but files is needed."""
    checkpoints, bad_lines = read_checkpoints(checkpoint_lines, trusted_keys)
    report = verify_entries(iter(read_export(export)), checkpoints, keyring=keyring, complete=False)
    for problem in bad_lines:
        report.problem(problem)
    return report


def _read_lines(path: str | Path) -> Iterator[str]:
    try:
        with open(path, encoding="utf-8") as handle:
            yield from handle
    except OSError as exc:
        raise VerifyError(f"{path}: cannot read the checkpoints ({exc.strerror})") from exc


def main(argv: list[str] | None = None) -> int:
    """`python -m audit.verify`: verify an export offline; exit 0 when intact, 1 when not, 2 on bad input."""
    parser = argparse.ArgumentParser(
        prog="python -m audit.verify",
        description="Verify an exported lvsweb audit history (the JSON export) with no database: each entry's "
        "SHA-256 over its fields, each link to the entry before it, and every signed checkpoint (signature by a "
        "trusted Ed25519 key; the entry it names is in the export with that hash). Needs Python and cryptography.",
    )
    parser.add_argument("--export", required=True, help="the JSON export (global audit page, Export JSON)")
    parser.add_argument("--checkpoints", help="the checkpoint file (var/audit-checkpoints.jsonl, or a copy)")
    parser.add_argument(
        "--public-key", action="append", default=[], help="a trusted signing public key file (repeatable)"
    )
    parser.add_argument("--hmac-keys", help="a file of HMAC keys, to check the macs too (optional)")
    args = parser.parse_args(argv)
    try:
        report = verify_export(
            args.export,
            checkpoint_lines=_read_lines(args.checkpoints) if args.checkpoints else [],
            trusted_keys=[load_public_key_text(Path(p).read_text()) for p in args.public_key],
            keyring=KeyRing(tuple(parse_hmac_keys(Path(args.hmac_keys).read_text()))) if args.hmac_keys else None,
        )
    except (VerifyError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print("\n".join(report.lines()))
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
