"""Backoff and retry (agents/lvsweb_agent/retry.py): bounded waits with jitter, permanent errors never retried."""

from __future__ import annotations

import errno

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from kombu.exceptions import OperationalError
from lvsweb_agent.netlink import NetlinkError
from lvsweb_agent.retry import Backoff, GaveUp, broker_unreachable, kernel_busy, retry

backoffs = st.builds(
    Backoff,
    attempts=st.integers(min_value=1, max_value=12),
    base=st.floats(min_value=0, max_value=5, allow_nan=False),
    cap=st.floats(min_value=0, max_value=30, allow_nan=False),
)


@settings(deadline=None)  # a machine shared with other work: timing is no part of it
@given(backoff=backoffs, draws=st.lists(st.floats(min_value=0, max_value=1, exclude_max=True), min_size=12))
def test_waits_are_bounded_jittered_and_never_shrink_in_ceiling(backoff, draws):
    rolls = iter(draws)
    delays = list(backoff.delays(rng=lambda: next(rolls)))
    assert len(delays) == backoff.attempts - 1
    ceilings = [backoff.ceiling(n) for n in range(1, backoff.attempts)]
    assert all(ceiling / 2 <= delay <= ceiling <= backoff.cap for delay, ceiling in zip(delays, ceilings, strict=True))
    assert ceilings == sorted(ceilings)
    assert sum(delays) <= backoff.budget() + 1e-9
    assert sum(delays) >= backoff.budget() / 2 - 1e-9


@settings(deadline=None)
@given(backoff=backoffs, failures=st.integers(min_value=0, max_value=15))
def test_a_transient_failure_is_tried_again_until_the_bound(backoff, failures):
    calls, waits = [], []

    def action():
        calls.append(1)
        if len(calls) <= failures:
            raise ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused")
        return "sent"

    clock = iter(range(1000))
    run = lambda: retry(  # noqa: E731
        action, what="sending", transient=broker_unreachable, backoff=backoff, sleep=waits.append,
        rng=lambda: 0.5, clock=lambda: next(clock),
    )  # fmt: skip
    if failures < backoff.attempts:
        assert run() == "sent"
        assert len(calls) == failures + 1 and len(waits) == failures
    else:
        with pytest.raises(GaveUp) as caught:
            run()
        assert len(calls) == backoff.attempts and len(waits) == backoff.attempts - 1
        assert str(caught.value).startswith(f"sending: gave up after {backoff.attempts} attempts over ")
        assert str(caught.value).endswith("Connection refused")
        assert isinstance(caught.value.__cause__, ConnectionRefusedError)


def test_a_permanent_error_is_raised_at_once_without_waiting():
    calls, waits = [], []

    def action():
        calls.append(1)
        raise NetlinkError(errno.EINVAL, "address not unicast")

    with pytest.raises(NetlinkError, match="Invalid argument"):
        retry(action, what="applying", transient=kernel_busy, backoff=Backoff(attempts=5), sleep=waits.append)
    assert calls == [1] and waits == []


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused."), True),
        (ConnectionResetError(errno.ECONNRESET, "reset"), True),
        (TimeoutError("timed out"), True),
        (OSError(errno.EHOSTUNREACH, "No route to host"), True),
        (ValueError("not JSON serializable"), False),
        (OSError(errno.EACCES, "Permission denied"), False),
    ],
)
def test_what_counts_as_an_unreachable_broker(error, expected):
    assert broker_unreachable(error) is expected


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        *((code, True) for code in (errno.EBUSY, errno.ENOBUFS, errno.EINTR, errno.EAGAIN)),
        *((code, False) for code in (errno.EINVAL, errno.ENOENT, errno.EEXIST, errno.EPERM)),
    ],
)
def test_what_counts_as_a_busy_kernel(code, expected):
    assert kernel_busy(NetlinkError(code)) is expected
    assert kernel_busy(OSError(code, "x")) is expected


def test_a_backoff_must_make_sense():
    with pytest.raises(ValueError, match="attempts >= 1"):
        Backoff(attempts=0)
