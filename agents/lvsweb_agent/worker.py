"""`lvsweb-agent run`: a Celery worker on this host's own queue, plus a heartbeat thread. No Django.

One task, `lvsweb.agent.command`, a thin wrapper around `CommandHandler.handle` (broker_commands.py).
The worker uses the solo pool: one command at a time, in the long-lived process that holds the netlink
sockets. The broker is not trusted (docs/dispatch.md), so the worker accepts JSON only, runs no remote
control (no pidbox: nobody can shut it down or reconfigure it through Redis), and registers no task but
its own. Its transport (agents/lvsweb_agent/broker.py) drops junk on its queue instead of dying on it, and counts the
drops in `<root>/var/lib/lvsweb-agent/dropped-messages.json` (heartbeats carry the counts).
"""

from __future__ import annotations

import logging
import threading
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from celery import Celery, signals
from celery.exceptions import SecurityWarning
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from lvsweb_agent.agent import Agent
from lvsweb_agent.broker import CONTROL_QUEUE, broker_options
from lvsweb_agent.broker_commands import CommandHandler
from lvsweb_agent.config import AgentConfig
from lvsweb_agent.envelope import seal
from lvsweb_agent.ha import HAFollower, HAThread, ReportOutbox, restart_grace_from_environment
from lvsweb_agent.ledger import load_ledger
from lvsweb_agent.monitor import HealthMonitor
from lvsweb_agent.retry import Backoff, GaveUp, broker_unreachable, retry, send_task_once
from lvsweb_agent.screen import DropFile, transport_for
from lvsweb_agent.sequence import ReportSequence
from lvsweb_agent.stats import StatsSender, interval_from_environment

COMMAND_TASK = "lvsweb.agent.command"
REPORT_TASK = "lvsweb.control.report"
TRAFFIC_TASK = "lvsweb.control.traffic"
DROP_FILE = "var/lib/lvsweb-agent/dropped-messages.json"

log = logging.getLogger(__name__)


def make_app(broker_url: str, queue: str, on_drop: Callable[[str, str], None] | None = None) -> Celery:
    """A Celery app that consumes only `queue`, speaks JSON only, and takes no remote-control commands;
    messages it cannot read are dropped (and passed to `on_drop(reason, detail)`), never fatal."""
    app = Celery("lvsweb-agent", broker=broker_url, set_as_current=False)
    app.conf.update(
        broker_transport=transport_for(broker_url),
        worker_consumer="lvsweb_agent.broker_transport:Consumer",
        task_serializer="json",
        accept_content=["json"],
        result_accept_content=["json"],
        result_backend=None,
        task_ignore_result=True,
        task_create_missing_queues=True,
        task_acks_late=True,
        worker_prefetch_multiplier=1,
        worker_enable_remote_control=False,
        worker_send_task_events=False,
        worker_hijack_root_logger=False,
        broker_connection_retry_on_startup=True,
        broker_connection_max_retries=None,
        # Its own unacked keys, no queue declarations: what a per-host broker user allows (broker.py).
        **broker_options(queue),
    )
    if on_drop:
        app.conf.broker_transport_options = {**app.conf.broker_transport_options, "on_drop": on_drop}
    app.amqp.queues.select([queue])  # `control` is listed for publishing only, never consumed
    return app


# A report waits up to 0.5 + 1 + 2 + 4 + 8 = 15.5 s for the broker (at least half that: jitter), then is dropped.
REPORT_BACKOFF = Backoff(attempts=6, base=0.5, cap=8.0)


class Reporter:
    """Seals reports with the host's key and sends them to the console's `control` queue.

    Each report gets its stream's next sequence and its `sent_at` (agents/lvsweb_agent/sequence.py) under the lock it
    is sent under, so sequences reach the queue in their order. A broker that cannot be reached is tried again
    with backoff (`backoff`), reports keeping their order (one at a time); after the last try the report is
    dropped with an error in the log.
    """

    def __init__(
        self,
        app: Celery,
        private_key: Ed25519PrivateKey,
        host: str,
        sequence: ReportSequence,
        backoff: Backoff = REPORT_BACKOFF,
    ):
        self.app = app
        self.private_key = private_key
        self.host = host
        self.sequence = sequence
        self.backoff = backoff
        self._lock = threading.Lock()

    def __call__(self, payload: dict[str, Any]) -> None:
        kind = payload.get("kind")
        what = f"sending a {kind} report to the console" + (
            f" (deployment {payload['deployment']})" if payload.get("deployment") else ""
        )
        envelope: dict[str, Any] = {}

        def send() -> None:
            send_task_once(self.app, REPORT_TASK, args=[envelope], queue=CONTROL_QUEUE)

        try:
            with self._lock:
                # Sealed when its turn comes: a report that waited behind a retrying one is not sent stale.
                envelope.update(seal(self.sequence.stamp(payload), self.private_key, signer=self.host))
                retry(send, what=what, transient=broker_unreachable, backoff=self.backoff)
        except GaveUp as exc:
            # Not fatal: the next heartbeat carries the applied serial again; an unanswered command expires.
            log.error("%s; the report is dropped", exc)
        except Exception:
            log.exception("could not send a %s report to the console", kind)


class Heartbeat(threading.Thread):
    """Calls `handler.heartbeat()` at once and then every `interval` seconds until stopped."""

    def __init__(self, handler: CommandHandler, interval: float):
        super().__init__(name="lvsweb-agent-heartbeat", daemon=True)
        self.handler = handler
        self.interval = interval
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.is_set():
            try:
                self.handler.heartbeat()
            except Exception:
                log.exception("heartbeat failed; trying again in %s s", self.interval)
            self.stopping.wait(self.interval)

    def stop(self) -> None:
        self.stopping.set()


def traffic_sender(
    app: Celery, private_key: Ed25519PrivateKey, host: str, interval: float, sequence: ReportSequence
) -> Callable[[dict[str, Any]], None]:
    """Sends signed traffic batches without retrying: a batch the broker cannot take now is dropped (the next
    one supersedes it), and one that waits in the queue past a few intervals expires unread. Each carries the
    traffic stream's next sequence (one sending thread: they leave in order)."""

    def send(payload: dict[str, Any]) -> None:
        envelope = seal(sequence.stamp(payload), private_key, signer=host)
        try:
            app.send_task(
                TRAFFIC_TASK, args=[envelope], queue=CONTROL_QUEUE, retry=False, expires=max(30.0, 10 * interval)
            )
        except Exception as exc:
            log.warning("could not send a traffic batch to the console: %s", exc)

    return send


def build_worker_app(
    config: AgentConfig,
    netns: str | None = None,
    monitor: HealthMonitor | None = None,
    sequence: ReportSequence | None = None,
) -> tuple[Celery, CommandHandler]:
    """The agent's Celery app with its one task registered, and the handler behind that task.

    With `monitor`, every plan and apply goes through its health view, and health changes re-apply.
    """
    drops = DropFile(Path(config.root) / DROP_FILE)
    app = make_app(config.broker_url, config.queue, on_drop=drops)
    reporter = Reporter(app, config.host_key(), config.host, sequence or ReportSequence(config.root))
    handler = CommandHandler(
        host=config.host,
        root=config.root,
        control_key=config.control_key(),
        report=reporter,
        agent_factory=lambda: Agent(root=config.root, netns=netns, health=monitor),
        netns=netns,
        dropped_messages=drops.read,
    )

    # A message that passes the transport's screen but is no command of ours is dropped by Celery: counted too.
    def unknown_task(**kwargs: object) -> None:
        drops("unknown_task", "")

    def rejected_task(**kwargs: object) -> None:
        drops("rejected", "")

    signals.task_unknown.connect(unknown_task, weak=False)
    signals.task_rejected.connect(rejected_task, weak=False)
    if monitor is not None:
        monitor.host, monitor.report, monitor.on_change = config.host, reporter, handler.health_changed
        # After a restart, check what the held document names (every server starts unknown).
        try:
            monitor.watch_document(load_ledger(config.root).document)
        except (OSError, ValueError) as exc:
            log.warning("health: cannot read the held document, nothing is checked until an apply: %s", exc)

    @app.task(name=COMMAND_TASK, ignore_result=True)  # type: ignore[untyped-decorator]  # Celery ships no hints
    def command(*args: object, **kwargs: object) -> None:
        """A command from the console: one envelope signed by `control`."""
        handler.handle(*args, **kwargs)

    app.finalize()
    # Celery registers its own built-in tasks (chains, chords, …) on every app; an agent runs only its own.
    for name in [name for name in app.tasks if name != COMMAND_TASK]:
        app.tasks.unregister(name)
    return app, handler


def run_worker(config: AgentConfig, netns: str | None = None, loglevel: str = "INFO") -> int:
    """Serve `config.queue` until SIGTERM/SIGINT; returns the worker's exit code."""
    monitor = HealthMonitor(netns=netns, report_interval=config.heartbeat_interval)
    sequence = ReportSequence(config.root)  # one for every stream: they share its file
    app, handler = build_worker_app(config, netns=netns, monitor=monitor, sequence=sequence)
    # The agent must run as root (netlink, sysctls). Celery's warning about root is about pickle, which
    # this worker never accepts (JSON only), so it would only alarm the operator.
    warnings.filterwarnings("ignore", category=SecurityWarning)
    heartbeat = Heartbeat(handler, config.heartbeat_interval)
    worker = app.Worker(
        hostname=f"lvsweb-agent@{config.host}",
        pool_cls="solo",
        concurrency=1,
        queues=[config.queue],
        loglevel=loglevel,
        without_gossip=True,
        without_mingle=True,
        without_heartbeat=True,
        quiet=True,
    )
    # Director HA (docs/ha.md): follows keepalived with an Agent of its own (its own netlink sockets); its
    # reports leave from a thread of their own, so that a round never waits for the broker.
    outbox = ReportOutbox(handler.report)
    follower = HAFollower(
        config.root,
        netns,
        report=outbox,
        host=config.host,
        agent_factory=lambda: Agent(root=config.root, netns=netns, health=monitor),
    )
    ha_thread = HAThread(follower)
    outbox.start()
    heartbeat.start()
    monitor.start()
    ha_thread.start()
    stats_interval = interval_from_environment()
    stats = None
    if stats_interval:
        send = traffic_sender(app, config.host_key(), config.host, stats_interval, sequence)
        stats = StatsSender(host=config.host, send=send, netns=netns, interval=stats_interval)
        stats.start()
    try:
        worker.start()
    finally:
        ha_thread.stop()
        ha_thread.join(timeout=5)
        # Stopping in order (SIGTERM: a restart, an upgrade): keepalived runs on (the unit's KillMode=process)
        # and keeps the VIPs for the grace; a new agent's first round takes over, else they go (docs/ha.md).
        follower.hold(restart_grace_from_environment())
        follower.close()
        outbox.close(timeout=5)
        monitor.stop()
        heartbeat.stop()
        heartbeat.join(timeout=5)
        if stats is not None:
            stats.stop()
            stats.join(timeout=5)
            stats.close()
        handler.close()
    return worker.exitcode or 0
