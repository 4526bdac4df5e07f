"""Joining audit entries to the chain: in one short step at the commit of the change that wrote them.

Each entry carries the hash of the one before it, so appending needs the chain's newest hash and a lock that
keeps two writers from both appending after it. When every entry took that lock as it was written, the lock
was held from a transaction's first entry to its commit: an import preview of 2,000 services (tens of
seconds of writes) made every other team's change and sign-in wait 13.6 s, and a lock taken in the middle
of a transaction, after row locks, deadlocked against transactions taking the same rows after it.

So an entry waits, unlinked, on the database connection until its transaction commits; then, just before
the COMMIT, the connection takes the chain lock, links the transaction's entries after the newest one and
inserts them in one statement. The lock is the last one a transaction takes and is held only for that
append. A rollback — of the transaction, or of a savepoint the entry was written in — drops the entries with
the change, as the rows themselves would have been; a preview, which always rolls back, never touches the
chain at all.

The database backends in `audit.backends` (settings map Django's own engines to them) add this to the
connection; with any other backend an entry is linked and inserted at once, under the same lock.

Each entry also gets a mac: HMAC-SHA256 of its hash with a key kept outside the database (audit/keys.py), so
that someone who can only write to the database cannot recompute a chain that verifies. After a commit that
took the chain past a multiple of LVSWEB_AUDIT_CHECKPOINT_EVERY entries, a signed checkpoint is written
outside the database (audit/anchors.py) — after, never before: a commit that fails must not leave a
checkpoint naming entries that do not exist.
"""

from collections.abc import Sequence
from typing import TYPE_CHECKING

from django.apps import apps
from django.db import connections

from audit import keys, verify

if TYPE_CHECKING:
    from audit.models import AuditEntry

#: The previous-hash of the first entry.
GENESIS_HASH = verify.GENESIS_HASH

# Any fixed 64-bit number: the key of the PostgreSQL advisory lock that orders writers of the chain.
CHAIN_LOCK_KEY = 0x6C7673776562  # "lvsweb"


def link_and_insert(entries: Sequence["AuditEntry"], *, using: str) -> None:
    """Link `entries` after the chain's newest entry, in order, and insert them (inside a transaction).

    On PostgreSQL the transaction-scoped advisory lock keeps other writers out until this transaction ends;
    SQLite has a single writer anyway (immediate transactions take its write lock at BEGIN).
    """
    # The model by name: the database backends import this module before any model may be imported.
    model = apps.get_model("audit", "AuditEntry")
    connection = connections[using]
    # The key first (cached: a stat of the key file), so that the chain lock is held for nothing else.
    key_id, key = keys.hmac_keyring().current
    previous = _lock_and_read_newest_hash(connection, model) or GENESIS_HASH
    for entry in entries:
        entry.prev_hash = previous
        entry.hash = entry.compute_hash()
        entry.key_id, entry.mac = key_id, verify.entry_mac(key, entry.hash)
        previous = entry.hash
    model.objects.using(using).bulk_create(entries, batch_size=1000)


def _lock_and_read_newest_hash(connection, model) -> str | None:
    """Take the chain's lock, then read the newest entry's hash (None for an empty chain).

    On PostgreSQL both in one round trip: two statements in one query string, each with a snapshot of its own
    (READ COMMITTED takes one per statement, also within one query string), so that the read, made once the
    lock is held, sees the entries of the writer that held it before.
    """
    if connection.vendor != "postgresql":
        return model.objects.using(connection.alias).order_by("-id").values_list("hash", flat=True).first()
    table = connection.ops.quote_name(model._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f'SELECT pg_advisory_xact_lock(%s); SELECT "hash" FROM {table} ORDER BY "id" DESC LIMIT 1',  # noqa: S608
            [CHAIN_LOCK_KEY],
        )
        cursor.nextset()
        row = cursor.fetchone()
    return row[0] if row else None


class ChainedConnection:
    """Mixin for a Django database wrapper: audit entries of a transaction join the chain at its commit.

    Entries are kept with the savepoints that were open when they were written (as Django keeps its
    on-commit callbacks), so that rolling a savepoint back drops exactly the entries written inside it.
    """

    audit_chain = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.audit_pending: list[tuple[set[str], AuditEntry]] = []

    def audit_enqueue(self, entry: "AuditEntry") -> None:
        """Keep `entry` until the transaction it belongs to commits (call inside an atomic block)."""
        self.audit_pending.append((set(self.savepoint_ids), entry))

    def _audit_flush(self) -> list["AuditEntry"]:
        entries = [entry for _sids, entry in self.audit_pending]
        self.audit_pending = []
        link_and_insert(entries, using=self.alias)
        return entries

    def connect(self):
        self.audit_pending = []
        return super().connect()

    def close(self):
        self.audit_pending = []  # a connection closed inside a transaction loses it
        return super().close()

    def _commit(self):
        entries = []
        if self.audit_pending and self.connection is not None:
            entries = self._audit_flush()  # an error here fails the commit, and the change is rolled back with it
        result = super()._commit()
        if entries:
            # Committed: now the entries exist. The follow-up (a checkpoint every N entries, waking the
            # streams) runs as a robust on-commit hook once autocommit is back, so that it may query, and
            # an error there is logged and never fails the change.
            alias = self.alias

            def audit_after_commit():
                from audit import anchors

                anchors.after_commit(entries, alias)

            self.run_on_commit.append((set(), audit_after_commit, True))
        return result

    def _rollback(self):
        self.audit_pending = []
        return super()._rollback()

    def savepoint_rollback(self, sid):
        super().savepoint_rollback(sid)
        self.audit_pending = [(sids, entry) for sids, entry in self.audit_pending if sid not in sids]

    def savepoint_commit(self, sid):
        super().savepoint_commit(sid)
        # Inside a test case's transaction (which is never committed) the outermost block of the code under
        # test ends with a savepoint release instead: the entries join the chain there, as they would at
        # that block's commit outside tests.
        if self.audit_pending and self.atomic_blocks and all(b._from_testcase for b in self.atomic_blocks):
            self._audit_flush()
