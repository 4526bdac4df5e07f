"""virtual_server (and virtual_server group) blocks → services, with what keepalived 2.2.7 fills in.

Where keepalived installs something the author did not write, the import does the same and warns
(verified against keepalived 2.2.7 in the lab, tests/lab/test_lab_keepalived.py):

- no `protocol` on an address service: UDP (keepalived: "no protocol set - defaulting to UDP");
- no `lb_algo`: wlc; no `lb_kind`: NAT; a real server without `weight`: the virtual server's `weight` (1);
- `lb_algo`/`lb_kind` values are case-sensitive (`RR`, `dr` are ignored, so the default applies);
  `protocol` is not (`tcp` is TCP);
- `ops` on a TCP or SCTP service is dropped; port 0 without persistence gets persistence 360 s;
- `sh-port`/`mh-…` flags count only after `lb_algo sh`/`mh`; a DR/TUN real server's port is the virtual
  port; a real server listed twice is installed once; a virtual_server without real servers is not installed.
"""

from __future__ import annotations

from collections import Counter

from lvsweb_agent.model import SCHEDULERS, RealServer, Service, ServiceKey, Tunnel

from clusters.interchange.keepalived.checks import CHECK_TYPES, NOT_MAPPED, CheckReader, frozen
from clusters.interchange.keepalived.groups import Entry, entries
from clusters.interchange.keepalived.reader import Node
from clusters.interchange.ruleset import (
    FULL_MASK,
    MAX_THRESHOLD,
    MAX_WEIGHT,
    Deadline,
    RuleSetBuilder,
    parse_address,
    parse_int,
    persistence,
)

KINDS = {"NAT": "nat", "DR": "dr", "TUN": "tun"}
PROTOCOLS = {"TCP": "tcp", "UDP": "udp", "SCTP": "sctp"}
CHECKSUMS = {"nocsum": "none", "csum": "csum", "remcsum": "remcsum"}
FLAGS = {"sh-port": "sh", "sh-fallback": "sh", "mh-port": "mh", "mh-fallback": "mh", "flag-1": "", "flag-2": ""}
DEFAULT_PERSISTENCE = 360  # keepalived's timeout for a bare persistence_timeout (IPVS_SVC_PERSISTENT_TIMEOUT)
MAX_TIMEOUT = 2**31 - 1
HA = "director HA is configured in lvsweb itself (docs/ha.md)"
#: Why well-known keywords are left out; any other unknown keyword is named as "not imported" too.
REASONS = {
    "notify_up": "lvsweb runs no scripts; its health transitions are in the audit history and the events stream",
    "notify_down": "lvsweb runs no scripts; its health transitions are in the audit history and the events stream",
    "quorum_up": "lvsweb runs no scripts; quorum losses are in the audit history",
    "quorum_down": "lvsweb runs no scripts; quorum losses are in the audit history",
    "hysteresis": "lvsweb's quorum has no hysteresis: the sorry server leaves as soon as the quorum is back",
    "sorry_server_inhibit": "lvsweb drains a leaving sorry server (weight 0) before it removes it",
    "omega": "lvsweb keeps the table as it is when it stops, like keepalived with omega",
    "persistence_engine": "persistence engines (e.g. sip) are not imported",
    "ha_suspend": HA,
    "smtp_alert": "lvsweb alerts per team rule, by e-mail or webhook (docs/alerts.md), not per virtual server",
    "snmp_name": "lvsweb has no SNMP; it exports Prometheus metrics",
    "hashed": "keepalived's hashed flag is the kernel's default",
    "flag-3": "the kernel's schedulers use no flag-3",
    "global_defs": "global settings are the director's, not the rule set's (router_id, notification mail …)",
    "vrrp_instance": HA,
    "vrrp_sync_group": HA,
    "vrrp_script": HA,
    "vrrp_track_process": HA,
    "track_file": HA,
    "static_ipaddress": "static addresses are the host's; lvsweb configures VIPs from the inventory",
    "static_routes": "static routes are the host's network configuration",
    "static_rules": "static rules are the host's network configuration",
    "linkbeat_use_polling": "a VRRP setting: " + HA,
    "include": "included files are not read; paste their contents instead",
    "SSL": "lvsweb does not verify certificates of HTTPS checks",
    "net_namespace": "keepalived's namespace setting is the host's",
    "bfd_instance": "lvsweb has no BFD; use a TCP check",
}
VS_TIMING = {"delay_loop", "connect_timeout", "retry", "delay_before_retry", "warmup", "inhibit_on_failure"}
VS_TIMING |= {"virtualhost", "alpha"}


class Parser:
    def __init__(self, deadline: Deadline):
        self.builder = RuleSetBuilder("keepalived")
        self.deadline = deadline
        self.groups: dict[str, tuple[Node, list[Entry]]] = {}
        self.checks = CheckReader(self.skip_reason, self.builder.warning, self.builder.warning)

    def skip(self, node: Node, where: str = "") -> None:
        reason = REASONS.get(node.keyword)
        if reason is None:
            reason = "lvsweb has no equivalent"
            if node.keyword.lower() in {"virtual_server", "real_server", "lb_algo", "lb_kind", "protocol"}:
                reason = "keywords are case-sensitive: keepalived ignores it too"
        self.skip_reason(node, reason, where)

    def skip_reason(self, node: Node, reason: str, where: str = "") -> None:
        self.builder.not_imported(node.line, f"{node.shown()}{where}: not imported ({reason})")

    def top(self, nodes: list[Node]) -> None:
        for node in nodes:
            if node.keyword == "virtual_server_group":
                try:
                    if len(node.args) != 1 or node.children is None:
                        raise ValueError("write virtual_server_group NAME { ADDRESS[-LAST] PORT … fwmark MARK … }")
                    self.groups[node.args[0]] = (node, entries(node))
                except ValueError as exc:
                    self.builder.error(node.line, str(exc))
        for node in nodes:
            self.deadline.check()
            if node.keyword == "virtual_server_group":
                continue
            if node.keyword != "virtual_server":
                self.skip(node)
                continue
            try:
                self.virtual_server(node)
            except ValueError as exc:
                self.builder.error(node.line, str(exc))

    def keys(self, node: Node, settings: dict) -> list[tuple[ServiceKey, str | None]]:
        """The services of a virtual_server: one, or one per entry of its group (with the group's name)."""
        args = node.args
        if node.children is None:
            raise ValueError("virtual_server needs a { … } block")
        family = settings.get("family")
        protocol = settings.get("protocol") or "udp"
        if args[:1] == ["group"]:
            if len(args) != 2 or args[1] not in self.groups:
                raise ValueError(f"virtual_server group “{' '.join(args[1:])}” names no virtual_server_group above")
            keys = []
            for entry in self.groups[args[1]][1]:
                if entry.address is None:
                    keys.append(ServiceKey.for_fwmark(entry.fwmark or 0, entry.family or family or "ipv4"))
                else:
                    keys.append(ServiceKey.for_address(protocol, entry.address, entry.port))
            return [(key, args[1]) for key in keys]
        if args[:1] == ["fwmark"]:
            if len(args) != 2:
                raise ValueError("write virtual_server fwmark MARK")
            return [(ServiceKey.for_fwmark(parse_int(args[1], "firewall mark", 1, 2**32 - 1), family or "ipv4"), None)]
        if len(args) not in (1, 2):
            raise ValueError("write virtual_server ADDRESS PORT (or virtual_server fwmark MARK, or group NAME)")
        port = parse_int(args[1], "port", 0, 65535) if len(args) == 2 else 0
        return [(ServiceKey.for_address(protocol, parse_address(args[0]), port), None)]

    def virtual_server(self, node: Node) -> None:
        settings: dict = {"scheduler": "", "flags": [], "timing": {}, "weight": 1, "quorum": None}
        real_servers: list[Node] = []
        sorry: list[Node] = []
        for child in node.children or []:
            self.deadline.check()
            try:
                self.vs_setting(child, node, settings, real_servers, sorry)
            except ValueError as exc:
                self.builder.error(child.line, str(exc))
        if node.args[:1] == ["group"] and node.args[1:2] and node.args[1] not in self.groups:
            self.skip_reason(node, f"no virtual_server_group {node.args[1]}: keepalived installs nothing for it")
            return
        fwmark = node.args[:1] == ["fwmark"]
        if settings.get("family") is None and fwmark:
            families = {parse_family(rs) for rs in real_servers} - {None}
            settings["family"] = families.pop() if len(families) == 1 else None
        keys = self.keys(node, settings)
        if not real_servers:
            self.skip_reason(node, "keepalived installs no virtual server without real servers")
            return
        for key, group in keys:
            self.service(node, key, group, settings, real_servers, sorry)

    def vs_setting(self, child: Node, node: Node, settings: dict, real_servers: list, sorry: list) -> None:
        word, args = child.keyword, child.args
        where = f" (in virtual_server {' '.join(node.args)})"
        if word in ("lb_algo", "lvs_sched"):
            if args and args[0] in SCHEDULERS:
                settings["scheduler"] = args[0]
            else:
                shown = args[0] if args else ""
                self.builder.warning(child.line, f"lb_algo “{shown}” is ignored by keepalived (names are lower case)")
        elif word in ("lb_kind", "lvs_method"):
            method = parse_method(child, self.builder.warning)
            if method:
                settings["method"] = method
        elif word == "protocol":
            name = (args or [""])[0].upper()
            if name in PROTOCOLS:
                settings["protocol"] = PROTOCOLS[name]
                settings["protocol_line"] = child.line
            else:
                self.builder.warning(child.line, f"protocol “{' '.join(args)}” is ignored by keepalived")
        elif word == "ip_family":
            family = {"inet": "ipv4", "inet6": "ipv6"}.get((args or [""])[0])
            if family is None:
                raise ValueError("ip_family is inet or inet6")
            settings["family"] = family
        elif word == "persistence_timeout":
            settings["timeout"] = parse_int(args[0], "persistence timeout", 1, MAX_TIMEOUT) if args else 360
        elif word == "persistence_granularity":
            if not args:
                raise ValueError("persistence_granularity needs a netmask")
            settings["granularity"] = args[0]
        elif word == "ops":
            settings["ops"] = child.line
        elif word in FLAGS:
            owner = FLAGS[word]
            if owner and settings["scheduler"] != owner:
                self.builder.warning(
                    child.line, f"{word} is ignored by keepalived: it counts only after lb_algo {owner}"
                )
            else:
                settings["flags"].append(word)
        elif word == "weight":
            settings["weight"] = parse_int(args[0] if args else "", "weight", 1, MAX_WEIGHT)
        elif word == "quorum":
            settings["quorum"] = (parse_int(args[0] if args else "", "quorum", 1, 2**32 - 1), child)
        elif word == "sorry_server":
            sorry.append(child)
        elif word == "sorry_server_lvs_method":
            settings["sorry_method"] = parse_method(child, self.builder.warning)
        elif word == "real_server":
            real_servers.append(child)
        elif word in VS_TIMING and self.checks.settings(child, settings["timing"], where):
            pass
        else:
            self.skip(child, where)

    def service(self, node, key: ServiceKey, group, settings: dict, real_servers: list, sorry: list) -> None:
        scheduler = settings["scheduler"] or "wlc"
        if not settings["scheduler"]:
            self.builder.warning(node.line, "no lb_algo: keepalived installs wlc")
        if not key.fwmark and not settings.get("protocol"):
            self.builder.warning(node.line, "no protocol: keepalived installs UDP (write protocol TCP if you meant it)")
        if key.fwmark and settings.get("protocol"):
            self.builder.warning(settings["protocol_line"], "protocol ignored: a firewall-mark service has none")
        method, tunnel = settings.get("method") or ("nat", None)
        if not settings.get("method"):
            self.builder.warning(node.line, "no lb_kind: keepalived installs NAT")
        one_packet = bool(settings.get("ops"))
        if one_packet and key.protocol in ("tcp", "sctp"):
            self.builder.warning(settings["ops"], f"ops dropped: keepalived allows it only for UDP, not {key.protocol}")
            one_packet = False
        timeout = settings.get("timeout")
        if timeout is None and (settings.get("granularity") or (not key.fwmark and key.port == 0)):
            timeout = DEFAULT_PERSISTENCE
            self.builder.warning(node.line, f"keepalived makes this service persistent ({DEFAULT_PERSISTENCE} s)")
        granularity = settings.get("granularity")
        if granularity and key.family == "ipv6" and "." in granularity:
            raise ValueError(f"persistence_granularity {granularity} is an IPv4 netmask, the service is IPv6")
        flags = frozenset(
            f"{scheduler}-{name.split('-')[1]}" if name.startswith("flag") else name for name in settings["flags"]
        ) & {"sh-port", "sh-fallback", "mh-port", "mh-fallback"}
        persistent = persistence(timeout, granularity, key.family) if timeout else None
        service = Service(key=key, scheduler=scheduler, flags=flags, persistence=persistent, one_packet=one_packet)
        if self.builder.has_service(key):
            self.builder.add_service(service, node.line)  # names the first line
            return
        self.builder.add_service(service, node.line)
        self.builder.result.service_methods.setdefault(key, method)
        if group:
            self.builder.result.groups[key] = group
        checks: dict = {}
        seen: set = set()
        for child in real_servers:
            try:
                dest, check = self.real_server(child, key, method, tunnel, settings)
            except ValueError as exc:
                self.builder.error(child.line, str(exc))
                continue
            if dest.key in seen:
                self.builder.warning(
                    child.line, f"real server {dest.address} is listed twice: keepalived installs it once"
                )
                continue
            seen.add(dest.key)
            self.builder.add_dest(key, dest, child.line)
            checks[dest.key] = check
        self.service_check(key, settings, sorry, method, checks)

    def real_server(self, node: Node, key, method, tunnel, settings: dict):
        if not 1 <= len(node.args) <= 2:
            raise ValueError("write real_server ADDRESS PORT")
        address = parse_address(node.args[0])
        port = parse_int(node.args[1], "port", 0, 65535) if len(node.args) == 2 else 0
        weight, upper, lower = settings["weight"], 0, 0
        timing = dict(settings["timing"])
        checkers: list[Node] = []
        where = f" (in real_server {' '.join(node.args)})"
        for child in node.children or []:
            self.deadline.check()
            try:
                if child.keyword == "weight":
                    weight = parse_int(child.args[0] if child.args else "", "weight", 0, MAX_WEIGHT)
                elif child.keyword == "uthreshold":
                    upper = parse_int(child.args[0] if child.args else "", "upper threshold", 0, MAX_THRESHOLD)
                elif child.keyword == "lthreshold":
                    lower = parse_int(child.args[0] if child.args else "", "lower threshold", 0, MAX_THRESHOLD)
                elif child.keyword in ("lvs_method", "lb_kind"):
                    method, tunnel = parse_method(child, self.builder.warning) or (method, tunnel)
                elif child.keyword in CHECK_TYPES or child.keyword in NOT_MAPPED:
                    checkers.append(child)
                elif child.keyword in VS_TIMING and self.checks.settings(child, timing, where):
                    pass
                else:
                    self.skip(child, where)
            except ValueError as exc:
                self.builder.error(child.line, str(exc))
        if method != "nat" and not key.fwmark and port not in (0, key.port):
            self.builder.warning(
                node.line,
                f"port {port} of real server {address} reset to {key.port}: keepalived does so in "
                f"{method.upper()} mode",
            )
        if not key.fwmark and (method != "nat" or port == 0):
            port = key.port
        if key.fwmark and port and method in ("tun", "dr"):
            self.builder.warning(
                node.line,
                f"port {port} of real server {address} dropped: a firewall-mark service in "
                f"{method.upper()} mode keeps the packets' own port",
            )
            port = 0
        check = None
        for checker in checkers:
            fields = self.checks.checker(checker, timing, where) if check is None else None
            if check is None:
                check = fields
            elif checker.keyword not in NOT_MAPPED:
                self.skip_reason(checker, "lvsweb runs one check per real server: the first is imported", where)
            else:
                self.checks.checker(checker, timing, where)
        dest = RealServer(
            address=address,
            port=port,
            weight=weight,
            forward=method,
            tunnel=tunnel if method == "tun" else None,
            upper_threshold=upper,
            lower_threshold=lower,
        )
        return dest, check

    def service_check(self, key: ServiceKey, settings: dict, sorry: list, method: str, checks: dict) -> None:
        """The service's check (the one most real servers share), overrides, and the quorum and sorry server."""
        shared = Counter(frozen(check) for check in checks.values() if check is not None).most_common(1)
        service_check = dict(shared[0][0]) if shared else None
        for dest_key, check in checks.items():
            if service_check is not None and check != service_check:
                self.builder.result.dest_checks[(key, dest_key)] = check or {"check_type": "none"}
        quorum = settings["quorum"]
        if sorry:
            node = sorry[-1]
            address = parse_address(node.args[0]) if node.args else ""
            sorry_method = (settings.get("sorry_method") or (method, None))[0]
            port = parse_int(node.args[1], "port", 0, 65535) if len(node.args) > 1 else 0
            service_check = service_check or {"check_type": "none"}
            service_check.update(
                quorum=quorum[0] if quorum else 1,
                sorry_address=address,
                sorry_port=(port or key.port or None) if sorry_method == "nat" else None,
                sorry_forward_method=sorry_method,
            )
            total = sum(dest.weight for dest in self.builder.dests(key))
            if quorum and any(dest.weight != 1 for dest in self.builder.dests(key)):
                self.builder.warning(
                    quorum[1].line,
                    f"quorum {quorum[0]}: keepalived counts the weights of live real servers "
                    f"({total} in all), lvsweb counts healthy real servers: check the number",
                )
        elif quorum:
            self.skip_reason(
                quorum[1],
                "without sorry_server keepalived only runs quorum scripts; lvsweb's quorum needs a sorry server",
            )
        if service_check is not None:
            self.builder.result.checks[key] = service_check


def parse_family(node: Node) -> str | None:
    try:
        address = parse_address(node.args[0]) if node.args else ""
    except ValueError:
        return None
    return ("ipv6" if ":" in address else "ipv4") if address else None


def parse_method(node: Node, warn) -> tuple[str, Tunnel | None] | None:
    """lb_kind/lvs_method NAT|DR|TUN [type ipip|gue port N|gre] [nocsum|csum|remcsum]; None (warned) when
    keepalived ignores it."""
    kind = KINDS.get(node.args[0]) if node.args else None
    if kind is None:
        shown = node.args[0] if node.args else ""
        warn(node.line, f"{node.keyword} “{shown}” is ignored by keepalived (NAT, DR or TUN, in capitals)")
        return None
    rest = node.args[1:]
    if kind != "tun":
        if rest:
            raise ValueError(f"“{' '.join(rest)}” after {node.args[0]}: tunnel options apply only to TUN")
        return kind, None
    tunnel_type, port, checksum = "ipip", 0, "none"
    position = 0
    while position < len(rest):
        word = rest[position]
        if word == "type" and position + 1 < len(rest):
            tunnel_type = rest[position + 1]
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
    if (tunnel_type == "gue") != bool(port):
        raise ValueError("a gue tunnel needs a port, and only gue has one (keepalived refuses it)")
    if tunnel_type == "ipip" and checksum != "none":
        raise ValueError("ipip tunnels have no checksum option (keepalived refuses it)")
    return kind, Tunnel(type=tunnel_type, port=port, checksum=checksum)


__all__ = ["FULL_MASK", "REASONS", "Parser"]
