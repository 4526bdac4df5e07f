"""SQLite, as Django's backend, with audit entries joining the chain at commit (audit/chain.py)."""

from django.db.backends.sqlite3 import base

from audit.chain import ChainedConnection


class DatabaseWrapper(ChainedConnection, base.DatabaseWrapper):
    """Django's SQLite connection; see `ChainedConnection`."""
