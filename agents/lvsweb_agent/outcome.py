"""The outcome of one health probe, shared by every kind of probe."""

from __future__ import annotations

import time
from dataclasses import dataclass


@dataclass(frozen=True)
class ProbeResult:
    """One probe's outcome: ok or not, a message in operator words, and the time it took."""

    ok: bool
    message: str
    latency_ms: float | None = None


def elapsed(started: float) -> float:
    """Milliseconds since `started` (a time.monotonic() value), rounded for reports."""
    return round((time.monotonic() - started) * 1000, 2)
