"""Backup and restore of a console: its database and the keys of its var directory, in one tar file.

What a console cannot be rebuilt without (docs/upgrading.md, "Backups"):

- the database (inventory, revisions, hosts and their public keys, users, the audit history);
- `secret_key` (sessions, password-reset links; from the var directory unless SECRET_KEY is set);
- `control-signing-key.pem`: every enrolled agent trusts this key's commands and no other, so a console
  without it must enroll every host again;
- `audit-hmac-keys` and `audit-signing-key.pem`, and the checkpoints `audit-checkpoints.jsonl`: without them
  `verify_audit` cannot tell the restored history from a forged one.

The database goes through `pg_dump --format=custom` and `pg_restore` (PostgreSQL) or SQLite's online backup,
not Django's dumpdata/loaddata: the audit table is append-only and chained (triggers, exact bytes of each
entry, sequences), which a dump of the database itself keeps and a re-insert through the ORM would not.

The archive and every member are mode 0600: it holds the keys. Restore writes into an empty database and
puts each key where the restored console's settings look for it; a different file already there (say the
secret_key a fresh var directory created on the console's first start) is kept beside it as
`<name>.before-restore`, never deleted.
"""

import io
import json
import os
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
import time
from pathlib import Path

from django.conf import settings
from django.db import connection
from django.db.migrations.recorder import MigrationRecorder

ARCHIVE_FORMAT = 1
MANIFEST = "manifest.json"
PG_DUMP = "database.pgdump"
SQLITE_COPY = "database.sqlite3"


class BackupError(Exception):
    """The backup or restore could not be done; the message says why and what to do."""


def key_files() -> dict[str, Path]:
    """The var directory's files to keep, by their name in the archive, at the paths the settings give.

    Keys that come from the environment (SECRET_KEY, LVSWEB_AUDIT_HMAC_KEYS) are the operator's to keep.
    """
    files = {
        "control-signing-key.pem": Path(settings.CONTROL_SIGNING_KEY_FILE),
        "audit-signing-key.pem": Path(settings.AUDIT_SIGNING_KEY_FILE),
        "audit-checkpoints.jsonl": Path(settings.AUDIT_CHECKPOINT_FILE),
    }
    if not os.environ.get("SECRET_KEY"):
        files["secret_key"] = Path(settings.VAR_DIR) / "secret_key"
    if not settings.AUDIT_HMAC_KEYS:
        files["audit-hmac-keys"] = Path(settings.AUDIT_HMAC_KEYS_FILE)
    return files


def _engine() -> str:
    vendor = connection.vendor
    if vendor not in ("postgresql", "sqlite"):
        raise BackupError(f"Backups support PostgreSQL and SQLite, not {vendor}.")
    return vendor


def _libpq_env() -> dict[str, str]:
    """The connection as libpq's environment, so no password appears in a command line (`ps` shows those)."""
    db = connection.settings_dict
    env = dict(os.environ, PGDATABASE=db["NAME"])
    for key, name in (("HOST", "PGHOST"), ("PORT", "PGPORT"), ("USER", "PGUSER"), ("PASSWORD", "PGPASSWORD")):
        if db.get(key):
            env[name] = str(db[key])
    return env


def _run(argv: list[str]) -> None:
    try:
        done = subprocess.run(argv, env=_libpq_env(), capture_output=True, text=True, check=False)
    except FileNotFoundError as error:
        raise BackupError(
            f"{argv[0]} is not installed: install PostgreSQL's client tools (postgresql-client)."
        ) from error
    if done.returncode != 0:
        raise BackupError(f"{argv[0]} failed (exit {done.returncode}): {done.stderr.strip()}")


def _add_bytes(archive: tarfile.TarFile, name: str, data: bytes) -> None:
    member = tarfile.TarInfo(name)
    member.size = len(data)
    member.mode = 0o600
    member.mtime = int(time.time())
    archive.addfile(member, io.BytesIO(data))


def backup(output: Path) -> dict:
    """Write the database and the var keys into a new tar file `output` (mode 0600); its manifest."""
    engine = _engine()
    applied = MigrationRecorder(connection).applied_migrations()
    latest: dict[str, str] = {}
    for app, name in sorted(applied):
        latest[app] = max(latest.get(app, name), name)
    keys: list[str] = []
    kept_elsewhere: list[str] = []
    manifest = {
        "format": ARCHIVE_FORMAT,
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "database": engine,
        "migrations": latest,
        "keys": keys,
        "kept_elsewhere": kept_elsewhere,
    }
    try:
        fd = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError as error:
        raise BackupError(f"{output} exists: name a new file, a backup never overwrites one.") from error
    # Checkpoints are read before the dump and keys after it: a checkpoint then names only entries the dump has,
    # and a key rotated meanwhile is still in the archive for the entries it signed.
    files = key_files()
    checkpoints = files.pop("audit-checkpoints.jsonl")
    kept = {"audit-checkpoints.jsonl": checkpoints.read_bytes()} if checkpoints.exists() else {}
    try:
        with os.fdopen(fd, "wb") as handle, tarfile.open(fileobj=handle, mode="w") as archive:
            with tempfile.TemporaryDirectory() as scratch:
                if engine == "postgresql":
                    dump = Path(scratch) / PG_DUMP
                    _run(["pg_dump", "--format=custom", "--no-owner", "--no-privileges", f"--file={dump}"])
                    _add_bytes(archive, PG_DUMP, dump.read_bytes())
                else:
                    copy = Path(scratch) / SQLITE_COPY
                    connection.ensure_connection()
                    with sqlite3.connect(copy) as target:
                        connection.connection.backup(target)
                    _add_bytes(archive, SQLITE_COPY, copy.read_bytes())
            kept.update({name: path.read_bytes() for name, path in files.items() if path.exists()})
            for name, data in kept.items():
                _add_bytes(archive, f"var/{name}", data)
                keys.append(name)
            if os.environ.get("SECRET_KEY"):
                kept_elsewhere.append("SECRET_KEY (environment)")
            if settings.AUDIT_HMAC_KEYS:
                kept_elsewhere.append("LVSWEB_AUDIT_HMAC_KEYS (environment)")
            _add_bytes(archive, MANIFEST, json.dumps(manifest, indent=2).encode())
    except BaseException:
        output.unlink(missing_ok=True)
        raise
    return manifest


def _database_is_empty(engine: str) -> bool:
    with connection.cursor() as cursor:
        if engine == "postgresql":
            cursor.execute("SELECT count(*) FROM pg_tables WHERE schemaname = current_schema()")
        else:
            cursor.execute("SELECT count(*) FROM sqlite_master WHERE type = 'table'")
        return cursor.fetchone()[0] == 0


def _put_key(path: Path, data: bytes) -> None:
    """Write `data` at `path` (mode 0600); a different file already there is kept as `<name>.before-restore`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        if path.read_bytes() == data:
            return
        path.replace(path.with_name(f"{path.name}.before-restore"))
    temporary = path.with_name(f".{path.name}.restore")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    temporary.replace(path)


def restore(source: Path) -> dict:
    """Restore the archive `source` into this console's (empty) database and var paths; its manifest."""
    engine = _engine()
    with tarfile.open(source, mode="r") as archive:
        members = {member.name: member for member in archive.getmembers() if member.isfile()}

        def read(name: str) -> bytes:
            handle = archive.extractfile(members[name])
            assert handle is not None
            return handle.read()

        if MANIFEST not in members:
            raise BackupError(f"{source} is not an lvsweb backup (it has no {MANIFEST}).")
        manifest = json.loads(read(MANIFEST))
        if manifest.get("format") != ARCHIVE_FORMAT:
            raise BackupError(
                f"{source} is backup format {manifest.get('format')}; this console reads {ARCHIVE_FORMAT}."
            )
        if manifest["database"] != engine:
            raise BackupError(
                f"{source} holds a {manifest['database']} database and this console uses {engine}: "
                "set DATABASE_URL to the kind of database the backup came from."
            )
        if not _database_is_empty(engine):
            raise BackupError(
                "The database is not empty: restore into a new, empty database "
                "(createdb, then point DATABASE_URL at it) so nothing of it is mixed with the backup."
            )
        with tempfile.TemporaryDirectory() as scratch:
            if engine == "postgresql":
                dump = Path(scratch) / PG_DUMP
                dump.write_bytes(read(PG_DUMP))
                connection.close()
                _run(
                    [
                        "pg_restore",
                        "--no-owner",
                        "--no-privileges",
                        "--exit-on-error",
                        "--single-transaction",
                        f"--dbname={connection.settings_dict['NAME']}",
                        str(dump),
                    ]
                )
            else:
                copy = Path(scratch) / SQLITE_COPY
                copy.write_bytes(read(SQLITE_COPY))
                connection.close()
                shutil.copyfile(copy, connection.settings_dict["NAME"])
        targets = key_files()
        for name in manifest["keys"]:
            if name in targets:
                _put_key(targets[name], read(f"var/{name}"))
    return manifest
