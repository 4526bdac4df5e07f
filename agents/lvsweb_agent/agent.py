"""The in-process API: `Agent(root=..., netns=None).plan(doc) / .apply(doc) / .show() / .reconcile()`.

Used by the CLI, the lab tests, the benchmark and (later) the Celery worker. One Agent keeps its netlink
sockets open, so repeated calls do not pay for setup again.
"""

from __future__ import annotations

import copy
import json
import time
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from lvsweb_agent.delta import MISMATCH_ERRNOS, DeltaPlan, DocumentDelta, plan_delta
from lvsweb_agent.document import DocumentError, parse_document
from lvsweb_agent.ipvsadm import render_save
from lvsweb_agent.kernel import ExecutionResult, KernelIPVS, LinuxKernel
from lvsweb_agent.ledger import STATE_FILE, Ledger, load_ledger, save_ledger
from lvsweb_agent.model import ActualState, DesiredState
from lvsweb_agent.planner import LEFT_ALONE, Plan, plan

if TYPE_CHECKING:
    from lvsweb_agent.check import CheckReport


class HealthView(Protocol):
    """What the Agent needs of a health monitor."""

    def watch(self, desired: DesiredState) -> None:
        """Check the real servers `desired` names (the document being applied)."""

    def adjust(self, desired: DesiredState) -> DesiredState:
        """`desired` with the health seen so far applied."""


class AgentError(RuntimeError):
    """The agent cannot do what was asked (e.g. reconcile before any apply)."""


@dataclass(kw_only=True)
class ApplyResult(ExecutionResult):
    """Outcome of an apply: the plan with the kernel's execution of it (what was applied, the first failure and
    the kernel's message: ExecutionResult's fields, defined once there).
    """

    plan: Plan
    dry_run: bool = False

    @classmethod
    def of(cls, plan: Plan, executed: ExecutionResult) -> ApplyResult:
        """The plan with what the kernel did of it."""
        return cls(plan=plan, **{f.name: getattr(executed, f.name) for f in fields(ExecutionResult)})

    def __str__(self) -> str:
        if self.dry_run:
            return str(self.plan)
        if self.plan.empty:
            return str(self.plan)
        lines = [f"done: {op}" for op in self.applied]
        if self.failed is not None:
            lines.append(f"FAILED: {self.failed}")
            lines.append(f"  {self.error}")
            lines += [f"also refused: {op}\n  {message}" for op, message in self.also_failed]
            lines += [f"not attempted: {op}" for op in self.not_attempted]
            lines.append("Nothing was rolled back; fix the cause and apply again to complete the rest.")
        lines += [f"note: {note}" for note in self.plan.notes]
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "dry_run": self.dry_run,
            "plan": self.plan.to_json(),
            "applied": [op.to_json() for op in self.applied],
            "failed": self.failed.to_json() if self.failed else None,
            "error": self.error,
            "errno": self.errno,
            "also_failed": [{**op.to_json(), "error": message} for op, message in self.also_failed],
            "not_attempted": [op.to_json() for op in self.not_attempted],
        }


class Agent:
    """Makes this host's kernel match desired-state documents; files live under `root`."""

    def __init__(
        self,
        root: str | Path = "/",
        netns: str | None = None,
        kernel: KernelIPVS | None = None,
        health: HealthView | None = None,
    ):
        self.root = Path(root)
        self.netns = netns
        # The health monitor (agents/lvsweb_agent/monitor.py): every plan and apply makes the kernel match the
        # document *as health allows* (a down real server at weight 0 or gone, a sorry server), and an
        # apply tells it which real servers to check.
        self.health = health
        self.kernel = kernel if kernel is not None else LinuxKernel(root=self.root, netns=netns)
        self._ledger: Ledger | None = None
        self._ledger_stamp: tuple[int, int, int] | None = None
        self._parsed: tuple[str, DesiredState] | None = None
        self._saved_document: str | None = None
        #: The parsed document and ledger of the last adopt() (compared by identity).
        self._adopted: tuple[DesiredState, Ledger] | None = None
        #: The saved document's text and its services' texts (a delta writes the document without
        #: dumping the unchanged services again).
        self._texts: tuple[str, list[str]] | None = None
        self.last_mode = ""

    def __enter__(self) -> Agent:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        close = getattr(self.kernel, "close", None)
        if close is not None:
            close()

    @staticmethod
    def desired(doc: dict[str, Any] | DesiredState) -> DesiredState:
        """Validate a document (raises DocumentError) or pass a parsed one through."""
        return doc if isinstance(doc, DesiredState) else parse_document(doc)

    def _stamp(self) -> tuple[int, int, int] | None:
        try:
            stat = (self.root / STATE_FILE).stat()
        except FileNotFoundError:
            return None
        return (stat.st_mtime_ns, stat.st_size, stat.st_ino)

    def ledger(self) -> Ledger:
        """The agent's ownership and drain records (kept in memory; re-read if another process wrote them)."""
        stamp = self._stamp()
        if self._ledger is None or stamp != self._ledger_stamp:
            self._ledger, self._ledger_stamp = load_ledger(self.root), stamp
            document = self._ledger.document
            self._saved_document = None if document is None else _canonical(document)
        return self._ledger

    def _parse(self, doc: dict[str, Any] | DesiredState) -> tuple[DesiredState, str | None]:
        """Validate and parse, reusing the last result when the document is unchanged (a reconcile loop
        re-plans the same document every few seconds; parsing 50,000 real servers is not free)."""
        if isinstance(doc, DesiredState):
            return doc, None
        # reconcile(): the agent's own copy of the last document, unchanged since it was parsed.
        parsed = self._parsed
        reuse = parsed is not None and self._ledger is not None and doc is self._ledger.document
        if reuse and parsed is not None and parsed[0] == self._saved_document:
            return parsed[1], parsed[0]
        try:
            text = _canonical(doc)
        except (TypeError, ValueError):
            return parse_document(doc), None
        if self._parsed is not None and self._parsed[0] == text:
            return self._parsed[1], text
        desired = parse_document(doc)
        self._parsed = (text, desired)
        return desired, text

    def plan(self, doc: dict[str, Any] | DesiredState, now: float | None = None) -> Plan:
        """What apply would do, with reasons; nothing is changed."""
        desired = self._adjusted(self.desired(doc))
        return plan(desired, self._read_to_plan(desired), self.ledger(), now)

    def _read_to_plan(self, desired: DesiredState) -> ActualState:
        """The kernel's state for the planner: LinuxKernel skips decoding what already matches `desired`."""
        read_to_plan = getattr(self.kernel, "read_to_plan", None)
        state: ActualState = read_to_plan(desired) if read_to_plan is not None else self.kernel.read(desired)
        return state

    def _adjusted(self, desired: DesiredState) -> DesiredState:
        return desired if self.health is None else self.health.adjust(desired)

    def apply(self, doc: dict[str, Any] | DesiredState, dry_run: bool = False, now: float | None = None) -> ApplyResult:
        """Plan and apply; stops at the first kernel error. Raises DocumentError on a bad document.

        A document that differs from the last one applied only in a few services is applied as a delta
        (delta.py): only those services are validated, planned and sent, without reading the kernel; a
        refusal that shows the kernel no longer matches falls back to reading it and planning in full.
        `last_mode` says which way the apply went ("delta", "delta+full", "full").
        """
        now = time.time() if now is None else now
        if not dry_run and isinstance(doc, dict):
            result = self._apply_delta(doc, now)
            if result is not None:
                return result
        return self._apply_full(doc, dry_run, now)

    def _apply_delta(self, doc: dict[str, Any], now: float) -> ApplyResult | None:
        """The delta apply, or None when the document must go the full way."""
        ledger = self.ledger()
        old = ledger.document
        if old is None or not ledger.complete:
            return None
        if self.health is not None:
            watching = getattr(self.health, "watching", None)
            if watching is None or watching():
                return None  # health-checked real servers: the full way adjusts them (and watches new ones)
        try:
            planned = plan_delta(old, doc, ledger, now)
            if planned is None:
                return None
            texts = self._service_texts(old, doc, planned[0])
            text = (_spliced(doc, texts) if texts is not None else None) or _canonical(doc)
        except (KeyError, TypeError, ValueError, AttributeError):
            return None  # an odd shape: the full validation words the problem
        delta, delta_plan = planned
        old_text = self._saved_document
        operations = delta_plan.plan.operations
        delta_plan.plan.notes += ledger.left_alone
        executed = self.kernel.execute(operations) if operations else ExecutionResult()
        for op in executed.applied:
            ledger.record(op)
        if not executed.ok and executed.errno in MISMATCH_ERRNOS:
            return self._fall_back(doc, delta_plan.plan, executed, now)
        revision = doc["revision"]
        changed = text != self._saved_document or bool(executed.applied) or ledger.revision != revision
        if executed.ok:
            ledger.adopt_services([service for _, service in delta_plan.new_services])
        if changed or ledger.complete != executed.ok:
            ledger.document, ledger.revision, ledger.complete = _own_copy(old, doc, delta), revision, executed.ok
            self._save(ledger, text if text != self._saved_document else None)
        self._parsed = self._delta_parsed(delta, delta_plan, text, revision, old_text)
        saved = self._saved_document
        self._texts = (saved, texts) if texts is not None and saved is text else None
        self.last_mode = "delta"
        return ApplyResult.of(delta_plan.plan, executed)

    def _service_texts(self, old: dict[str, Any], new: dict[str, Any], delta: DocumentDelta) -> list[str] | None:
        """The canonical JSON of each service of `new`: the unchanged ones' from the last document's
        (kept from the last delta, or split once from it), the changed ones' dumped. None: not known."""
        saved = self._saved_document
        if saved is None:
            return None
        if self._texts is None or self._texts[0] is not saved:
            old_texts = [_canonical(service) for service in old["director"].get("services", [])]
            if _spliced(old, old_texts) != saved:
                return None  # the document's text is not its services' texts spliced in: dump it whole
            self._texts = (saved, old_texts)
        old_texts = self._texts[1]
        services = new["director"].get("services", [])
        return [
            old_texts[old_index] if old_index is not None else _canonical(services[index])
            for index, old_index in enumerate(delta.unchanged_from)
        ]

    def _delta_parsed(
        self, delta: DocumentDelta, delta_plan: DeltaPlan, text: str, revision: int, old_text: str | None
    ) -> tuple[str, DesiredState] | None:
        """The new document parsed, built from the old parse (kept in memory) and the changed services."""
        parsed = self._parsed
        if parsed is None or parsed[0] != old_text or parsed[1].director is None:
            return None
        old_services = parsed[1].director.services
        changed = dict(delta_plan.new_services)
        services = tuple(
            old_services[old_index] if old_index is not None else changed[index]
            for index, old_index in enumerate(delta.unchanged_from)
        )
        director = replace(parsed[1].director, services=services)
        return text, replace(parsed[1], revision=revision, director=director)

    def _fall_back(self, doc: dict[str, Any], delta_plan: Plan, executed: ExecutionResult, now: float) -> ApplyResult:
        """The kernel refused part of a delta: its table is not what the last document left. Read it and plan
        in full; the report has both: what the delta did, then what the full plan did."""
        refused = [(executed.failed, executed.error), *executed.also_failed]
        self.ledger().complete = False
        full = self._apply_full(doc, False, now)
        note = (
            "the kernel's table no longer matched the last applied document ("
            + "; ".join(message for _, message in refused)
            + "): read the kernel and planned in full"
        )
        self.last_mode = "delta+full"
        return ApplyResult(
            plan=Plan(operations=delta_plan.operations + full.plan.operations, notes=[note, *full.plan.notes]),
            applied=executed.applied + full.applied,
            failed=full.failed,
            error=full.error,
            errno=full.errno,
            also_failed=full.also_failed,
            not_attempted=full.not_attempted,
        )

    def _save(self, ledger: Ledger, document_text: str | None) -> None:
        save_ledger(self.root, ledger, document_text=document_text)
        self._ledger_stamp = self._stamp()
        if document_text is not None:
            self._saved_document = document_text

    def _apply_full(self, doc: dict[str, Any] | DesiredState, dry_run: bool, now: float) -> ApplyResult:
        desired, text = self._parse(doc)
        if self.health is not None and not dry_run:
            self.health.watch(desired)
        desired = self._adjusted(desired)
        ledger = self.ledger()
        the_plan = plan(desired, self._read_to_plan(desired), ledger, now)
        if dry_run:
            return ApplyResult(plan=the_plan, dry_run=True)
        executed: ExecutionResult = self.kernel.execute(the_plan.operations)
        for op in executed.applied:
            ledger.record(op)
        # The document is kept even after a failure, so reconcile() completes the rest of it.
        document_text = text if text is not None and text != self._saved_document else None
        if document_text is not None:
            ledger.document = json.loads(document_text)  # our own copy: the caller may change theirs
        changed = document_text is not None or executed.applied or ledger.revision != desired.revision
        ledger.revision = desired.revision
        # Complete only when the kernel was left matching the stored document (a delta starts from it).
        complete = executed.ok and text is not None
        left_alone = [note for note in the_plan.notes if note.startswith(LEFT_ALONE)]
        changed = changed or ledger.complete != complete or ledger.left_alone != left_alone
        ledger.complete, ledger.left_alone = complete, left_alone
        adopted = self._adopted is not None and self._adopted[0] is desired and self._adopted[1] is ledger
        if executed.ok and not (adopted and not executed.applied and not changed):
            # A reconcile that changed nothing and re-plans the document adopted last time would find
            # nothing new to adopt (the records change only with an applied operation or a reload).
            changed = ledger.adopt(desired, ledger.document) or changed
            self._adopted = (desired, ledger)
        if changed or self._ledger_stamp is None:
            self._save(ledger, document_text)
        self.last_mode = "full"
        return ApplyResult.of(the_plan, executed)

    def last_document(self) -> dict[str, Any] | None:
        """The last document applied (completely or not), as stored in the state file."""
        return self.ledger().document

    def held(self) -> DesiredState | None:
        """The last applied document, parsed (the parse is reused while the document is unchanged)."""
        document = self.last_document()
        return None if document is None else self._parse(document)[0]

    def reconcile(self, now: float | None = None) -> ApplyResult:
        """Re-apply the last applied document: completes drains and repairs drift. For the `run` loop."""
        document = self.last_document()
        if document is None:
            raise AgentError("nothing to reconcile: no document has been applied on this host yet")
        # Always the full way: a reconcile reads the kernel to find and repair drift.
        return self._apply_full(document, False, time.time() if now is None else now)

    def show(self, doc: dict[str, Any] | DesiredState | None = None) -> ActualState:
        """The actual state: IPVS table with counters, links, addresses (and sysctls/files `doc` needs)."""
        desired = self.desired(doc) if doc is not None else None
        return self.kernel.read(desired)

    def show_ipvsadm(self) -> str:
        """The IPVS table exactly as `ipvsadm-save -n` prints it."""
        return render_save(self.kernel.read(None).services.values())

    def check(self, doc: dict[str, Any] | DesiredState | None = None) -> CheckReport:
        """What this kernel supports, and what `doc` needs that is missing (see lvsweb_agent.check)."""
        from lvsweb_agent.check import check_kernel

        return check_kernel(self.desired(doc) if doc is not None else None, netns=self.netns)


def state_json(state: ActualState) -> dict[str, Any]:
    """The actual state as JSON-ready data (for `show --json` and reports)."""
    from dataclasses import asdict

    services = []
    for service in sorted(state.services.values(), key=lambda s: s.key):
        data = {
            **service.key.to_json(),
            "family": service.key.family,
            "scheduler": service.scheduler,
            "flags": sorted(service.flags),
            "persistence": asdict(service.persistence) if service.persistence else None,
            "one_packet": service.one_packet,
            "stats": service.counters._asdict() if service.counters else None,
            "real_servers": [],
        }
        for dest in service.real_servers:
            data["real_servers"].append(
                {
                    "address": dest.address,
                    "port": dest.port,
                    "weight": dest.weight,
                    "forward": dest.forward,
                    "tunnel": asdict(dest.tunnel) if dest.tunnel else None,
                    "upper_threshold": dest.upper_threshold,
                    "lower_threshold": dest.lower_threshold,
                    "active_conns": dest.counters.active_conns if dest.counters else 0,
                    "inactive_conns": dest.counters.inactive_conns if dest.counters else 0,
                    "stats": dest.counters._asdict() if dest.counters else None,
                }
            )
        services.append(data)
    return {
        "ipvs_loaded": state.ipvs_loaded,
        "services": services,
        "links": [
            {"name": link.name, "index": link.index, "up": link.up, "kind": link.kind} for link in state.links.values()
        ],
        "addresses": [
            {"interface": address.interface, "address": address.address, "prefix": address.prefix}
            for address in state.addresses
        ],
        "sysctls": state.sysctls,
    }


def _own_copy(old: dict[str, Any], new: dict[str, Any], delta: DocumentDelta) -> dict[str, Any]:
    """Our own copy of `new` (the caller may change theirs), sharing what is unchanged with `old` (ours
    already): copying a 50,000-real-server document for one weight is not free."""
    old_director, new_director = old["director"], new["director"]
    old_services, new_services = old_director.get("services", []), new_director.get("services", [])
    services = [
        old_services[old_index] if old_index is not None else copy.deepcopy(new_services[index])
        for index, old_index in enumerate(delta.unchanged_from)
    ]
    director = {name: old_director[name] for name in new_director if name != "services"}
    if "services" in new_director:
        director["services"] = services
    document = {name: old[name] for name in new if name not in ("revision", "director")}
    document["revision"], document["director"] = new["revision"], director
    return {name: document[name] for name in new}  # the caller's key order


def _canonical(document: dict[str, Any]) -> str:
    return json.dumps(document, sort_keys=True, separators=(",", ":"))


_SERVICES_MARK = "\0lvsweb-services\0"


def _spliced(document: dict[str, Any], texts: list[str]) -> str | None:
    """`_canonical(document)` with `texts` (the canonical text of each of its services) spliced in, or None
    when the document has no director with services."""
    director = document.get("director")
    if type(director) is not dict or "services" not in director:
        return None
    skeleton = _canonical({**document, "director": {**director, "services": _SERVICES_MARK}})
    mark = json.dumps(_SERVICES_MARK)
    if skeleton.count(mark) != 1:
        return None
    return skeleton.replace(mark, "[" + ",".join(texts) + "]")


def dumps(data: dict[str, Any]) -> str:
    """Indented JSON."""
    return json.dumps(data, indent=2, sort_keys=False)


__all__ = ["Agent", "AgentError", "ApplyResult", "DocumentError"]
