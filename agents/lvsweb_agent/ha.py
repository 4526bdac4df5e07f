"""The HA follower: keeps up with keepalived's VRRP state on a director (docs/ha.md).

Every `interval` (0.5 s) it
- writes the fitness file keepalived's track script reads: `fit <time>` while the kernel matches the held
  document (checked every `drift_interval`, 15 s) and every VRRP interface is up, `unfit <time> <why>` otherwise.
  It is rewritten at least every second, so a dead or hung agent leaves a stale file and keepalived gives
  the VIPs up (keepalived.py's track script). An agent that stops in order (SIGTERM: `systemctl restart`)
  writes `hold <until>` instead (`hold()`): its restart does not move the VIPs, and if it does not come back
  they go when that time has passed;
- notices each instance's transition (keepalived's notify hook writes them, hastate.py), sends an `ha`
  report with its cause, and at once switches the sync daemons' roles and backup-only mode (haplan.py) —
  the connections a new master takes over must be in its table and not refused by backup-only mode.

It works through an Agent of its own (its own netlink sockets), so it never shares a socket with the
thread applying documents.
"""

from __future__ import annotations

import fcntl
import ipaddress
import logging
import os
import queue
import socket
import struct
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lvsweb_agent import keepalived
from lvsweb_agent.agent import Agent
from lvsweb_agent.hadoc import HighAvailability
from lvsweb_agent.haplan import ROLE_KINDS, ha_operations
from lvsweb_agent.hastate import BACKUP_ONLY, HAActual, VrrpState, read_files
from lvsweb_agent.kernel import LinuxKernel, in_netns
from lvsweb_agent.model import DesiredState

log = logging.getLogger(__name__)

#: Operation kinds that are HA's own and therefore no kernel drift.
HA_KINDS = frozenset(("ha-config", "ha-stop", "sync-daemon"))
REFRESH = 1.0
SIOCGIFFLAGS, IFF_UP, IFF_RUNNING = 0x8913, 0x1, 0x40
#: Rounds that stopped this long make the director unfit even though the fitness writer still runs.
STUCK = 30.0
#: How long keepalived keeps the VIPs of an agent that stopped in order (SIGTERM), waiting for its restart.
RESTART_GRACE = 30.0
GRACE_ENV = "LVSWEB_AGENT_HA_RESTART_GRACE"


def restart_grace_from_environment() -> float:
    """LVSWEB_AGENT_HA_RESTART_GRACE seconds (default 30; 0: an agent that stops gives the VIPs up at once)."""
    value = os.environ.get(GRACE_ENV, "")
    try:
        return max(float(value), 0.0) if value else RESTART_GRACE
    except ValueError:
        log.error("%s=%r is not a number of seconds; using %s", GRACE_ENV, value, RESTART_GRACE)
        return RESTART_GRACE


def transition_cause(previous: str | None, state: str, unfit: str | None) -> str:
    """The cause of a VRRP transition in operator words (keepalived's notify hook gives only the states)."""
    if state == "stop":
        return "keepalived stopped"
    if state == "fault":
        return unfit or "keepalived: fault (interface down or a tracked check failed)"
    if previous in (None, "stop"):
        started = "keepalived started"
        return f"{started}: no higher-priority director heard" if state == "master" else started
    if previous == "fault":
        return "fit again" + (": no higher-priority director heard" if state == "master" else "")
    if state == "master":
        return "the master went silent or gave up the VIP (no advert for 3 × advert_int, or priority 0)"
    return "higher priority advert: another director took the VIP"


def drift_of(agent: Agent, desired: DesiredState) -> str | None:
    """Why the kernel does not match the held document (HA's own operations left out), or None."""
    pending = [op for op in agent.plan(desired).operations if op.kind not in HA_KINDS and op.name != BACKUP_ONLY]
    if not pending:
        return None
    more = f" and {len(pending) - 1} more" if len(pending) > 1 else ""
    return f"agent: kernel drifted from the document ({pending[0]}{more})"


class HAFollower:
    """Follows keepalived on one director: fitness file, sync roles, backup-only, `ha` reports."""

    def __init__(
        self,
        root: str | Path,
        netns: str | None = None,
        report: Callable[[dict[str, Any]], None] | None = None,
        host: str = "",
        agent: Agent | None = None,
        agent_factory: Callable[[], Agent] | None = None,
        clock: Callable[[], float] = time.time,
        drift_interval: float = 15.0,
    ):
        self.root = Path(root)
        # Made on first use: a namespace that is not there yet must not stop the worker from starting.
        self._agent = agent
        self._factory = agent_factory or (lambda: Agent(root=root, netns=netns))
        self.report = report
        self.host = host
        self.clock = clock
        self.drift_interval = drift_interval
        self.states: dict[str, str] = {}
        self.started = clock()
        self.unfit: str | None = None
        self.reports: list[dict[str, Any]] = []  # every report sent (the lab tests read them)
        self._drift: str | None = None
        self._drift_at = float("-inf")
        self._written: tuple[str, float] | None = None
        #: The longest time between two writes of the fitness file so far (how close a live agent came to stale).
        self.longest_gap = 0.0
        self._lock = threading.Lock()
        self._probe: socket.socket | None = None
        self._seen: dict[str, str] | None = None
        self._ran: bool | None = None
        self._seen_pid: int | None = None
        self.active = False  # the held document has an ha section
        self.last_round = time.monotonic()

    @property
    def agent(self) -> Agent:
        if self._agent is None:
            self._agent = self._factory()
        return self._agent

    @property
    def directory(self) -> Path:
        return keepalived.ha_dir(self.root)

    def close(self) -> None:
        if self._probe is not None:
            self._probe.close()
        if self._agent is not None:
            self._agent.close()

    def tick(self) -> None:
        """One round: fitness, transitions, roles. Cheap unless something changed (it runs twice a second)."""
        desired = self.agent.held()
        ha = desired.director.ha if desired is not None and desired.director is not None else None
        kernel = self.agent.kernel
        if desired is None or ha is None or not isinstance(kernel, LinuxKernel):
            self.active = False
            return
        if not self.active and self.directory.is_dir():
            # This agent's first round with HA: the scripts an older agent left are replaced (the track script
            # must know this agent's `hold`, or a restart would move the VIPs).
            try:
                for name in keepalived.refresh_scripts(self.directory):
                    log.info("ha: %s rewritten for this agent", name)
            except OSError as exc:
                log.error("ha: cannot rewrite keepalived's scripts: %s", exc)
        self.active = True
        now = self.clock()
        # The cheap verdict first (an uplink), written at once; the kernel drift (a whole plan) now and then.
        self.unfit = self.uplink_down(ha) or self._drift
        self.write_fitness(now)
        seen = read_files(self.directory)
        masters = self.holding(ha, kernel) if seen.running else set()
        self.with_takeovers(seen, masters, now)
        changed = {name: state.state for name, state in seen.vrrp.items()} != self._seen or seen.running != self._ran
        self._seen, self._ran = {name: state.state for name, state in seen.vrrp.items()}, seen.running
        due = now - self._drift_at >= self.drift_interval
        if changed or due:
            actual = kernel.read_ha()
            self.with_takeovers(actual, masters, now)
            if self._seen_pid is None and actual.pid is not None:
                log.info("ha: keepalived pid %s runs this director's configuration: adopted", actual.pid)
            self._seen_pid = actual.pid
            # Roles first: a report can wait for an unreachable broker (15 s), a new master cannot.
            self.switch_roles(desired, actual, kernel)
            self.follow(ha, actual, now)
        if due:
            self._drift_at = now
            try:
                self._drift = drift_of(self.agent, desired)
            except Exception as exc:  # a kernel that cannot be read is no fit kernel
                self._drift = f"agent: cannot read the kernel: {exc}"
            self.unfit = self.uplink_down(ha) or self._drift
            self.write_fitness(self.clock())
        self.last_round = time.monotonic()

    def holding(self, ha: HighAvailability, kernel: LinuxKernel) -> set[str]:
        """The instances whose every VIP is on their VRRP interface now.

        keepalived adds an instance's VIPs when it becomes master, at once; its notify hook, a shell it forks,
        can run seconds later on a loaded director. The VIPs are the earlier evidence of a takeover.
        """
        try:
            held = kernel.addresses_on({instance.interface for instance in ha.instances})
        except Exception as exc:  # the notify hook still tells, later
            log.warning("ha: cannot read the VRRP interfaces' addresses: %s", exc)
            return set()
        return {
            instance.name
            for instance in ha.instances
            if all(str(ipaddress.ip_address(vip.address)) in held[instance.interface] for vip in instance.vips)
        }

    @staticmethod
    def with_takeovers(actual: HAActual, masters: set[str], now: float) -> None:
        """An instance that holds its VIPs is master, whatever its notify hook has written so far."""
        for name in masters:
            found = actual.vrrp.get(name)
            if found is None or found.state != "master":
                priority = found.priority if found is not None else 0
                actual.vrrp[name] = VrrpState(state="master", priority=priority, since=now)

    @staticmethod
    def switch_roles(desired: DesiredState, actual: HAActual, kernel: LinuxKernel) -> None:
        """The sync daemons' roles and backup-only mode for the VRRP state now (haplan.py decides)."""
        ops = [op for op in ha_operations(desired, actual) if op.kind in ROLE_KINDS]
        ops = [op for op in ops if op.kind == "sync-daemon" or op.name == BACKUP_ONLY]
        if ops:
            result = kernel.execute(ops)
            for op in result.applied:
                log.info("ha: %s", op)
            if not result.ok:
                log.error("ha: %s failed: %s", result.failed, result.error)

    def uplink_down(self, ha: HighAvailability) -> str | None:
        """`uplink eth0 down` when an interface VRRP speaks on is down, without carrier or gone.

        One ioctl per interface on a socket opened in the director's namespace: a netlink dump of every
        link parsed in Python costs far more, twice a second.
        """
        if self._probe is None:
            with in_netns(self.agent.netns):
                self._probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        for interface in sorted({instance.interface for instance in ha.instances}):
            try:
                request = struct.pack("16sH22x", interface.encode()[:15], 0)
                flags = struct.unpack_from("16xH", fcntl.ioctl(self._probe, SIOCGIFFLAGS, request))[0]
            except OSError:
                return f"uplink {interface} down"
            if flags & (IFF_UP | IFF_RUNNING) != IFF_UP | IFF_RUNNING:
                return f"uplink {interface} down"
        return None

    def write_fitness(self, now: float) -> None:
        """The fitness file keepalived's track script reads (rewritten at least every REFRESH seconds).

        Called by the rounds and by FitnessWriter, a thread of its own: a slow round (a plan of a big table
        under load) must not leave the file stale, but rounds that stop altogether make the agent unfit.
        """
        if not self.active or not self.directory.is_dir():
            return  # no HA, or keepalived is not set up yet: the apply writes the directory
        stuck = time.monotonic() - self.last_round > STUCK
        unfit = f"agent: no HA round for {STUCK} s" if stuck else self.unfit
        word = "fit" if unfit is None else f"unfit {unfit}"
        with self._lock:
            if self._written is not None and self._written[0] == word and now - self._written[1] < REFRESH:
                return
            path = self.directory / keepalived.FITNESS
            tmp = path.with_name(".fitness.tmp")
            first, _, rest = word.partition(" ")
            tmp.write_text(f"{first} {now:.3f} {rest}".rstrip() + "\n")
            tmp.replace(path)
            if self._written is not None:
                self.longest_gap = max(self.longest_gap, now - self._written[1])
            self._written = (word, now)

    def hold(self, seconds: float) -> bool:
        """Leave `hold <now + seconds>` in the fitness file (the agent stops in order and is restarting): the
        track script stays fit until then, unless a new agent writes first. Only a director that is fit now
        holds; returns whether it did. Call it once the rounds and the fitness writer have stopped."""
        stuck = time.monotonic() - self.last_round > STUCK
        if not self.active or self.unfit is not None or stuck or seconds <= 0 or not self.directory.is_dir():
            return False
        try:
            with self._lock:
                path = self.directory / keepalived.FITNESS
                tmp = path.with_name(".fitness.tmp")
                tmp.write_text(f"hold {self.clock() + seconds:.3f}\n")
                tmp.replace(path)
                self._written = None
        except OSError as exc:
            log.error("ha: cannot write the fitness file's hold: %s", exc)
            return False
        log.info("ha: stopping; keepalived keeps this director's VIPs for %g s unless an agent is back", seconds)
        return True

    def follow(self, ha: HighAvailability, actual: HAActual, now: float) -> None:
        """Report each instance's transition since the last round."""
        for instance in ha.instances:
            state = actual.state_of(instance.name)
            previous = self.states.get(instance.name)
            if state == previous:
                continue
            self.states[instance.name] = state
            seen = actual.vrrp.get(instance.name)
            payload = {
                "kind": "ha",
                "host": self.host,
                "sent_at": now,
                "instance": instance.name,
                "state": state,
                "previous": previous,
                "at": seen.since if seen is not None and state != "stop" else now,
                "cause": transition_cause(previous, state, self.unfit),
            }
            if previous is None and seen is not None and seen.since < self.started - 1:
                # The agent (re)started: keepalived was in this state already; no transition happened now.
                payload["cause"] = f"agent started: {state} since keepalived's last transition"
            log.info("ha: %s %s -> %s (%s)", instance.name, previous, state, payload["cause"])
            self.reports.append(payload)
            if self.report is not None:
                try:
                    self.report(payload)
                except Exception:
                    log.exception("ha: could not send the report")


class ReportOutbox(threading.Thread):
    """Sends the follower's `ha` reports in order from a thread of its own, so that a round never waits for the
    broker: a report to an unreachable broker retries for up to 15.5 s, and a new master's sync role, the
    fitness file and the next transition cannot wait that long. The console also reads each director's state
    from its heartbeats, so a report dropped when `limit` of them are waiting is repaired by the next one.
    Commands use one too (`name` "command"), for the `applying` report an apply does not wait for."""

    def __init__(self, send: Callable[[dict[str, Any]], None], limit: int = 256, name: str = "ha"):
        super().__init__(name=f"lvsweb-agent-{name}-reports", daemon=True)
        self.send = send
        self.what = name
        self.waiting: queue.Queue[dict[str, Any] | None] = queue.Queue(maxsize=limit)
        self.dropped = 0

    def __call__(self, payload: dict[str, Any]) -> None:
        try:
            self.waiting.put_nowait(payload)
        except queue.Full:
            self.dropped += 1
            log.warning(
                "%s: %d reports wait for the broker; this one is dropped: %s", self.what, self.waiting.qsize(), payload
            )

    def run(self) -> None:
        while True:
            payload = self.waiting.get()
            try:
                if payload is None:  # close(): what was put before it has been sent
                    return
                self.send(payload)
            except Exception:
                log.exception("%s: could not send the report", self.what)
            finally:
                self.waiting.task_done()  # the end marker too, so that a flush after close() returns

    def flush(self) -> None:
        """Wait until every report put here so far has been sent (or given up by `send`)."""
        self.waiting.join()

    def close(self, timeout: float) -> None:
        """Send what waits (for up to `timeout` seconds), then end."""
        try:
            self.waiting.put(None, timeout=timeout)
        except queue.Full:
            return
        self.join(timeout)


class FitnessWriter(threading.Thread):
    """Rewrites the fitness file every half second (the follower's verdict), whatever its rounds cost."""

    def __init__(self, follower: HAFollower, stopping: threading.Event):
        super().__init__(name="lvsweb-agent-ha-fitness", daemon=True)
        self.follower = follower
        self.stopping = stopping

    def run(self) -> None:
        while not self.stopping.wait(REFRESH / 2):
            try:
                self.follower.write_fitness(self.follower.clock())
            except Exception:
                log.exception("ha: cannot write the fitness file")


class HAThread(threading.Thread):
    """Runs `follower.tick()` every `interval` seconds until stopped (and the fitness writer with it)."""

    def __init__(self, follower: HAFollower, interval: float = 0.5):
        super().__init__(name="lvsweb-agent-ha", daemon=True)
        self.follower = follower
        self.interval = interval
        self.stopping = threading.Event()
        self.writer = FitnessWriter(follower, self.stopping)

    def join(self, timeout: float | None = None) -> None:
        super().join(timeout)
        self.writer.join(timeout)

    def run(self) -> None:
        self.writer.start()
        while not self.stopping.is_set():
            try:
                self.follower.tick()
            except Exception:
                log.exception("ha: a round failed; trying again")
            self.stopping.wait(self.interval)

    def stop(self) -> None:
        self.stopping.set()


def ha_facts(actual: HAActual | None, ha: HighAvailability | None) -> dict[str, Any]:
    """Heartbeat facts: `ha` {instance: {state, since}} and `ha_error` when keepalived is not running."""
    if ha is None:
        return {}
    if actual is None:
        return {"ha": {}, "ha_error": "the HA state cannot be read"}
    facts: dict[str, Any] = {"ha": {}}
    for instance in ha.instances:
        seen = actual.vrrp.get(instance.name)
        state = actual.state_of(instance.name)
        facts["ha"][instance.name] = {"state": state, "since": seen.since if seen is not None else None}
    if not actual.running:
        facts["ha_error"] = "keepalived is not running"
    return facts
