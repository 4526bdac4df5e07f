"""Transient failures: retried with bounded exponential backoff and jitter, then a clear error.

Used on both sides of dispatch (docs/dispatch.md, "Transient errors"): the console publishing a command,
the agent sending a report, and the agent's apply when the kernel answers with a transient errno.
Permanent errors (a refused document, EINVAL, ...) are never retried: `transient(exc)` decides.
No Django here: the agent imports it.
"""

from __future__ import annotations

import errno
import logging
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from celery import Celery

T = TypeVar("T")

log = logging.getLogger(__name__)

# errnos a netlink request or socket can return when the kernel is busy or short of buffer space for a
# moment; anything else (EINVAL, ENOENT, EEXIST, EPERM, ...) says the request itself is wrong.
TRANSIENT_ERRNOS = frozenset({errno.EBUSY, errno.EAGAIN, errno.EINTR, errno.ENOBUFS})
# Socket errors that mean "the broker is not reachable right now".
UNREACHABLE_ERRNOS = frozenset(
    {
        errno.ECONNREFUSED,
        errno.ECONNRESET,
        errno.ECONNABORTED,
        errno.EPIPE,
        errno.ETIMEDOUT,
        errno.EHOSTUNREACH,
        errno.ENETUNREACH,
        errno.ENETDOWN,
    }
)


@dataclass(frozen=True)
class Backoff:
    """`attempts` tries in all; before try n+1 a wait of `base`·2ⁿ⁻¹ seconds, at most `cap`, jittered.

    The jitter draws each wait uniformly from [½·w, w], so agents that lost the broker together do not come
    back in step, and the whole retry never takes more than `budget()` seconds of waiting, nor less than half.
    """

    attempts: int = 5
    base: float = 0.5
    cap: float = 8.0

    def __post_init__(self) -> None:
        if self.attempts < 1 or self.base < 0 or self.cap < 0:
            raise ValueError(f"invalid backoff {self}: attempts >= 1, base and cap >= 0")

    def ceiling(self, retry: int) -> float:
        """The longest wait before retry number `retry` (1 for the second try)."""
        return min(self.cap, self.base * 2.0 ** (retry - 1))

    def delays(self, rng: Callable[[], float] = random.random) -> Iterator[float]:
        """The waits between tries: attempts - 1 of them."""
        for retry in range(1, self.attempts):
            ceiling = self.ceiling(retry)
            yield ceiling / 2 + rng() * ceiling / 2

    def budget(self) -> float:
        """The most time spent waiting over all tries."""
        return sum(self.ceiling(retry) for retry in range(1, self.attempts))


class GaveUp(Exception):
    """A transient failure that lasted through every try; the message says what, how long and the last error."""

    def __init__(self, what: str, attempts: int, elapsed: float, last: BaseException):
        super().__init__(f"{what}: gave up after {attempts} attempts over {elapsed:.1f} s: {describe(last)}")
        self.attempts = attempts
        self.elapsed = elapsed
        self.last = last


def describe(exc: BaseException) -> str:
    """An exception in a few words: its message, with its type when the message is empty."""
    text = str(exc).strip()
    return text or type(exc).__name__


def retry(
    action: Callable[[], T],
    *,
    what: str,
    transient: Callable[[BaseException], bool],
    backoff: Backoff,
    sleep: Callable[[float], None] = time.sleep,
    rng: Callable[[], float] = random.random,
    clock: Callable[[], float] = time.monotonic,
) -> T:
    """`action()`'s result; a transient failure is tried again after a backoff wait, up to `backoff.attempts`
    tries, then GaveUp (from the last error). Any other exception is raised at once, untouched."""
    started = clock()
    delays = backoff.delays(rng)
    attempt = 0
    while True:
        attempt += 1
        try:
            return action()
        except Exception as exc:
            if not transient(exc):
                raise
            delay = next(delays, None)
            if delay is None:
                raise GaveUp(what, attempt, clock() - started, exc) from exc
            log.warning(
                "%s failed (%s); try %d of %d in %.2f s", what, describe(exc), attempt + 1, backoff.attempts, delay
            )
            sleep(delay)


def broker_unreachable(exc: BaseException) -> bool:
    """Whether EXC means the broker could not be reached (worth another try), not a refused message."""
    from kombu.exceptions import OperationalError
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import TimeoutError as RedisTimeoutError

    # kombu wraps a connection failure in OperationalError; a bare socket or redis error can also escape.
    if isinstance(exc, OperationalError | RedisConnectionError | RedisTimeoutError | ConnectionError | TimeoutError):
        return True
    return isinstance(exc, OSError) and exc.errno in UNREACHABLE_ERRNOS


def kernel_busy(exc: BaseException) -> bool:
    """Whether EXC is a kernel/netlink error with a transient errno (EBUSY, EAGAIN, EINTR, ENOBUFS)."""
    code = getattr(exc, "code", None) if not isinstance(exc, OSError) else exc.errno
    return code in TRANSIENT_ERRNOS


def send_task_once(app: Celery, name: str, *, args: list[object], queue: str, **options: object) -> None:
    """`app.send_task` with one connection attempt and no retry of kombu's own, so that the Backoff around it
    is the only retry policy (kombu would otherwise keep reconnecting for `broker_connection_timeout` seconds,
    then retry the publish three times, inside every single try)."""
    with app.producer_or_acquire() as producer:
        producer.connection.ensure_connection(max_retries=0)
        app.send_task(name, args=args, queue=queue, retry=False, producer=producer, **options)
