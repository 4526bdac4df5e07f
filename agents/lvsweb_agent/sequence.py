"""Report sequences: every signed report carries its stream's next number, so the console refuses replays.

The console accepts a report only when its `sequence` is above the last one it accepted from that host for the
report's stream, and its `sent_at` is within its window (docs/dispatch.md, "Reports: replay"). Streams are
sent by different threads of the agent, so each has its own sequence and a report overtaken by a newer one of
another stream is not refused:

    heartbeat   the heartbeat thread
    deployment  the worker's answers to commands (`deployment`, `plan`, `refusal`, `reading`)
    health      the health monitor
    traffic     the traffic sender

A sequence is the time in nanoseconds, or the last one handed out plus one when the clock reads no later
(`max(time_ns(), last + 1)`), and the last one handed out is written to
`<root>/var/lib/lvsweb-agent/report-sequence.json`, next to the agent's other state. Either half alone would
do most of the time: time alone survives a restart but not a clock set back (the console would then refuse
every report until the clock caught up); the file alone is lost with a crash between a send and its write.
Together a restart goes on above the last sequence even after a clock step back, and a lost write is covered
by time having moved on. The file is replaced atomically (rename), without fsync: a write per report (at
most one a second per stream) stays cheap.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

SEQUENCE_FILE = "var/lib/lvsweb-agent/report-sequence.json"
STREAMS = {
    "heartbeat": "heartbeat",
    "deployment": "deployment",
    "plan": "deployment",
    "refusal": "deployment",
    "reading": "deployment",
    "health": "health",
    "traffic": "traffic",
}


def stream_of(kind: object) -> str:
    """The stream a report kind belongs to (an unknown kind has a stream of its own name)."""
    return STREAMS.get(str(kind), str(kind))


class ReportSequence:
    """Hands out increasing sequences per stream and remembers the last ones under `root` (SEQUENCE_FILE)."""

    def __init__(self, root: str | Path, clock_ns: Callable[[], int] = time.time_ns):
        self.path = Path(root) / SEQUENCE_FILE
        self.clock_ns = clock_ns
        self._lock = threading.Lock()
        self._last = self._load()

    def _load(self) -> dict[str, int]:
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            log.warning("cannot read %s (%s): sequences start from the clock", self.path, exc)
            return {}
        if not isinstance(data, dict):
            return {}
        return {str(k): v for k, v in data.items() if isinstance(v, int) and not isinstance(v, bool)}

    def next(self, kind: object) -> int:
        """The next sequence of `kind`'s stream, above every one handed out before (also before a restart)."""
        stream = stream_of(kind)
        with self._lock:
            sequence = max(self.clock_ns(), self._last.get(stream, 0) + 1)
            self._last[stream] = sequence
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                tmp = self.path.with_name(self.path.name + ".tmp")
                tmp.write_text(json.dumps(self._last, sort_keys=True))
                tmp.replace(self.path)
            except OSError as exc:
                # Not fatal: the clock still moves the sequence on; only a clock set back could repeat one.
                log.error("cannot record the report sequence in %s: %s", self.path, exc)
            return sequence

    def stamp(self, payload: dict[str, Any], now: Callable[[], float] = time.time) -> dict[str, Any]:
        """`payload` with its stream's next `sequence` and `sent_at` (now)."""
        return {**payload, "sent_at": now(), "sequence": self.next(payload.get("kind"))}
