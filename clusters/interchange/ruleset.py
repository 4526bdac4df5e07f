"""The rule set both text formats share: IPVS services with their real servers, and where each came from.

A rule set is the agent's own model (`lvsweb_agent.model.Service` with its `RealServer`s): what a director's
kernel holds, in the kernel's terms. The parsers build it through `RuleSetBuilder`, which remembers the line of
every service and real server and collects problems by line, so that a preview can say "line 7: …".
Plain Python: no Django, so the parsers can be tested (and fuzzed) on their own.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace

from lvsweb_agent.model import (
    SCHEDULERS,
    Persistence,
    RealServer,
    Service,
    ServiceKey,
    format_hostport,
    normalize_address,
)

FORMATS = ("ipvsadm", "keepalived")
FULL_MASK = {"ipv4": "255.255.255.255", "ipv6": "128"}
SCHEDULER_FLAGS = ("fallback", "port")
MAX_WEIGHT = 65535
MAX_THRESHOLD = 2**32 - 1
#: How many errors, warnings and keywords left out an answer lists; the rest are counted. 1,000,000 “{” gave
#: 2,000,000 errors — 148 MB of JSON — before the lists were capped.
MAX_LISTED = 100
#: The longest message a problem keeps: messages quote the text, and one “word” may be a megabyte long.
MAX_MESSAGE = 300
#: How long a parser may read before it gives up (a 2 MB text of ordinary rules reads in about a second).
PARSE_SECONDS = 10.0


@dataclass(frozen=True)
class Problem:
    """Something wrong (or left out) on a line of the pasted text; line 0 means the text as a whole."""

    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}" if self.line else self.message


class Problems(list):
    """Problems in the order they are found: the first `limit` are kept, the rest only counted (`omitted`).

    A list (of the listed ones) so that it reads, sorts and compares like one; `total` is how many were found.
    Only `append` and `extend` add problems.
    """

    def __init__(self, problems=(), limit: int = MAX_LISTED):
        super().__init__()
        self.limit = limit
        self.omitted = 0
        self.extend(problems)

    def append(self, problem: Problem) -> None:
        """Keep `problem` while fewer than `limit` are listed; count it otherwise."""
        if len(self) < self.limit:
            if len(problem.message) > MAX_MESSAGE:
                problem = Problem(problem.line, problem.message[: MAX_MESSAGE - 1] + "…")
            super().append(problem)
        else:
            self.omitted += 1

    def extend(self, problems) -> None:
        """Append each of `problems`, and carry over what another capped list had only counted."""
        for problem in problems:
            self.append(problem)
        self.omitted += getattr(problems, "omitted", 0)

    @property
    def total(self) -> int:
        """How many problems were found, listed or not."""
        return len(self) + self.omitted


class TooSlow(ValueError):
    """Reading the text took longer than the parser's time limit."""


class Deadline:
    """A time limit for reading one text; `check()` raises TooSlow once it has passed."""

    def __init__(self, seconds: float | None = None):
        self.seconds = PARSE_SECONDS if seconds is None else seconds
        self.end = time.monotonic() + self.seconds

    def check(self) -> None:
        """Raise TooSlow when the time is up."""
        if time.monotonic() > self.end:
            raise TooSlow(
                f"The text took too long to read (more than {self.seconds:g} s); split it into smaller imports."
            )


@dataclass
class ParsedRules:
    """What a parser read: the rule set, the line of each item, and every problem by line."""

    format: str
    services: list[Service] = field(default_factory=list)
    service_lines: dict[ServiceKey, int] = field(default_factory=dict)
    dest_lines: dict[tuple[ServiceKey, tuple[str, int]], int] = field(default_factory=dict)
    #: A service's own forwarding method, where the format has one (keepalived's lb_kind): the inventory keeps it
    #: as the default for the service's new real servers.
    service_methods: dict[ServiceKey, str] = field(default_factory=dict)
    #: keepalived: a service's health check as HealthCheck fields (with its quorum and sorry server) …
    checks: dict[ServiceKey, dict] = field(default_factory=dict)
    #: … and the real servers whose check differs from their service's (`{"check_type": "none"}`: unchecked).
    dest_checks: dict[tuple[ServiceKey, tuple[str, int]], dict] = field(default_factory=dict)
    #: keepalived: the virtual_server_group a service was expanded from.
    groups: dict[ServiceKey, str] = field(default_factory=dict)
    errors: Problems = field(default_factory=Problems)
    warnings: Problems = field(default_factory=Problems)
    not_imported: Problems = field(default_factory=Problems)

    @property
    def ok(self) -> bool:
        """No errors (warnings and keywords left out do not stop an import)."""
        return not self.errors


def service_label(key: ServiceKey) -> str:
    """`TCP 10.0.0.1:80`, `FWM 5`, `FWM 5 IPv6`: as ipvsadm -L and the console write a service."""
    if key.fwmark:
        return f"FWM {key.fwmark}" + (" IPv6" if key.family == "ipv6" else "")
    return f"{key.protocol.upper()} {format_hostport(key.address, key.port)}"


def dest_label(dest: RealServer) -> str:
    """`10.0.0.11:80`, `[2001:db8::11]:80`, or the bare address for a port of 0 (firewall-mark services)."""
    return format_hostport(dest.address, dest.port) if dest.port else dest.address


def canonical(services) -> tuple[Service, ...]:
    """The rule set in one order (services by key, real servers by address and port), to compare two."""
    return tuple(
        replace(service, real_servers=tuple(sorted(service.real_servers, key=lambda d: d.key)))
        for service in sorted(services, key=lambda s: s.key.sort_key())
    )


def parse_address(text: str) -> str:
    """An IP address in the kernel's text form; ValueError with the reason otherwise."""
    try:
        return normalize_address(text)
    except ValueError:
        raise ValueError(f"“{text}” is not an IP address") from None


def parse_int(text: str, what: str, low: int, high: int) -> int:
    """A decimal integer from `low` to `high`; ValueError naming `what` otherwise."""
    if not (text.isascii() and text.isdigit()):
        raise ValueError(f"{what} “{text}” is not a number")
    value = int(text)
    if not low <= value <= high:
        raise ValueError(f"{what} {value} is out of range ({low} to {high})")
    return value


def scheduler_flags(scheduler: str, names: list[str]) -> frozenset[str]:
    """Scheduler flags as the agent names them (`sh-port`); `flag-1`/`flag-2` are ipvsadm's generic names."""
    flags = set()
    for name in names:
        generic = {"flag-1": "fallback", "flag-2": "port"}.get(name)
        owner, _, flag = name.partition("-")
        if generic:
            owner, flag = scheduler, generic
        if owner not in ("sh", "mh") or flag not in SCHEDULER_FLAGS:
            raise ValueError(f"unknown scheduler flag “{name}” (known: sh-fallback, sh-port, mh-fallback, mh-port)")
        if owner != scheduler:
            raise ValueError(f"scheduler flag {name} works only with the {owner} scheduler, not with {scheduler}")
        flags.add(f"{owner}-{flag}")
    return frozenset(flags)


def check_scheduler(name: str) -> str:
    """A scheduler the kernel knows; ValueError listing them otherwise."""
    if name not in SCHEDULERS:
        raise ValueError(f"unknown scheduler “{name}” (one of {', '.join(SCHEDULERS)})")
    return name


@dataclass
class _Draft:
    service: Service
    line: int
    dests: dict[tuple[str, int], tuple[RealServer, int]] = field(default_factory=dict)


class RuleSetBuilder:
    """Collects services and real servers line by line; refuses duplicates and orphans with the line number."""

    def __init__(self, format: str):
        self.result = ParsedRules(format=format)
        self._drafts: dict[ServiceKey, _Draft] = {}

    def error(self, line: int, message: str) -> None:
        self.result.errors.append(Problem(line, message))

    def warning(self, line: int, message: str) -> None:
        self.result.warnings.append(Problem(line, message))

    def not_imported(self, line: int, message: str) -> None:
        self.result.not_imported.append(Problem(line, message))

    def has_service(self, key: ServiceKey) -> bool:
        return key in self._drafts

    def add_service(self, service: Service, line: int) -> None:
        """A new service; a second one with the same key is an error that names the first line."""
        first = self._drafts.get(service.key)
        if first is not None:
            self.error(line, f"{service_label(service.key)} is already defined on line {first.line}")
            return
        self._drafts[service.key] = _Draft(service, line)

    def edit_service(self, key: ServiceKey, line: int, **changes) -> None:
        """Change settings of a service defined earlier (ipvsadm -E)."""
        draft = self._drafts.get(key)
        if draft is None:
            self.error(line, f"{service_label(key)} is edited before it is defined (no -A line for it above)")
            return
        draft.service = replace(draft.service, **changes)

    def dests(self, key: ServiceKey) -> list[RealServer]:
        """The real servers added to a service so far."""
        draft = self._drafts.get(key)
        return [dest for dest, _ in draft.dests.values()] if draft else []

    def add_dest(self, key: ServiceKey, dest: RealServer, line: int, *, edit: bool = False) -> None:
        """A real server of a service defined earlier; `edit` (ipvsadm -e) changes one added earlier."""
        draft = self._drafts.get(key)
        if draft is None:
            self.error(
                line, f"real server {dest_label(dest)} belongs to {service_label(key)}, which is not defined above"
            )
            return
        present = draft.dests.get(dest.key)
        if edit and present is None:
            self.error(line, f"real server {dest_label(dest)} of {service_label(key)} is edited before it is added")
            return
        if not edit and present is not None:
            self.error(
                line,
                f"real server {dest_label(dest)} of {service_label(key)} is already added on line {present[1]}",
            )
            return
        draft.dests[dest.key] = (dest, present[1] if edit else line)

    def build(self) -> ParsedRules:
        """The rule set in the order of the text, with the lines of its items and problems sorted by line."""
        result = self.result
        for key, draft in self._drafts.items():
            dests = tuple(dest for dest, _ in draft.dests.values())
            result.services.append(replace(draft.service, real_servers=dests))
            result.service_lines[key] = draft.line
            for dest_key, (_, line) in draft.dests.items():
                result.dest_lines[(key, dest_key)] = line
        for problems in (result.errors, result.warnings, result.not_imported):
            problems.sort(key=lambda problem: problem.line)
        return result


def persistence(timeout: int, netmask: str | None, family: str) -> Persistence:
    """Persistence with the kernel's default (full) mask when none is given."""
    return Persistence(timeout=timeout, netmask=netmask or FULL_MASK[family])
