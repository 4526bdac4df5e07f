"""The Plan of a small change in proportion to the change: each host's new document against its last applied one,
service by service, parsing and planning only the services that differ.

At 500 services × 10 real servers, parsing a director's new document whole (the agent's `parse_document`) and
planning it against the kernel its last document left was most of a one-weight Plan (docs/performance.md,
"Console at scale"). As the agent's delta apply does (`lvsweb_agent.delta`), the new document is compared with
the last applied one, which a Plan parses once and keeps (`parsed_bases`): when they differ only in their
revision and services, a service whose JSON is the same is the same parsed service, and only the others are
checked (`service_conforms`, `parse_service`, as the whole document would check them) and planned, against the
kernel their last applied version left. The rest of the plan (modules, addresses, sysctls, files, keepalived)
depends on the document's other parts, which did not change, and on the sysctls and files its services call for:
the delta is planned with a few unchanged services standing in (`_standing_in`) so that it calls for the same,
and goes the whole way if it does not.

The operations are the same as the whole document's, in the same order (`tests/console_dispatch/
test_preview_bases.py` compares them on random changes). Anything the delta cannot prove goes the whole way
(None): another part of the document changed, a service the agent would refuse (the whole way words the
problems), two services with one key, a base the agent would have refused.
"""

import json
import threading
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from typing import Any

from lvsweb_agent.document import parse_document, parse_service
from lvsweb_agent.fastcheck import service_conforms
from lvsweb_agent.ledger import Ledger
from lvsweb_agent.model import ActualState, Address, DesiredState, Link, Service, ServiceKey
from lvsweb_agent.operations import Operation
from lvsweb_agent.persist import wanted_files, wanted_sysctls
from lvsweb_agent.planner import plan

from dispatch.models import Deployment

RawKey = tuple[Any, ...]


def _raw_key(service: dict[str, Any]) -> RawKey:
    get = service.get
    return (get("fwmark"), get("family"), get("protocol"), get("address"), get("port"))


def _text(value: Any) -> str:
    """JSON as compared: keys sorted (PostgreSQL's jsonb keeps its own order), `1`, `1.0` and `true` apart. A value
    JSON has no word for (never in a stored document) is written as its repr: it differs, and is then checked."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=repr)


def _frame(document: dict[str, Any]) -> str | None:
    """The document without its revision and services, as text: what a delta needs unchanged (None: no director)."""
    director = document.get("director")
    if type(director) is not dict:
        return None
    rest = {name: value for name, value in document.items() if name != "revision"}
    rest["director"] = {name: value for name, value in director.items() if name != "services"}
    return _text(rest)


@dataclass
class ParsedBase:
    """A host's last applied document, parsed once (`state`, or the problems the agent would have refused it
    for), and what the delta compares with it: its frame and each service's JSON with its place in `state`."""

    state: DesiredState | None
    problems: list[str]
    frame: str | None = None
    services: dict[RawKey, tuple[str, int]] = field(default_factory=dict)


def parsed(document: dict[str, Any] | None) -> tuple[DesiredState | None, list[str]]:
    """A document parsed as the agent would (None and the problems, worded as the agent would, if refused)."""
    if document is None:
        return None, []
    try:
        return parse_document(document), []
    except ValueError as exc:  # DocumentError: the agent would refuse it, and say the same
        problems = getattr(exc, "problems", [("$", str(exc))])
        return None, [f"{path}: {message}" for path, message in problems]


def parsed_base(document: dict[str, Any] | None) -> ParsedBase:
    """A last applied document as a base: parsed, and indexed for the delta when the agent would take it."""
    state, problems = parsed(document)
    base = ParsedBase(state, problems)
    if state is not None and state.director is not None and document is not None:
        base.frame = _frame(document)
        raw = document["director"].get("services", [])
        base.services = {_raw_key(service): (_text(service), index) for index, service in enumerate(raw)}
        if len(base.services) != len(state.director.services):
            base.frame = None  # not one parsed service per raw one: no delta against it
    return base


#: Parsed documents of the applies hosts last took, by deployment id. A deployment's document never changes once
#: made, and parsing one of 5,000 real servers is a third of a Plan's time (docs/performance.md, "Console at
#: scale"): the Plan, the Apply page and the Plan again after a one-weight change all compare with the same
#: base. A few entries, each the size of one host's parsed document: the hosts whose Plans are looked at now.
BASES_KEPT = 8
_parsed_bases: OrderedDict[int, ParsedBase] = OrderedDict()
_parsed_bases_lock = threading.Lock()


def parsed_bases(deployments: list[Deployment]) -> dict[int, ParsedBase]:
    """{deployment id: its parsed document}, the documents read (one query) for those not kept."""
    with _parsed_bases_lock:
        found = {d.pk: _parsed_bases[d.pk] for d in deployments if d.pk in _parsed_bases}
        for pk in found:
            _parsed_bases.move_to_end(pk)
    missing = [d.pk for d in deployments if d.pk not in found]
    if missing:
        for pk, document in Deployment.objects.filter(pk__in=missing).values_list("pk", "document"):
            found[pk] = parsed_base(document)
            with _parsed_bases_lock:
                _parsed_bases[pk] = found[pk]
                while len(_parsed_bases) > BASES_KEPT:
                    _parsed_bases.popitem(last=False)
    return found


def kernel_left_by(desired: DesiredState | None, only: set[ServiceKey] | None = None) -> tuple[ActualState, Ledger]:
    """The kernel and the agent's records as an apply of `desired` leaves them (empty for a new host); with
    `only`, of its services only those (the delta's)."""
    if desired is None:
        return ActualState(ipvs_loaded=False), Ledger()
    director = desired.director
    services = {service.key: service for service in director.services} if director else {}
    if only is not None:
        services = {key: service for key, service in services.items() if key in only}
    addresses = list(director.vips) if director else []
    links = {}
    if desired.tun is not None:
        links["tunl0"] = Link(name="tunl0", index=0, up=True, kind="ipip")
        addresses += [Address(interface="tunl0", address=vip, prefix=32) for vip in desired.tun.vips]
    if desired.dr is not None:
        addresses += [Address(interface="lo", address=vip, prefix=32) for vip in desired.dr.vips]
    files: dict[str, str | None] = {
        name: content for name, content in wanted_files(desired).items() if content is not None
    }
    actual = ActualState(
        ipvs_loaded=True,  # a module once loaded stays; only a host new to the cluster may still lack it
        services=services,
        links=links,
        addresses=addresses,
        sysctls={name: value for name, value, _why in wanted_sysctls(desired)},
        files=files,
    )
    ledger = Ledger(
        services=set(services),
        dests={(key, *dest.key) for key, service in services.items() for dest in service.real_servers},
        addresses=set(addresses),
        files=set(files),
    )
    return actual, ledger


def delta_operations(
    base: ParsedBase, document: dict[str, Any], now: float, texts: dict[int, str] | None = None
) -> list[Operation] | None:
    """The operations of planning `document` against the kernel `base` left, planning only the services that
    differ from it; None when the delta cannot tell (module docstring): plan the whole document.

    `texts` keeps the JSON of service dicts by id, for documents that share them (a cluster's directors)."""
    old = base.state
    if old is None or old.director is None or base.frame is None or _frame(document) != base.frame:
        return None
    revision = document.get("revision")
    raw_services = document["director"].get("services", [])
    if type(revision) is not int or not 0 <= revision <= 1 << 62 or type(raw_services) is not list:
        return None
    texts = {} if texts is None else texts
    old_services = old.director.services
    services: list[Service] = []
    changed: list[Service] = []
    unchanged: set[ServiceKey] = set()
    seen: set[RawKey] = set()
    for index, raw in enumerate(raw_services):
        if type(raw) is not dict:
            return None
        key = _raw_key(raw)
        if key in seen:
            return None  # a duplicate: the whole way words the problem
        seen.add(key)
        text = texts.get(id(raw))
        if text is None:
            text = texts[id(raw)] = _text(raw)
        kept = base.services.get(key)
        if kept is not None and kept[0] == text:
            service = old_services[kept[1]]
            unchanged.add(service.key)
        else:
            new = _parsed_service(raw, f"$.director.services[{index}]")
            if new is None:
                return None
            service = new
            changed.append(service)
        services.append(service)
    if len({service.key for service in services}) != len(services):
        return None  # two services with one key once parsed (e.g. an IPv6 address written two ways)
    director = replace(old.director, services=tuple(services))
    whole = replace(old, revision=revision, director=director)
    planned = {service.key for service in changed} | _standing_in(services, changed)
    delta = replace(whole, director=replace(director, services=tuple(s for s in services if s.key in planned)))
    # The operations outside IPVS depend on the services through the sysctls and files they call for only: the
    # delta's must call for the same as the whole document's.
    if (wanted_sysctls(delta), wanted_files(delta)) != (wanted_sysctls(whole), wanted_files(whole)):
        return None
    left = {service.key for service in old_services} - (unchanged - planned)
    actual, ledger = kernel_left_by(old, only=left)
    return plan(delta, actual, ledger, now).operations


def _standing_in(services: list[Service], changed: list[Service]) -> set[ServiceKey]:
    """Keys of unchanged services planned with the changed ones so that the delta calls for the sysctls and files
    the whole document calls for: one service if none changed (the IPVS module), one with NAT real servers for each
    address family that has them (forwarding). They plan to nothing: their last applied version is the same."""
    standing: set[ServiceKey] = set()
    if services and not changed:
        standing.add(services[0].key)
    covered = {service.key.family for service in changed if _nat(service)}
    for service in services:
        family = service.key.family
        if family not in covered and _nat(service):
            covered.add(family)
            standing.add(service.key)
    return standing


def _nat(service: Service) -> bool:
    return any(dest.forward == "nat" for dest in service.real_servers)


def _parsed_service(raw: dict[str, Any], path: str) -> Service | None:
    """One service, valid as the whole document would find it; None when it has problems."""
    if not service_conforms(raw):
        return None
    try:
        return parse_service(raw, path)
    except ValueError:
        return None
