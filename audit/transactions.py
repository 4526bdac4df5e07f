"""Transactions that meet other writers: telling "busy" from a fault, and trying a deadlocked one again.

Every audited change is one transaction (STYLE.md); two of them may still meet on the same rows. PostgreSQL
then cancels one of them (a deadlock, a serialization failure), which is safe to run again from the start:
nothing of it was kept, and its on-commit work (broker messages, events) never ran. A lock or statement
timeout (settings: DATABASE_LOCK_TIMEOUT, DATABASE_STATEMENT_TIMEOUT) or SQLite's "database is locked" is
not tried again — it has already waited — and the request answers 503 "busy" (lvsweb/middleware.py).
"""

import functools
import logging
import random
import sqlite3
import time
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from django.db import OperationalError, connection

log = logging.getLogger(__name__)

#: SQLSTATEs of a transaction PostgreSQL cancelled because of another one: run it again.
RETRYABLE_STATES = frozenset({"40P01", "40001"})  # deadlock_detected, serialization_failure
#: SQLSTATEs of a wait that ran out: lock_not_available (lock_timeout), query_canceled (statement_timeout).
TIMEOUT_STATES = frozenset({"55P03", "57014"})

P = ParamSpec("P")
R = TypeVar("R")


def _sqlstate(exc: BaseException) -> str | None:
    return getattr(exc.__cause__, "sqlstate", None) or getattr(exc, "sqlstate", None)


def is_retryable(exc: BaseException) -> bool:
    """A deadlock or serialization failure: the transaction was cancelled whole and may run again."""
    return isinstance(exc, OperationalError) and _sqlstate(exc) in RETRYABLE_STATES


def is_busy(exc: BaseException) -> bool:
    """The database could not serve in time because of other writers (not a fault of this request)."""
    if not isinstance(exc, OperationalError):
        return False
    if _sqlstate(exc) in RETRYABLE_STATES | TIMEOUT_STATES:
        return True
    cause = exc.__cause__
    return isinstance(cause, sqlite3.OperationalError) and "locked" in str(cause)


def retry_on_conflict(func: Callable[P, R], *, attempts: int = 4, base_delay: float = 0.05) -> Callable[P, R]:
    """Run `func` (an action in its own transaction) again when PostgreSQL cancels it for a deadlock.

    Only the outermost transaction can run again: called inside another one, the error goes up to it.
    Waits 50, 100, 200 ms (with jitter) between tries; the last error is raised as it was.
    """

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        for attempt in range(1, attempts + 1):
            try:
                return func(*args, **kwargs)
            except OperationalError as exc:
                if attempt == attempts or connection.in_atomic_block or not is_retryable(exc):
                    raise
                log.info("%s: %s; trying again (%d of %d)", func.__qualname__, exc, attempt + 1, attempts)
                time.sleep(base_delay * 2 ** (attempt - 1) * random.uniform(0.5, 1.5))
        raise AssertionError("unreachable")

    return wrapper
