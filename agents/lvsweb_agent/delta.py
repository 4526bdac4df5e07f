"""Delta apply: a change of a few services costs in proportion to the change, not to the table.

The agent keeps the last document it applied completely (document.json). When a new document differs
from it only in `director.services`, only the services that differ are validated, parsed and planned
(the planner's own IPVS rules on those services alone: the old version stands in for the kernel's), and
only their netlink requests are sent, without reading the kernel. The kernel refuses what no longer
matches (a real server already there, one that is gone: EEXIST, ENOENT, ESRCH): the agent then reads the
kernel and plans in full (agent.py). Drift elsewhere is found by the periodic reconcile, as before;
applying a document whose services did not change goes the full way, so "apply again" still repairs
drift.

Anything the delta cannot decide alone goes the full way: other parts of the document changed, a
service added (its key must be checked against every other service's), a real server or service leaving
with a drain (the drain needs the kernel's connection counts), drains in progress, NAT real servers among
the changed ones (they decide sysctls), health checks, an incomplete last apply.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass
from typing import Any

from lvsweb_agent.document import DocumentError, parse_service
from lvsweb_agent.fastcheck import service_conforms
from lvsweb_agent.ledger import Ledger
from lvsweb_agent.model import ActualState, DesiredState, Director, Service
from lvsweb_agent.planner import PHASES, Plan, ipvs_plan

#: Kernel answers that mean "the table is not what the last document left": plan in full instead.
MISMATCH_ERRNOS = frozenset({errno.EEXIST, errno.ENOENT, errno.ESRCH})

RawKey = tuple[Any, ...]


def _raw_key(service: dict[str, Any]) -> RawKey:
    get = service.get
    return (get("fwmark"), get("family"), get("protocol"), get("address"), get("port"))


@dataclass
class DocumentDelta:
    """How a new document differs from the last applied one: only in these services."""

    #: (index in the new document, raw service) of services that are new or changed.
    changed: list[tuple[int, dict[str, Any]]]
    #: (index in the old document, raw service) of the old versions of changed services and of removed ones.
    old: list[tuple[int, dict[str, Any]]]
    #: Raw keys of the services that left the document.
    removed: set[RawKey]
    #: For each service of the new document, its index in the old one when unchanged, else None.
    unchanged_from: list[int | None]

    @property
    def empty(self) -> bool:
        return not self.changed and not self.removed


def diff_documents(old: dict[str, Any], new: dict[str, Any]) -> DocumentDelta | None:
    """The services that differ, or None when anything else differs (or the lists cannot be matched)."""
    if type(new) is not dict or new.keys() != old.keys():
        return None
    for name, value in new.items():
        if name not in ("revision", "director") and value != old[name]:
            return None
    old_director, new_director = old.get("director"), new.get("director")
    if type(old_director) is not dict or type(new_director) is not dict:
        return None
    if old_director.keys() != new_director.keys():
        return None
    for name, value in new_director.items():
        if name != "services" and value != old_director[name]:
            return None
    old_services, new_services = old_director.get("services", []), new_director.get("services", [])
    if type(new_services) is not list or type(old_services) is not list:
        return None
    # Most services are where they were, unchanged: each is compared in place (one C-level comparison), and
    # only the others are matched by key (at 5,000 services, building 10,000 keys for one weight was most of
    # a delta's time). The last document's keys are unique: it was validated when it was applied.
    count = len(old_services)
    unchanged_from: list[int | None] = []
    rest: list[int] = []
    for index, service in enumerate(new_services):
        if index < count and service == old_services[index]:
            unchanged_from.append(index)
        else:
            unchanged_from.append(None)
            rest.append(index)
    old_rest = [index for index in rest if index < count]
    old_rest.extend(range(len(new_services), count))
    by_key: dict[RawKey, int] = {}
    for index in old_rest:
        by_key[_raw_key(old_services[index])] = index
    if len(by_key) != len(old_rest):
        return None
    in_place: set[RawKey] | None = None  # the keys of the services found in place, read when a new key appears
    changed: list[tuple[int, dict[str, Any]]] = []
    old_changed: list[tuple[int, dict[str, Any]]] = []
    seen: set[RawKey] = set()
    for index in rest:
        service = new_services[index]
        if type(service) is not dict:
            return None
        key = _raw_key(service)
        if key in seen:
            return None  # a duplicate: the full validation words the problem
        seen.add(key)
        old_index = by_key.get(key)
        if old_index is None:
            if in_place is None:
                in_place = {_raw_key(old_services[at]) for at in unchanged_from if at is not None}
            if key in in_place:
                return None  # the key of a service found in place: a duplicate
        elif old_services[old_index] == service:
            unchanged_from[index] = old_index  # moved, unchanged
            continue
        changed.append((index, service))
        if old_index is not None:
            old_changed.append((old_index, old_services[old_index]))
    removed = by_key.keys() - seen
    old_changed += [(by_key[key], old_services[by_key[key]]) for key in removed]
    return DocumentDelta(changed=changed, old=old_changed, removed=removed, unchanged_from=unchanged_from)


def delta_is_valid(old: dict[str, Any], new: dict[str, Any]) -> bool:
    """True when `new` is proven valid by checking only what differs from `old` (a document already
    validated); False means "not proven": validate the whole document."""
    try:
        delta = diff_documents(old, new)
        revision = new.get("revision")
        if delta is None or type(revision) is not int or not 0 <= revision <= 1 << 62:
            return False
        old_keys = {_raw_key(raw) for _, raw in delta.old}
        for index, raw in delta.changed:
            if _raw_key(raw) not in old_keys or _parse(raw, f"$.director.services[{index}]") is None:
                return False
    except (KeyError, TypeError, ValueError, AttributeError):
        return False
    return True


@dataclass
class DeltaPlan:
    """The operations of a delta, and the parsed new versions of the changed services (document order)."""

    plan: Plan
    new_services: list[tuple[int, Service]]
    old_services: list[Service]


def _parse(raw: dict[str, Any], path: str) -> Service | None:
    """One service, validated like the whole document would validate it; None when it has problems (the
    full validation then words them)."""
    if not service_conforms(raw):
        return None
    try:
        return parse_service(raw, path)
    except DocumentError:
        return None


def _undecidable(service: Service) -> bool:
    """A service whose change reaches beyond IPVS or needs what only the kernel knows."""
    if service.quorum is not None:
        return True
    return any(dest.forward == "nat" or dest.health is not None for dest in service.real_servers)


def plan_delta(
    old: dict[str, Any], new: dict[str, Any], ledger: Ledger, now: float
) -> tuple[DocumentDelta, DeltaPlan] | None:
    """The delta's operations, or None when it must go the full way (module docstring)."""
    delta = diff_documents(old, new)
    if delta is None:
        return None
    revision = new.get("revision")
    if type(revision) is not int or not 0 <= revision <= 1 << 62:
        return None
    if ledger.draining_dests or ledger.draining_services:
        return None
    old_services_raw = old["director"].get("services", [])
    new_count = len(new["director"].get("services", []))
    if delta.empty:
        return None  # the same services again: an apply that changes nothing repairs drift (the full way)
    if not old_services_raw or not new_count:
        return None  # the first or last service: modules and files change
    by_key = {_raw_key(raw): index for index, raw in delta.old}
    if any(_raw_key(raw) not in by_key for _, raw in delta.changed):
        return None  # an added service: its key is checked against all the others by the full validation
    new_services: list[tuple[int, Service]] = []
    for index, raw in delta.changed:
        service = _parse(raw, f"$.director.services[{index}]")
        if service is None or _undecidable(service):
            return None
        new_services.append((index, service))
    old_services: list[Service] = []
    for index, raw in delta.old:
        service = _parse(raw, f"$.director.services[{index}]")
        if service is None or _undecidable(service):
            return None
        old_services.append(service)
    drain_timeout = new["director"].get("drain_timeout", 300)
    if drain_timeout != 0:
        wanted = {service.key: service for _, service in new_services}
        for service in old_services:
            keep = wanted.get(service.key)
            if keep is None or not {dest.key for dest in service.real_servers} <= {d.key for d in keep.real_servers}:
                return None  # a drain: it needs the kernel's connection counts
    director = Director(
        owns_ipvs_table=new["director"].get("owns_ipvs_table", False),
        drain_timeout=drain_timeout,
        services=tuple(service for _, service in new_services),
    )
    desired = DesiredState(host=new["host"], revision=revision, director=director)
    actual = ActualState(ipvs_loaded=True, services={service.key: service for service in old_services})
    the_plan = ipvs_plan(desired, actual, ledger, now)
    order = {kind: index for index, kind in enumerate(PHASES)}
    the_plan.operations.sort(key=lambda op: order[op.kind])
    return delta, DeltaPlan(the_plan, new_services, old_services)


__all__ = ["MISMATCH_ERRNOS", "DeltaPlan", "DocumentDelta", "delta_is_valid", "diff_documents", "plan_delta"]
