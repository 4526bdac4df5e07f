"""Rate and downsampling maths (traffic/rates.py): counters refreshed every 2 s, read at 1 Hz, with wraps,
resets and gaps."""

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from traffic.rates import (
    COUNTER_MODULUS,
    LIMITS,
    ZERO_RATES,
    Reading,
    advance,
    bucket_start,
    downsample,
    normalize,
)

U64 = 2**64


def kernel_counters(rates, refresh_phase: float, at: float, base: int = 0) -> tuple[int, ...]:
    """What the kernel shows at `at`: traffic up to its last 2-s estimator run, as unsigned 64-bit values."""
    refreshed = math.floor((at - refresh_phase) / 2) * 2 + refresh_phase
    return tuple((base + int(rate * max(refreshed, 0))) % U64 for rate in rates)


def run(readings, **kwargs):
    state, closed = None, []
    for reading in readings:
        state, rolled = advance(state, reading, **kwargs)
        if rolled:
            closed.append(state.rates)
    return state, closed


@given(
    rates=st.tuples(*(st.integers(0, 10**6) for _ in range(5))),
    phase=st.floats(0.1, 0.9),
    jitter=st.lists(st.floats(-0.05, 0.05), min_size=30, max_size=30),
    base=st.integers(0, U64 - 1),
)
def test_steady_traffic_read_at_1_hz_gives_the_true_rate_in_every_window(rates, phase, jitter, base):
    readings = []
    for second, shake in enumerate(jitter, start=10):
        at = second + shake
        readings.append(Reading(at, normalize(kernel_counters(rates, phase, at, base))))

    _, closed = run(readings)

    assert len(closed) >= 13  # a window closes every other read, never every read (no 1-s saw-tooth)
    for window in closed:
        for got, want in zip(window, rates, strict=True):
            assert math.isclose(got, want, rel_tol=0.06, abs_tol=1e-9)


counter = st.integers(0, U64 - 1)


@given(
    steps=st.lists(
        st.tuples(st.floats(0.01, 30), st.tuples(*(counter for _ in range(5)))),
        min_size=1,
        max_size=40,
    )
)
def test_any_counters_never_give_a_negative_or_impossible_rate(steps):
    at, readings = 0.0, []
    for gap, values in steps:
        at += gap
        readings.append(Reading(at, normalize(values)))

    state, closed = run(readings)

    for window in [*closed, state.rates]:
        for rate, limit in zip(window, LIMITS, strict=True):
            assert 0 <= rate <= limit


@given(before=st.integers(1, 10**6), after=st.integers(0, 10**6), per_second=st.integers(1, 10**5))
def test_a_64_bit_wrap_counts_as_traffic(before, after, per_second):
    first = Reading(0.0, normalize([U64 - before] * 5))
    second = Reading(2.0, normalize([after] * 5))

    state, rolled = advance(advance(None, first)[0], second)

    assert rolled
    assert state.rates == tuple([(before + after) / 2.0] * 5)


def test_a_reset_keeps_the_last_honest_rate_and_the_next_window_is_right_again():
    readings = [Reading(t, normalize([10**9 + 100 * t] * 5)) for t in (0.0, 1.0, 2.0)]
    readings += [Reading(3.0, (5,) * 5), Reading(4.0, (105,) * 5), Reading(5.0, (205,) * 5)]

    state, closed = run(readings)

    assert closed == [(100.0,) * 5, (100.0,) * 5]
    assert state.rates == (100.0,) * 5


def test_out_of_order_readings_are_ignored():
    state, _ = run([Reading(0.0, (0,) * 5), Reading(2.0, (200,) * 5)])

    again, rolled = advance(state, Reading(1.0, (50,) * 5))

    assert again == state and not rolled


@given(idle=st.floats(3, 10_000), burst=st.integers(1, 10**6))
def test_a_burst_after_idle_time_is_not_spread_over_the_idle_time(idle, burst):
    """An agent that sends only changed rows: the caller knows the counters stood still until its previous
    batch, so the window that sees the burst is `window` long, not as long as the idle time."""
    state, _ = run([Reading(0.0, (0,) * 5), Reading(2.0, (0,) * 5)])
    assert state.idle

    state, rolled = advance(state, Reading(2.0 + idle, (burst,) * 5), unchanged_until=1.0 + idle)

    assert rolled
    assert state.rates == (burst / 2.0,) * 5
    assert state.span == 2.0  # what history weighs the sample by: the window, not the idle time


def test_a_gap_without_knowledge_gives_the_mean_over_the_gap():
    state, _ = run([Reading(0.0, (0,) * 5), Reading(2.0, (0,) * 5), Reading(62.0, (600,) * 5)])

    assert state.rates == (10.0,) * 5
    assert state.span == 60.0


points = st.lists(
    st.tuples(st.floats(0, 100_000), st.floats(0.5, 5), st.tuples(*(st.floats(0, 1e9) for _ in range(3)))),
    max_size=60,
)


@settings(max_examples=200)
@given(points=points, resolution=st.sampled_from([60, 3600]))
def test_downsampling_keeps_the_total_and_never_exceeds_what_was_seen(points, resolution):
    buckets = downsample(points, resolution)

    for index in range(3):
        total = sum(values[index] * span for _, span, values in points)
        kept = sum(means[index] * resolution for means in buckets.values())
        assert math.isclose(total, kept, rel_tol=1e-9, abs_tol=1e-6)
    for bucket, means in buckets.items():
        inside = [(span, values) for end, span, values in points if bucket_start(end, resolution) == bucket]
        covered = sum(span for span, _ in inside)
        for index in range(3):
            peak = max(values[index] for _, values in inside)
            assert means[index] <= peak * covered / resolution * (1 + 1e-9) + 1e-9


@given(value=st.floats(0, 1e9), resolution=st.sampled_from([60, 3600]), start=st.integers(0, 10**6))
def test_a_fully_covered_bucket_means_the_steady_value(value, resolution, start):
    origin = start * resolution
    windows = [(origin + end, 2.0, (value,)) for end in range(0, resolution, 2)]

    (means,) = downsample(windows, resolution).values()

    assert math.isclose(means[0], value, rel_tol=1e-9, abs_tol=1e-9)


def test_counters_are_kept_modulo_2_63():
    assert normalize([U64 - 1, 5]) == (COUNTER_MODULUS - 1, 5)
    assert ZERO_RATES == (0.0,) * 5
