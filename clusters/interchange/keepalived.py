"""keepalived.conf: read its `virtual_server` blocks into a rule set, and write a rule set as such blocks.

Read: comments (`#` and `!`), nested braces (also on one line), IPv4/IPv6 `virtual_server ADDRESS PORT` and
`virtual_server fwmark N`, lb_algo/lvs_sched, lb_kind/lvs_method (NAT, DR, TUN with `type ipip|gue port N|gre`
and a checksum), protocol, persistence_timeout, persistence_granularity, ops, the sh/mh flags, ip_family, and
per real server weight, uthreshold, lthreshold and lvs_method. Everything else — health checks, notify
scripts, sorry_server, quorum, virtual_server groups, global_defs, vrrp_instance … — is named in the
result's `not_imported` list with its line: an import never drops a keyword without saying so.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field

from lvsweb_agent.model import RealServer, Service, ServiceKey, Tunnel

from clusters.interchange import keepalived_vrrp
from clusters.interchange.ruleset import (
    FULL_MASK,
    MAX_THRESHOLD,
    MAX_WEIGHT,
    Deadline,
    ParsedRules,
    Problem,
    Problems,
    RuleSetBuilder,
    check_scheduler,
    parse_address,
    parse_int,
    persistence,
    scheduler_flags,
)

KINDS = {"NAT": "nat", "DR": "dr", "TUN": "tun"}
KIND_NAMES = {value: name for name, value in KINDS.items()}
PROTOCOLS = {"TCP": "tcp", "UDP": "udp", "SCTP": "sctp"}
CHECKSUMS = {"nocsum": "none", "csum": "csum", "remcsum": "remcsum"}
CHECKSUM_NAMES = {value: name for name, value in CHECKSUMS.items()}
FLAGS = ("sh-port", "sh-fallback", "mh-port", "mh-fallback", "flag-1", "flag-2")
DEFAULT_PERSISTENCE = 360  # keepalived's timeout for a bare persistence_timeout
#: How deep blocks may nest: a real keepalived.conf nests 4 (virtual_server › real_server › HTTP_GET › url).
#: Without a limit 1,000,000 “{” built a million-deep tree.
MAX_DEPTH = 16
MAX_TIMEOUT = 2**31 - 1

HEALTH_CHECKS = ("TCP_CHECK", "HTTP_GET", "SSL_GET", "MISC_CHECK", "SMTP_CHECK", "DNS_CHECK", "BFD_CHECK")
HEALTH_CHECKS += ("PING_CHECK", "UDP_CHECK", "FILE_CHECK")
#: Why well-known keywords are left out; any other unknown keyword is named as "not imported" too.
REASONS = {
    **{
        name: "health checks are not imported: lvsweb keeps every real server in the table (drain or disable "
        "one instead)"
        for name in HEALTH_CHECKS
    },
    "sorry_server": "lvsweb has no fallback server",
    "sorry_server_inhibit": "lvsweb has no fallback server",
    "sorry_server_lvs_method": "lvsweb has no fallback server",
    "notify_up": "notify scripts are not imported",
    "notify_down": "notify scripts are not imported",
    "quorum": "quorum is a keepalived health-check setting",
    "quorum_up": "quorum scripts are not imported",
    "quorum_down": "quorum scripts are not imported",
    "hysteresis": "quorum is a keepalived health-check setting",
    "inhibit_on_failure": "a health-check setting; lvsweb drains by hand",
    "delay_loop": "a health-check interval",
    "persistence_engine": "persistence engines are not imported",
    "virtualhost": "a health-check setting",
    "global_defs": "only virtual_server blocks are imported",
    "vrrp_instance": "VRRP (VIP fail-over) is not part of the IPVS rule set",
    "vrrp_sync_group": "VRRP (VIP fail-over) is not part of the IPVS rule set",
    "vrrp_script": "VRRP (VIP fail-over) is not part of the IPVS rule set",
    "virtual_server_group": "virtual server groups are not imported; write one virtual_server per VIP",
    "include": "included files are not read; paste their virtual_server blocks instead",
}


@dataclass
class Node:
    """A keyword with its arguments, and its children when it opens a `{ … }` block."""

    words: list[str]
    line: int
    children: list[Node] | None = None

    @property
    def keyword(self) -> str:
        return self.words[0]

    @property
    def args(self) -> list[str]:
        return self.words[1:]


class _TooDeep(Exception):
    """Blocks nest deeper than MAX_DEPTH (the reader stops there)."""


@dataclass
class _Reader:
    errors: Problems = field(default_factory=Problems)
    deadline: Deadline = field(default_factory=Deadline)

    def tokens(self, text: str):
        for number, line in enumerate(text.splitlines(), start=1):
            self.deadline.check()
            word, quoted = "", False
            for char in line + "\n":
                if quoted:
                    if char == '"':
                        quoted = False
                    elif char == "\n":
                        self.errors.append(Problem(number, "a quoted string is not closed on its line"))
                    else:
                        word += char
                    continue
                if char == '"':
                    quoted = True
                elif char in "#!" and not word:
                    break  # a comment runs to the end of the line
                elif char.isspace() or char in "{}":
                    if word:
                        yield word, number
                        word = ""
                    if char in "{}":
                        yield char, number
                else:
                    word += char
            if word:
                yield word, number

    def tree(self, text: str) -> list[Node]:
        """The text's keywords as nested nodes; nothing when blocks nest too deep (one error says where)."""
        try:
            return self._tree(text)
        except _TooDeep as exc:
            self.errors.append(Problem(int(str(exc)), f"blocks are nested more than {MAX_DEPTH} deep here"))
            return []

    def _tree(self, text: str) -> list[Node]:
        root = Node(["(top)"], 0, [])
        stack = [root]
        words: list[str] = []
        words_line = 0

        def flush():
            nonlocal words
            if words:
                stack[-1].children.append(Node(words, words_line))
                words = []

        for word, line in self.tokens(text):
            if words and line != words_line:
                flush()
            if word == "{":
                if not words:
                    self.errors.append(Problem(line, "“{” opens a block without a keyword before it"))
                    words, words_line = ["(block)"], line
                if len(stack) > MAX_DEPTH:
                    raise _TooDeep(line)
                block = Node(words, words_line, [])
                stack[-1].children.append(block)
                stack.append(block)
                words = []
            elif word == "}":
                flush()
                if len(stack) == 1:
                    self.errors.append(Problem(line, "“}” closes no block (one “}” too many)"))
                else:
                    stack.pop()
            else:
                if not words:
                    words_line = line
                words.append(word)
        flush()
        for block in stack[1:]:
            self.errors.append(Problem(block.line, f"the “{block.keyword}” block opened here is never closed"))
        return root.children


def _int(node: Node, what: str, low: int, high: int, default: int | None = None) -> int:
    if not node.args:
        if default is not None:
            return default
        raise ValueError(f"{node.keyword} needs a value")
    return parse_int(node.args[0], what, low, high)


def _method(node: Node) -> tuple[str, Tunnel | None]:
    """lb_kind/lvs_method NAT|DR|TUN [type ipip|gue port N|gre] [nocsum|csum|remcsum]."""
    if not node.args:
        raise ValueError(f"{node.keyword} needs NAT, DR or TUN")
    kind = KINDS.get(node.args[0].upper())
    if kind is None:
        raise ValueError(f"{node.keyword} “{node.args[0]}” is not supported (NAT, DR or TUN)")
    rest = node.args[1:]
    if kind != "tun":
        if rest:
            raise ValueError(f"“{' '.join(rest)}” after {node.args[0]}: tunnel options apply only to TUN")
        return kind, None
    tunnel_type, port, checksum = "ipip", 0, "none"
    position = 0
    while position < len(rest):
        word = rest[position].lower()
        if word == "type" and position + 1 < len(rest):
            tunnel_type = rest[position + 1].lower()
            if tunnel_type not in ("ipip", "gue", "gre"):
                raise ValueError(f"unknown tunnel type “{rest[position + 1]}” (ipip, gue or gre)")
            position += 2
        elif word == "port" and position + 1 < len(rest):
            port = parse_int(rest[position + 1], "tunnel port", 1, 65535)
            position += 2
        elif word in CHECKSUMS:
            checksum = CHECKSUMS[word]
            position += 1
        else:
            raise ValueError(f"“{rest[position]}” is not a TUN option (type, port, nocsum, csum, remcsum)")
    return kind, Tunnel(type=tunnel_type, port=port, checksum=checksum)


class _Parser:
    def __init__(self, deadline: Deadline):
        self.builder = RuleSetBuilder("keepalived")
        self.deadline = deadline

    def skip(self, node: Node, where: str = "") -> None:
        reason = REASONS.get(node.keyword, "lvsweb has no equivalent")
        shown = " ".join(node.words[:3]) + (" …" if len(node.words) > 3 else "")
        self.builder.not_imported(node.line, f"{shown}{where}: not imported ({reason})")

    def top(self, nodes: list[Node]) -> None:
        for node in nodes:
            self.deadline.check()
            if node.keyword == "virtual_server" and node.args[:1] == ["group"]:
                self.builder.not_imported(
                    node.line,
                    f"virtual_server group {' '.join(node.args[1:2])}: not imported (virtual server groups are "
                    "not imported; write one virtual_server per VIP)",
                )
            elif node.keyword == "virtual_server":
                try:
                    self.virtual_server(node)
                except ValueError as exc:
                    self.builder.error(node.line, str(exc))
            else:
                self.skip(node)

    def service_key(self, node: Node, protocol: str, family: str) -> ServiceKey:
        args = node.args
        if node.children is None:
            raise ValueError("virtual_server needs a { … } block")
        if args[:1] == ["fwmark"]:
            if len(args) != 2:
                raise ValueError("write virtual_server fwmark MARK")
            return ServiceKey.for_fwmark(parse_int(args[1], "firewall mark", 1, 2**32 - 1), family)
        if len(args) != 2:
            raise ValueError("write virtual_server ADDRESS PORT (or virtual_server fwmark MARK)")
        address = parse_address(args[0])
        return ServiceKey.for_address(protocol, address, parse_int(args[1], "port", 0, 65535))

    def virtual_server(self, node: Node) -> None:
        settings = {"scheduler": None, "method": None, "protocol": None, "family": None}
        timeout, granularity, one_packet, flag_names = None, None, False, []
        real_servers: list[Node] = []
        for child in node.children or []:
            self.deadline.check()
            word = child.keyword
            try:
                if word in ("lb_algo", "lvs_sched"):
                    settings["scheduler"] = (child, check_scheduler(child.args[0] if child.args else ""))
                elif word in ("lb_kind", "lvs_method"):
                    settings["method"] = (child, _method(child))
                elif word == "protocol":
                    name = (child.args or [""])[0].upper()
                    if name not in PROTOCOLS:
                        raise ValueError(f"protocol “{' '.join(child.args)}” is not TCP, UDP or SCTP")
                    settings["protocol"] = (child, PROTOCOLS[name])
                elif word == "ip_family":
                    family = {"inet": "ipv4", "inet6": "ipv6"}.get((child.args or [""])[0])
                    if family is None:
                        raise ValueError("ip_family is inet or inet6")
                    settings["family"] = (child, family)
                elif word == "persistence_timeout":
                    timeout = _int(child, "persistence timeout", 1, MAX_TIMEOUT, DEFAULT_PERSISTENCE)
                elif word == "persistence_granularity":
                    if not child.args:
                        raise ValueError("persistence_granularity needs a netmask")
                    granularity = child.args[0]
                elif word == "ops":
                    one_packet = True
                elif word in FLAGS:
                    flag_names.append(word)
                elif word == "real_server":
                    real_servers.append(child)
                else:
                    self.skip(child, f" (in virtual_server {' '.join(node.args)})")
            except ValueError as exc:
                self.builder.error(child.line, str(exc))

        fwmark = node.args[:1] == ["fwmark"]
        protocol = settings["protocol"][1] if settings["protocol"] else "tcp"
        family = settings["family"][1] if settings["family"] else "ipv4"
        key = self.service_key(node, protocol, family)
        if fwmark and settings["protocol"]:
            self.builder.warning(
                settings["protocol"][0].line,
                f"protocol {settings['protocol'][0].args[0]} ignored: a firewall-mark service matches by its mark",
            )
        if not fwmark and settings["family"] and settings["family"][1] != key.family:
            self.builder.error(settings["family"][0].line, f"ip_family does not match the address {key.address}")
        if settings["scheduler"]:
            scheduler = settings["scheduler"][1]
        else:
            scheduler = "wlc"
            self.builder.warning(node.line, "no lb_algo: wlc assumed (the kernel's default scheduler)")
        if settings["method"]:
            method, tunnel = settings["method"][1]
        else:
            method, tunnel = "nat", None
            self.builder.warning(node.line, "no lb_kind: NAT assumed (keepalived's default)")
        if granularity is not None and timeout is None:
            raise ValueError("persistence_granularity needs persistence_timeout")
        flags = scheduler_flags(scheduler, flag_names)
        persistent = persistence(timeout, granularity, key.family) if timeout else None
        service = Service(key=key, scheduler=scheduler, flags=flags, persistence=persistent, one_packet=one_packet)
        self.builder.add_service(service, node.line)
        self.builder.result.service_methods.setdefault(key, method)
        for child in real_servers:
            try:
                self.real_server(child, key, method, tunnel)
            except ValueError as exc:
                self.builder.error(child.line, str(exc))

    def real_server(self, node: Node, key: ServiceKey, method: str, tunnel: Tunnel | None) -> None:
        if not 1 <= len(node.args) <= 2:
            raise ValueError("write real_server ADDRESS PORT")
        address = parse_address(node.args[0])
        port = parse_int(node.args[1], "port", 0, 65535) if len(node.args) == 2 else key.port
        weight, upper, lower = 1, 0, 0
        for child in node.children or []:
            self.deadline.check()
            try:
                if child.keyword == "weight":
                    weight = _int(child, "weight", 0, MAX_WEIGHT)
                elif child.keyword == "uthreshold":
                    upper = _int(child, "upper threshold", 0, MAX_THRESHOLD)
                elif child.keyword == "lthreshold":
                    lower = _int(child, "lower threshold", 0, MAX_THRESHOLD)
                elif child.keyword in ("lvs_method", "lb_kind"):
                    method, tunnel = _method(child)
                else:
                    self.skip(child, f" (in real_server {' '.join(node.args)})")
            except ValueError as exc:
                self.builder.error(child.line, str(exc))
        if key.fwmark and port and method in ("tun", "dr"):
            self.builder.warning(
                node.line,
                f"port {port} of real server {address} dropped: a firewall-mark service in {method.upper()} mode "
                "keeps the packets' own port",
            )
            port = 0
        dest = RealServer(
            address=address,
            port=port,
            weight=weight,
            forward=method,
            tunnel=tunnel if method == "tun" else None,
            upper_threshold=upper,
            lower_threshold=lower,
        )
        self.builder.add_dest(key, dest, node.line)


def parse(text: str, *, seconds: float | None = None) -> ParsedRules:
    """The rule set of a keepalived.conf's virtual_server blocks; problems and keywords left out by line.

    Raises TooSlow when reading takes longer than `seconds` (default: ruleset.PARSE_SECONDS).
    """
    deadline = Deadline(seconds)
    reader = _Reader(deadline=deadline)
    nodes = reader.tree(text)
    parser = _Parser(deadline)
    parser.builder.result.errors.extend(reader.errors)
    parser.top(nodes)
    result = parser.builder.build()
    # Director HA (keepalived_vrrp.py): vrrp_instance, vrrp_sync_group and lvs_sync_daemon become VIP groups.
    keepalived_vrrp.attach(result, nodes)
    if not result.services and not result.errors:
        result.errors.append(Problem(0, "The text holds no virtual_server blocks."))
    return result


def _method_words(forward: str, tunnel: Tunnel | None) -> str:
    words = KIND_NAMES[forward]
    tunnel = tunnel or Tunnel()
    if forward == "tun" and tunnel != Tunnel():
        words += f" type {tunnel.type}"
        if tunnel.type == "gue":
            words += f" port {tunnel.port}"
        if tunnel.type != "ipip":
            words += f" {CHECKSUM_NAMES[tunnel.checksum]}"
    return words


def _method_of(dest: RealServer) -> str:
    return _method_words(dest.forward, dest.tunnel if dest.forward == "tun" else None)


def _service_lines(service: Service, default_method: str | None) -> list[str]:
    key = service.key
    if key.fwmark:
        lines = [f"virtual_server fwmark {key.fwmark} {{"]
        if key.family == "ipv6":
            lines.append("    ip_family inet6")
    else:
        lines = [f"virtual_server {key.address} {key.port} {{"]
    lines.append(f"    lb_algo {service.scheduler}")
    dests = sorted(service.real_servers, key=lambda d: d.key)
    methods = Counter(_method_of(dest) for dest in dests)  # in address order, so that a tie is decided the same
    method = methods.most_common(1)[0][0] if methods else KIND_NAMES.get(default_method or "tun", "TUN")
    # lb_kind takes the plain kind; a tunnel with options needs lvs_method (keepalived 2.1 and later).
    lines.append(f"    {'lb_kind' if ' ' not in method else 'lvs_method'} {method}")
    if not key.fwmark:
        lines.append(f"    protocol {key.protocol.upper()}")
    if service.persistence is not None:
        lines.append(f"    persistence_timeout {service.persistence.timeout}")
        if service.persistence.netmask != FULL_MASK[key.family]:
            lines.append(f"    persistence_granularity {service.persistence.netmask}")
    if service.one_packet:
        lines.append("    ops")
    lines.extend(f"    {flag}" for flag in sorted(service.flags))
    for dest in dests:
        port = f" {dest.port}" if dest.port else ""
        lines.append("")
        lines.append(f"    real_server {dest.address}{port} {{")
        lines.append(f"        weight {dest.weight}")
        if _method_of(dest) != method:
            lines.append(f"        lvs_method {_method_of(dest)}")
        if dest.upper_threshold:
            lines.append(f"        uthreshold {dest.upper_threshold}")
        if dest.lower_threshold:
            lines.append(f"        lthreshold {dest.lower_threshold}")
        lines.append("    }")
    lines.append("}")
    return lines


def render(services, *, header: str = "", methods: Mapping[ServiceKey, str] | None = None) -> str:
    """The rule set as keepalived.conf virtual_server blocks, services in key order; `header` becomes comments.

    `methods` gives a service's own forwarding method (nat, dr, tun), written as its lb_kind when it has no
    real servers to take it from.
    """
    methods = methods or {}
    lines = [f"# {line}".rstrip() for line in header.splitlines()]
    for service in sorted(services, key=lambda s: s.key.sort_key()):
        if lines:
            lines.append("")
        lines.extend(_service_lines(service, methods.get(service.key)))
    return "".join(line + "\n" for line in lines)
