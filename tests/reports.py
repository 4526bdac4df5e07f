"""Signed agent reports as the agent's Reporter seals them: with `sent_at` and the next sequence of their stream."""

from __future__ import annotations

import threading
import time

from lvsweb_agent.envelope import seal

_lock = threading.Lock()
_previous = 0


def next_sequence() -> int:
    """A sequence above every one handed out before in this process (nanoseconds, like the agent's)."""
    global _previous
    with _lock:
        _previous = max(time.time_ns(), _previous + 1)
        return _previous


def sealed_report(payload: dict, key, signer: str) -> dict:
    """`payload` signed by `signer`, stamped now with a fresh sequence unless the test set its own."""
    stamped = {"sent_at": time.time(), "sequence": next_sequence(), **payload}
    return seal(stamped, key, signer)
