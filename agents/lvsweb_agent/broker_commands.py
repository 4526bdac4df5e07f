"""Commands from the console, without Celery: verify the envelope, act through the Agent, report.

`lvsweb-agent run` (agents/lvsweb_agent/worker.py) wraps `CommandHandler.handle` in its one Celery task and calls
`CommandHandler.heartbeat` from its heartbeat thread. The payloads are docs/dispatch.md's; every report goes
through the `report` callback, which seals it with the host's key and sends it to the console.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from lvsweb_agent.adopt import read_host
from lvsweb_agent.agent import Agent, AgentError, ApplyResult
from lvsweb_agent.delta import delta_is_valid
from lvsweb_agent.document import DocumentError
from lvsweb_agent.envelope import EnvelopeError, envelope_signer, open_envelope
from lvsweb_agent.errors import describe_exception
from lvsweb_agent.facts import host_facts
from lvsweb_agent.ha import ReportOutbox, ha_facts
from lvsweb_agent.kernel import LinuxKernel
from lvsweb_agent.model import DesiredState
from lvsweb_agent.planner import Plan
from lvsweb_agent.retry import TRANSIENT_ERRNOS, Backoff, GaveUp, kernel_busy, retry
from lvsweb_agent.serial import load_applied_serial, save_applied_serial

CONTROL_SIGNER = "control"
COMMAND_KINDS = ("apply", "plan", "reconcile", "read")
# A kernel that answers EBUSY/EAGAIN/EINTR/ENOBUFS is asked again (re-planned from what it now holds) after
# 0.2, 0.4 and 0.8 s at most; the command's lock is held meanwhile (heartbeats do not need it).
APPLY_BACKOFF = Backoff(attempts=4, base=0.2, cap=2.0)

log = logging.getLogger(__name__)


class TransientKernelError(Exception):
    """An apply the kernel refused with a transient errno: worth planning and applying again."""

    def __init__(self, result: ApplyResult):
        super().__init__(result.error)
        self.result = result
        self.code = result.errno


class Refused(Exception):
    """A command the agent will not act on; the message says why, in words for the audit history."""

    def __init__(self, message: str, deployment: object = None):
        super().__init__(message)
        self.deployment = deployment


def _when(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def plan_operations(the_plan: Plan) -> list[dict[str, Any]]:
    """A plan's operations as reports carry them (nothing done yet)."""
    return [{**op.to_json(), "done": False} for op in the_plan.operations]


def result_operations(result: ApplyResult) -> list[dict[str, Any]]:
    """An apply's operations as reports carry them: `done`, and the kernel's refusal on the ones it refused."""
    done = {id(op) for op in result.applied}
    errors = {id(op): message for op, message in result.also_failed}
    if result.failed is not None:
        errors[id(result.failed)] = result.error
    operations = []
    for op in result.plan.operations:
        entry = {**op.to_json(), "done": id(op) in done}
        if id(op) in errors:
            entry["error"] = errors[id(op)]
        operations.append(entry)
    return operations


class CommandHandler:
    """One host's side of dispatch: checks every command, runs it on the Agent, reports what happened.

    `report(payload)` sends one report; `agent_factory()` makes the Agent on first use (it opens netlink
    sockets, which are then kept). `lock` serialises Agent use between commands and heartbeats.
    """

    def __init__(
        self,
        *,
        host: str,
        root: str | Path,
        control_key: Ed25519PublicKey,
        report: Callable[[dict[str, Any]], None],
        agent_factory: Callable[[], Agent],
        netns: str | None = None,
        clock: Callable[[], float] = time.time,
        apply_backoff: Backoff = APPLY_BACKOFF,
        dropped_messages: Callable[[], dict[str, int]] = dict,
    ):
        self.host = host
        self.root = Path(root)
        self.control_key = control_key
        self.report = report
        self.agent_factory = agent_factory
        self.netns = netns
        self.clock = clock
        self.apply_backoff = apply_backoff
        self.dropped_messages = dropped_messages
        self.lock = threading.Lock()
        self._agent: Agent | None = None
        # Housekeeping (heartbeats) reads with an Agent of its own, under a lock of its own.
        self._housekeeping = threading.Lock()
        self._reader: Agent | None = None
        self._applies = 0  # applies done under `lock`: a drift read meanwhile is read again
        # An apply's `applying` report leaves from a thread of its own (started on first use), so that the
        # kernel is written without waiting for the broker; `_send` flushes it before the next report.
        self._ahead: ReportOutbox | None = None

    # -- the agent and its serial ------------------------------------------------------------------------
    def agent(self) -> Agent:
        """The long-lived Agent (call with the lock held)."""
        if self._agent is None:
            self._agent = self.agent_factory()
        return self._agent

    def close(self) -> None:
        if self._ahead is not None:
            self._ahead.close(timeout=5)
            self._ahead = None
        with self.lock:
            if self._agent is not None:
                self._agent.close()
                self._agent = None
        with self._housekeeping:
            if self._reader is not None:
                self._reader.close()
                self._reader = None

    def applied_serial(self) -> int | None:
        """The serial of the document this host holds (None before the first apply, or when unreadable)."""
        try:
            return load_applied_serial(self.root)
        except (OSError, ValueError) as exc:
            log.error("%s", exc)
            return None

    def _send(self, kind: str, **fields: object) -> dict[str, Any]:
        payload = {"kind": kind, "host": self.host, "sent_at": self.clock(), **fields}
        if self._ahead is not None:
            self._ahead.flush()  # an `applying` report still on its way goes first
        self.report(payload)
        return payload

    def _send_ahead(self, kind: str, **fields: object) -> None:
        """Send a report without waiting for the broker to take it; the next `_send` waits for it, so the
        console still receives the reports in the order they were made (the command's lock orders them)."""
        if self._ahead is None:
            self._ahead = ReportOutbox(self.report, name="command")
            self._ahead.start()
        self._ahead({"kind": kind, "host": self.host, "sent_at": self.clock(), **fields})

    # -- commands ------------------------------------------------------------------------------------------
    def handle(self, *args: object, **kwargs: object) -> None:
        """Run one command task: exactly one argument, a `control`-signed envelope. Never raises."""
        try:
            if len(args) != 1 or kwargs:
                raise Refused("malformed command: the task takes exactly one argument, a signed envelope")
            command = self.verify(args[0])
        except Refused as exc:
            log.warning("refused a command: %s", exc)
            self._send("refusal", deployment=exc.deployment, serial=self.applied_serial(), error=str(exc))
            return
        except Exception as exc:
            # A bug in checking must still answer (and never act): the console would wait until expiry.
            log.exception("could not check a command")
            error = f"could not check the command: {_describe(exc)}"
            self._send("refusal", deployment=None, serial=self.applied_serial(), error=error)
            return
        kind = command["kind"]
        if kind == "plan":
            self._plan(command)
        elif kind == "read":
            self._read(command)
        else:
            self._deploy(command)

    def verify(self, envelope: object) -> dict[str, Any]:
        """The command's payload once signature, host, expiry, serial and document are all right; else Refused."""
        try:
            signer = envelope_signer(envelope)
            if signer != CONTROL_SIGNER:
                raise Refused(f"unknown signer {signer!r}: commands are signed by the console ({CONTROL_SIGNER!r})")
            payload = open_envelope(envelope, self.control_key)
        except EnvelopeError as exc:
            raise Refused(str(exc)) from None
        # Verified: from here on the payload is the console's own words.
        deployment = payload.get("deployment")
        kind = payload.get("kind")
        if kind not in COMMAND_KINDS:
            raise Refused(f"unknown command kind {kind!r} (expected one of {', '.join(COMMAND_KINDS)})", deployment)
        if payload.get("host") != self.host:
            raise Refused(
                f"wrong host: the command is for {payload.get('host')!r}, this agent serves {self.host!r}", deployment
            )
        expires_at = payload.get("expires_at")
        if isinstance(expires_at, bool) or not isinstance(expires_at, int | float):
            raise Refused("malformed command: no expires_at (every command must have a lifetime)", deployment)
        now = self.clock()
        if now > expires_at:
            raise Refused(
                f"expired: the command expired at {_when(expires_at)}, {now - expires_at:.0f} s before it arrived",
                deployment,
            )
        if kind in ("apply", "plan"):
            self._verify_document(payload, deployment)
        return payload

    def _verify_document(self, payload: dict[str, Any], deployment: object) -> None:
        serial, document = payload.get("serial"), payload.get("document")
        if isinstance(serial, bool) or not isinstance(serial, int):
            raise Refused(f"malformed command: serial must be an integer, not {serial!r}", deployment)
        if not isinstance(document, dict):
            raise Refused("bad document: the command carries no desired-state document", deployment)
        if payload["kind"] == "apply":
            try:
                applied = load_applied_serial(self.root)
            except (OSError, ValueError) as exc:
                raise Refused(f"cannot check the serial: {exc}", deployment) from None
            if applied is not None and serial < applied:
                raise Refused(
                    f"stale serial: the command carries serial {serial}, this host has already applied serial "
                    f"{applied}; an older document is never applied over a newer one",
                    deployment,
                )
        try:
            self._validate(document)
        except DocumentError as exc:
            problems = "; ".join(f"{path}: {message}" for path, message in exc.problems)
            raise Refused(f"bad document, nothing applied: {problems}", deployment) from None
        if document.get("revision") != serial:
            raise Refused(
                f"bad document: its revision {document.get('revision')!r} differs from the command's serial {serial}",
                deployment,
            )

    def _validate(self, document: dict[str, Any]) -> None:
        """Raise DocumentError for a bad document. One that differs from the held one only in a few
        services is checked in those services alone (delta.py): the rest was checked when it was applied."""
        held = None
        with self.lock:
            try:  # only an Agent already made: checking a command never opens the kernel
                held = self._agent.last_document() if self._agent is not None else None
            except (OSError, ValueError) as exc:
                log.warning("cannot read the held document, checking the whole document: %s", exc)
        if held is not None and delta_is_valid(held, document):
            return
        Agent.desired(document)

    def _plan(self, command: dict[str, Any]) -> None:
        deployment = command.get("deployment")
        with self.lock:
            try:
                the_plan = self.agent().plan(command["document"])
            except Exception as exc:
                log.exception("plan failed")
                self._send(
                    "plan",
                    deployment=deployment,
                    serial=self.applied_serial(),
                    operations=[],
                    notes=[],
                    error=f"could not plan: {_describe(exc)}",
                )
                return
        self._send(
            "plan",
            deployment=deployment,
            serial=self.applied_serial(),
            operations=plan_operations(the_plan),
            notes=the_plan.notes,
        )

    def _read(self, command: dict[str, Any]) -> None:
        """Answer a `read` command (adopting a host, lvsweb_agent.adopt): what the kernel runs; changes nothing."""
        reading = command.get("reading")
        with self.lock:
            try:
                table = read_host(self.agent())
            except Exception as exc:
                log.warning("read failed: %s", exc)
                self._send("reading", reading=reading, table=None, error=f"could not read the kernel: {_describe(exc)}")
                return
        self._send("reading", reading=reading, table=table, error="")

    def _deploy(self, command: dict[str, Any]) -> None:
        deployment, kind = command.get("deployment"), command["kind"]
        with self.lock:
            self._applies += 1
            # Every check is done (verify): the kernel is written while `applying` travels to the console.
            self._send_ahead("deployment", deployment=deployment, status="applying", serial=self.applied_serial())
            try:
                agent = self.agent()
                if kind == "apply":
                    result, earlier = self._retrying(lambda: agent.apply(command["document"]))
                    save_applied_serial(self.root, command["serial"], deployment)
                else:
                    result, earlier = self._retrying(agent.reconcile)
            except Exception as exc:
                if not isinstance(exc, AgentError):
                    log.exception("%s failed", kind)
                self._send(
                    "deployment",
                    deployment=deployment,
                    status="failed",
                    serial=self.applied_serial(),
                    operations=[],
                    error=_describe(exc),
                )
                return
        self._send(
            "deployment",
            deployment=deployment,
            status="applied" if result.ok else "failed",
            serial=self.applied_serial(),
            operations=earlier + result_operations(result),
            notes=result.plan.notes,
            error=result.error if not result.ok else "",
        )

    def _retrying(self, run: Callable[[], ApplyResult]) -> tuple[ApplyResult, list[dict[str, Any]]]:
        """run() (an apply or reconcile), again with backoff while the kernel answers with a transient errno.

        Each try plans afresh from what the kernel holds, so operations done by an earlier try are not
        repeated; they come back as `earlier` (done, for the report). After the last try the failed result
        is returned with the tries counted in its error; a transient exception becomes GaveUp. Permanent
        errors (EINVAL, a bad document, ...) are never retried.
        """
        refused: list[ApplyResult] = []  # the tries the kernel refused with a transient errno

        def attempt() -> ApplyResult:
            result = run()
            if not result.ok and result.errno in TRANSIENT_ERRNOS:
                refused.append(result)
                raise TransientKernelError(result)
            return result

        def transient(exc: BaseException) -> bool:
            return isinstance(exc, TransientKernelError) or kernel_busy(exc)

        try:
            result = retry(attempt, what="applying", transient=transient, backoff=self.apply_backoff)
        except GaveUp as exc:
            if not isinstance(exc.last, TransientKernelError):
                raise
            result = refused.pop()
            result.error += f" (still refused after {exc.attempts} tries over {exc.elapsed:.1f} s)"
        earlier = [{**op.to_json(), "done": True} for failed in refused for op in failed.applied]
        return result, earlier

    # -- health ------------------------------------------------------------------------------------------
    def health_changed(self) -> dict[str, Any] | None:
        """A real server's health changed: re-apply the held document, which the health monitor adjusts
        (docs/health.md). Returns what was done, for the health report; None before the first apply."""
        with self.lock:
            self._applies += 1
            agent = self.agent()
            if agent.last_document() is None:
                return None
            result = agent.reconcile()
        return {
            "ok": result.ok,
            "operations": result_operations(result),
            "error": result.error if not result.ok else "",
        }

    # -- heartbeat ---------------------------------------------------------------------------------------
    def heartbeat(self) -> dict[str, Any]:
        """Send one heartbeat: host facts, the applied serial, and the drift (the plan of the held document).

        A kernel that cannot be read makes `drift` null with `drift_error` saying why: never an empty
        drift, which the console would show as "in sync".

        Nothing here holds the lock commands apply under: the drift is read and planned by an Agent of
        the heartbeat's own (its own netlink sockets, the state file re-read when an apply wrote it), so a
        command never waits behind a heartbeat's dump of the table. Only finishing drains, which is an
        apply, takes the lock. A drift read while an apply ran is read again (it could show half of it).
        """
        with self._housekeeping:
            drift: list[dict[str, Any]] | None = None
            desired: DesiredState | None = None
            finished: dict[str, Any] | None = None
            ha: dict[str, Any] = {}
            drift_error = ""
            for _ in range(3):
                applies, busy = self._applies, self.lock.locked()
                try:
                    drift, desired, done, ha = self._drift()
                    drift_error, finished = "", done or finished
                except Exception as exc:
                    log.warning("heartbeat: cannot compute the drift: %s", exc)
                    drift, drift_error = None, f"cannot compute the drift: {_describe(exc)}"
                if not busy and not self.lock.locked() and applies == self._applies:
                    break
        try:
            from lvsweb_agent.check import check_kernel

            check = check_kernel(desired, netns=self.netns).to_json()
        except Exception as exc:
            check = {"ok": False, "error": f"cannot check the kernel: {_describe(exc)}"}
        serial = self.applied_serial()
        facts = {**host_facts(check), "applied_serial": serial, "drift": drift, **ha}
        if drift_error:
            facts["drift_error"] = drift_error
        if finished is not None:
            facts["drains_finished"] = finished
        dropped = self.dropped_messages()
        if dropped:
            facts["dropped_messages"] = dropped  # junk its worker dropped from the broker, by reason
        return self._send("heartbeat", serial=serial, facts=facts)

    def reader(self) -> Agent:
        """The housekeeping Agent (heartbeats, drift): its own sockets, used without the command lock."""
        if self._reader is None:
            self._reader = self.agent_factory()
        return self._reader

    def _drift(self) -> tuple[list[dict[str, Any]], DesiredState | None, dict[str, Any] | None, dict[str, Any]]:
        """(drift, the held document, drains finished, HA facts), read and planned off the command lock."""
        agent = self.reader()
        if agent.last_document() is None:
            return [], None, None, {}
        desired = agent.held()
        if desired is None:
            return [], None, None, {}
        the_plan = agent.plan(desired)
        finished = None
        if _drain_due(the_plan, agent):
            with self.lock:  # an apply: under the command lock (the plan after it is read anew below)
                finished = self._finish_drains(self.agent())
            the_plan = agent.plan(desired)
        return plan_operations(the_plan), desired, finished, self._ha_facts(agent, desired)

    @staticmethod
    def _ha_facts(agent: Agent, desired: DesiredState) -> dict[str, Any]:
        """`ha` / `ha_error` facts for a document with director.ha (docs/ha.md), else none."""
        ha = desired.director.ha if desired.director is not None else None
        if ha is None:
            return {}
        try:
            actual = agent.kernel.read_ha() if isinstance(agent.kernel, LinuxKernel) else None
        except Exception as exc:
            return {"ha": {}, "ha_error": f"cannot read the HA state: {_describe(exc)}"}
        return ha_facts(actual, ha)

    def _finish_drains(self, agent: Agent) -> dict[str, Any]:
        """Re-apply the held document so real servers whose drain is over are deleted (agent-spec 5.2).

        The document is the one the console signed and the agent already applied: this completes that apply.
        """
        result = agent.reconcile()
        log.info("finishing drains: %s", "done" if result.ok else result.error)
        return {"operations": result_operations(result), "error": result.error if not result.ok else ""}


def _drain_due(the_plan: Plan, agent: Agent) -> bool:
    """Whether the plan deletes a real server or service that is draining (its drain is over)."""
    ledger = agent.ledger()
    if not (ledger.draining_dests or ledger.draining_services):
        return False
    for op in the_plan.operations:
        if op.service is None:
            continue
        if op.kind == "del-service" and op.service.key in ledger.draining_services:
            return True
        if (
            op.kind == "del-dest"
            and op.dest is not None
            and (op.service.key, op.dest.address, op.dest.port) in ledger.draining_dests
        ):
            return True
    return False


def _describe(exc: BaseException) -> str:
    """An exception in operator words (agents/lvsweb_agent/errors.py)."""
    return describe_exception(exc)
