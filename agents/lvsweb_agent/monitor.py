"""The director's health monitor: a thread running an asyncio loop that probes every checked real server.

The monitor learns what to check from the document the agent applies: the Agent calls `watch()` on every
apply and `adjust()` on every plan and apply (agents/lvsweb_agent/agent.py), which returns the desired state with
the health seen so far applied (agents/lvsweb_agent/health.py); after a restart the worker has it watch the
document it holds. When a real server changes state the monitor calls
`on_change()` (the `run` loop re-applies the held document through the same planner and netlink path, so
the kernel follows) and sends a `health` report with the transitions; every `report_interval` seconds it
also reports the last result and latency of every checked real server.

Probes run concurrently, at most `concurrency` at a time; each target is probed every `interval` seconds
of its own check.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lvsweb_agent import health
from lvsweb_agent.document import DocumentError, parse_document
from lvsweb_agent.health import Target, TargetState
from lvsweb_agent.kernel import in_netns
from lvsweb_agent.model import DesiredState, HealthCheck, Tunnel
from lvsweb_agent.outcome import ProbeResult
from lvsweb_agent.probes import TunnelProber, probe

log = logging.getLogger(__name__)


@dataclass
class _Watch:
    """One target being watched: its check, its state and its last result."""

    check: HealthCheck
    vip: str | None
    state: TargetState
    tunnel: Tunnel | None = None
    due: float = 0.0
    running: bool = False
    last: ProbeResult | None = None
    checked_at: float | None = None


class HealthMonitor:
    """Probes the checked real servers of the held document and keeps their health (thread-safe)."""

    def __init__(
        self,
        *,
        host: str = "",
        report: Callable[[dict[str, Any]], None] = lambda payload: None,
        on_change: Callable[[], dict[str, Any] | None] = lambda: None,
        netns: str | None = None,
        concurrency: int = 64,
        report_interval: float = 30.0,
        clock: Callable[[], float] = time.time,
    ):
        self.host = host
        self.report = report
        self.on_change = on_change
        self.netns = netns
        self.concurrency = concurrency
        self.report_interval = report_interval
        self.clock = clock
        self._lock = threading.Lock()
        self._watches: dict[Target, _Watch] = {}
        self._desired: DesiredState | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._wake: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.tunnel_error = ""

    # -- what the agent calls -----------------------------------------------------------------------------
    def watch(self, desired: DesiredState | None) -> None:
        """Check the real servers of `desired`, the document being applied (or held after a restart).

        A real server still in the document keeps its health; a new one starts unknown; one that left is
        no longer checked.
        """
        found = health.targets(desired) if desired is not None else {}
        with self._lock:
            for target in list(self._watches):
                if target not in found:
                    del self._watches[target]
            for target, (check, vip, tunnel) in found.items():
                watch = self._watches.get(target)
                if watch is None:
                    self._watches[target] = _Watch(check=check, vip=vip, state=TargetState(), tunnel=tunnel)
                elif watch.check != check or watch.vip != vip or watch.tunnel != tunnel:
                    watch.check, watch.vip, watch.tunnel, watch.due = check, vip, tunnel, 0.0
            self._desired = desired
        self._poke()

    def watching(self) -> int:
        """How many real servers are checked (0: health changes nothing, a delta apply may skip it)."""
        with self._lock:
            return len(self._watches)

    def watch_document(self, document: dict[str, Any] | None) -> None:
        """Watch a stored document (the one held at start), if it is valid."""
        if document is None:
            return
        try:
            self.watch(parse_document(document))
        except DocumentError as exc:
            log.warning("health: the held document is not valid, nothing is checked: %s", exc)

    def adjust(self, desired: DesiredState) -> DesiredState:
        """`desired` with the health seen so far applied (agents/lvsweb_agent/health.py); changes nothing here."""
        with self._lock:
            statuses = self._statuses()
        return health.adjust(desired, statuses)

    def _statuses(self) -> dict[Target, str]:
        return {target: watch.state.status for target, watch in self._watches.items()}

    def statuses(self) -> dict[str, str]:
        """{target id: status} of every checked real server."""
        with self._lock:
            return {target.id: watch.state.status for target, watch in self._watches.items()}

    def snapshot(self) -> list[dict[str, Any]]:
        """Every checked real server with its status, last result and latency (what reports carry)."""
        with self._lock:
            return [
                self._entry(target, watch) for target, watch in sorted(self._watches.items(), key=lambda i: i[0].id)
            ]

    def _entry(self, target: Target, watch: _Watch) -> dict[str, Any]:
        return {
            **target.to_json(),
            "status": watch.state.status,
            "message": watch.last.message if watch.last else "",
            "latency_ms": watch.last.latency_ms if watch.last else None,
            "checked_at": watch.checked_at,
            "check": watch.check.type + ("+tunnel" if watch.check.tunnel else ""),
        }

    # -- the thread ------------------------------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="lvsweb-agent-health", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10) -> None:
        self._stopping.set()
        self._poke()
        if self._thread is not None:
            self._thread.join(timeout)

    def _poke(self) -> None:
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None:
            with contextlib.suppress(RuntimeError):  # the loop has closed
                loop.call_soon_threadsafe(wake.set)

    def _run(self) -> None:
        # Probes leave from the agent's namespace (`--netns`): setns() moves only this thread.
        with in_netns(self.netns):
            asyncio.run(self._main())

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        prober = TunnelProber()
        tunnel: TunnelProber | None = prober
        try:
            prober.open()
        except OSError as exc:
            self.tunnel_error = f"tunnel-path checks unavailable: {exc.strerror or exc}"
            log.warning("%s", self.tunnel_error)
            tunnel = None
        limit = asyncio.Semaphore(self.concurrency)
        tasks: set[asyncio.Task[None]] = set()
        next_report = time.monotonic() + self.report_interval
        try:
            while not self._stopping.is_set():
                now = time.monotonic()
                with self._lock:
                    due = [(t, w) for t, w in self._watches.items() if not w.running and w.due <= now]
                    for _, watch in due:
                        watch.running = True
                        watch.due = now + watch.check.interval
                    waits = [w.due - now for w in self._watches.values() if not w.running]
                for target, watch in due:
                    task = asyncio.create_task(self._probe(target, watch, tunnel, limit))
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)
                if now >= next_report:
                    next_report = now + self.report_interval
                    await asyncio.to_thread(self._send_report, [])
                delay = min([*waits, next_report - now, 1.0])
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), max(delay, 0.01))
        finally:
            for task in tasks:
                task.cancel()
            if tunnel is not None:
                tunnel.close()

    async def _probe(
        self, target: Target, watch: _Watch, tunnel: TunnelProber | None, limit: asyncio.Semaphore
    ) -> None:
        async with limit:
            try:
                result = await probe(watch.check, target.address, tunnel, watch.vip, watch.tunnel)
            except Exception as exc:  # a probe bug must not stop the others
                log.exception("health probe of %s failed", target.id)
                result = ProbeResult(False, f"probe error: {exc}")
        transition = self.record(target, result)
        if transition is not None:
            await asyncio.to_thread(self._changed, [transition])

    def record(self, target: Target, result: ProbeResult) -> dict[str, Any] | None:
        """Apply one probe result; the transition it caused, if any."""
        with self._lock:
            watch = self._watches.get(target)
            if watch is None:
                return None  # no longer in the document
            watch.running = False
            before = watch.state
            watch.state = health.step(before, result.ok, watch.check.rise, watch.check.fall)
            watch.last, watch.checked_at = result, self.clock()
            if watch.state.status == before.status:
                return None
            return {
                **target.to_json(),
                "from": before.status,
                "to": watch.state.status,
                "at": watch.checked_at,
                "message": result.message,
                "latency_ms": result.latency_ms,
            }

    def _changed(self, transitions: list[dict[str, Any]]) -> None:
        for item in transitions:
            log.info(
                "health: %s:%s of %s is %s (%s)",
                item["address"],
                item["port"],
                item["service"],
                item["to"],
                item["message"],
            )
        applied = None
        try:
            applied = self.on_change()
        except Exception as exc:
            log.exception("could not apply the health change")
            applied = {"ok": False, "error": str(exc)}
        self._send_report(transitions, applied)

    def _send_report(self, transitions: list[dict[str, Any]], applied: dict[str, Any] | None = None) -> None:
        with self._lock:
            desired = self._desired
            statuses = self._statuses()
        if desired is None or not (statuses or transitions):
            return  # nothing is checked: a director without checks sends no health reports
        lost = sorted(str(key) for key in health.lost_quorums(desired, statuses))
        payload = {
            "kind": "health",
            "host": self.host,
            "sent_at": self.clock(),
            "results": self.snapshot(),
            "transitions": transitions,
            "quorum_lost": lost,
        }
        if applied is not None:
            payload["applied"] = applied
        if self.tunnel_error:
            payload["tunnel_error"] = self.tunnel_error
        try:
            self.report(payload)
        except Exception:
            log.exception("could not send a health report")
