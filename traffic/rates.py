"""Rates from the kernel's cumulative IPVS counters: pure functions, no Django (docs/traffic.md, "Rates").

The kernel adds up its per-CPU counters only when its rate estimator runs, about every 2 s (DESIGN.md):
read at 1 Hz, the counters move every other read. A rate over 1 s would saw-tooth between 0 and twice
the truth, so a rate is computed over a window of at least `WINDOW` seconds of the agent's own clock
(a few hundred milliseconds of timer jitter are tolerated), and it holds until the next window closes.

Counters are kept modulo 2**63 (what PostgreSQL's bigint holds); a counter that went down is either a
64-bit wrap (a small difference modulo 2**63: counted) or a reset — the agent or kernel restarted, a real
server was re-added — which would read as an impossible rate: then the window restarts and the last
honest rate is kept. A rate is therefore never negative and never above `LIMITS`.
"""

from __future__ import annotations

from operator import gt, sub
from typing import NamedTuple

COUNTER_MODULUS = 2**63
WINDOW = 2.0
#: A window closes once this much of WINDOW has passed (reads at 1 Hz jitter by a few milliseconds).
WINDOW_TOLERANCE = 0.75
COUNTERS = ("conns", "in_packets", "out_packets", "in_bytes", "out_bytes")
RATES = ("cps", "in_pps", "out_pps", "in_bps", "out_bps")
#: Per-second ceilings no director reaches (10^8 connections, 10^10 packets, 10^13 bytes = 80 Tbit/s):
#: a difference above them is a reset, not traffic.
LIMITS = (1e8, 1e10, 1e10, 1e13, 1e13)
ZERO_RATES = (0.0, 0.0, 0.0, 0.0, 0.0)


def normalize(counters) -> tuple[int, ...]:
    """The kernel's unsigned 64-bit counters as stored: modulo 2**63, each at least 0."""
    return tuple([int(value) % COUNTER_MODULUS for value in counters])


# Named tuples, not frozen dataclasses: a busy director's batch makes two of each per series (11,000 series at
# 1,000 x 10), and a frozen dataclass's __init__ costs several times a tuple's.
class Reading(NamedTuple):
    """The five cumulative counters (normalized) of one series, read at `at` (agent clock, seconds)."""

    at: float
    counters: tuple[int, ...]


class RateState(NamedTuple):
    """Where a series' rate window started, the latest reading, and the rates of the last closed window."""

    anchor: Reading
    last: Reading
    rates: tuple[float, ...] = ZERO_RATES
    #: Seconds the rates cover (the window that closed last; 0 before the first).
    span: float = 0.0

    @property
    def idle(self) -> bool:
        """No traffic in the last window and none counted since: nothing will change until counters move."""
        return self.rates == ZERO_RATES and self.anchor.counters == self.last.counters


def window_rates(start: Reading, end: Reading) -> tuple[float, ...] | None:
    """Per-second rates between two readings, or None when they cannot be from the same run of counters
    (time did not advance, or a difference is impossible: a reset)."""
    elapsed = end.at - start.at
    if elapsed <= 0:
        return None
    # map() over the five counters rather than a loop: this runs for every busy series at every batch
    rates = tuple([(difference % COUNTER_MODULUS) / elapsed for difference in map(sub, end.counters, start.counters)])
    if any(map(gt, rates, LIMITS)):
        return None
    return rates


def start(reading: Reading) -> RateState:
    """The state of a series seen for the first time (or after a reset): no rate yet."""
    return RateState(anchor=reading, last=reading)


def advance(
    state: RateState | None,
    reading: Reading,
    *,
    window: float = WINDOW,
    unchanged_until: float | None = None,
) -> tuple[RateState, bool]:
    """The state after `reading`, and whether a window closed (the rates are new).

    `unchanged_until`: a time up to which the caller knows the counters still had their last values (the
    previous batch of an agent that only sends changed rows). It lets a series that sat idle start its
    window no earlier than `window` before the reading, instead of at the old anchor, which would spread
    a burst over the whole idle time.
    """
    if state is None:
        return start(reading), False
    if reading.at <= state.last.at:
        return state, False  # a reading out of order or repeated: ignore it
    anchor = state.anchor
    if unchanged_until is not None and state.last.counters == anchor.counters:
        anchor = Reading(max(anchor.at, min(unchanged_until, reading.at - window)), anchor.counters)
    if reading.at - anchor.at < window * WINDOW_TOLERANCE:
        if window_rates(state.last, reading) is None:
            return RateState(anchor=reading, last=reading, rates=state.rates, span=state.span), False
        return RateState(anchor=state.anchor, last=reading, rates=state.rates, span=state.span), False
    rates = window_rates(anchor, reading)
    if rates is None:
        return RateState(anchor=reading, last=reading, rates=state.rates, span=state.span), False
    return RateState(anchor=reading, last=reading, rates=rates, span=reading.at - anchor.at), True


def bucket_start(at: float, resolution: int) -> float:
    """The start of the `resolution`-second bucket that holds time `at` (Unix seconds)."""
    return at - (at % resolution)


def downsample(points, resolution: int) -> dict[float, tuple[float, ...]]:
    """Time-weighted means per bucket: `points` are (end, span, values) of raw windows; each value counts
    for its window's span, and time no point covers (idle or no data) counts as zero.

    A window that straddles a bucket boundary counts in the bucket of its end (spans are ~2 s, buckets
    60 s or more: the error is bounded by one window per bucket edge).
    """
    sums: dict[float, list[float]] = {}
    for end, span, values in points:
        bucket = bucket_start(end, resolution)
        acc = sums.setdefault(bucket, [0.0] * len(values))
        for index, value in enumerate(values):
            acc[index] += value * span
    return {bucket: tuple(total / resolution for total in acc) for bucket, acc in sums.items()}
