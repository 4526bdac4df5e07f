"""A rule set (with its health checks) as keepalived.conf virtual_server blocks that keepalived 2.2.7 reads.

Services that came from one virtual_server_group (`groups`) and still share their settings and real servers
are written back as that group; the others get a virtual_server block each. Checks are written as
keepalived checkers (tcp → TCP_CHECK, http → HTTP_GET, https → SSL_GET, udp → UDP_CHECK, dns → DNS_CHECK)
with their timing, `on_failure weight0` as `inhibit_on_failure`, and the quorum and sorry server on the
virtual server.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping

from lvsweb_agent.model import RealServer, Service, ServiceKey, Tunnel

from clusters.interchange.ruleset import FULL_MASK

KIND_NAMES = {"nat": "NAT", "dr": "DR", "tun": "TUN"}
CHECKSUM_NAMES = {"none": "nocsum", "csum": "csum", "remcsum": "remcsum"}
CHECKER_NAMES = {"tcp": "TCP_CHECK", "http": "HTTP_GET", "https": "SSL_GET", "udp": "UDP_CHECK", "dns": "DNS_CHECK"}


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


def _number(value) -> str:
    return f"{float(value):g}"


def checker_lines(check: Mapping, indent: str) -> list[str]:
    """A check as a keepalived checker block (nothing for type none)."""
    name = CHECKER_NAMES.get(check.get("check_type", "none"))
    if name is None:
        return []
    lines = [f"{indent}{name} {{"]
    inner = indent + "    "
    if name == "UDP_CHECK":
        lines.extend(_datagram_lines(check, inner))
    elif name == "DNS_CHECK":
        lines.append(f"{inner}type {check.get('query_type') or 'SOA'}")
        lines.append(f"{inner}name {check.get('query_name') or '.'}")
    elif name != "TCP_CHECK":
        lines.append(f"{inner}url {{")
        lines.append(f"{inner}    path {check.get('path') or '/'}")
        low, high = check.get("expect_status_min", 200), check.get("expect_status_max", 399)
        lines.append(f"{inner}    status_code {low}" + (f"-{high}" if high != low else ""))
        lines.append(f"{inner}}}")
        if check.get("host_header"):
            lines.append(f"{inner}virtualhost {check['host_header']}")
        if check.get("body_match"):
            lines.append(f"{inner}# body_match “{check['body_match']}” has no keepalived equivalent (not exported)")
    if check.get("port"):
        lines.append(f"{inner}connect_port {check['port']}")
    interval = check.get("interval", 5.0)
    lines.append(f"{inner}connect_timeout {_number(check.get('timeout', 3.0))}")
    lines.append(f"{inner}retry {max(int(check.get('fall', 3)) - 1, 1)}")
    lines.append(f"{inner}delay_before_retry {_number(interval)}")
    lines.append(f"{inner}delay_loop {_number(interval)}")
    lines.append(f"{indent}}}")
    return lines


def _hex(text: str, is_hex: bool) -> str:
    return "".join(text.split()) if is_hex else text.encode().hex()


def _datagram_lines(check: Mapping, inner: str) -> list[str]:
    """A UDP check's payload and expected reply, as keepalived's UDP_CHECK writes them (hex)."""
    lines, is_hex = [], bool(check.get("payload_hex"))
    if check.get("payload"):
        lines.append(f"{inner}payload {_hex(check['payload'], is_hex)}")
    match = check.get("reply_match", "none")
    if match == "any":
        lines.append(f"{inner}require_reply")
    elif match == "prefix" and check.get("reply_pattern"):
        lines.append(f"{inner}require_reply {_hex(check['reply_pattern'], is_hex)}")
    elif match == "regex":
        lines.append(f"{inner}require_reply")
        lines.append(
            f"{inner}# reply_pattern “{check.get('reply_pattern', '')}” is a regular expression: keepalived has none"
        )
    return lines


def _head(service: Service, group: str | None) -> list[str]:
    key = service.key
    if group:
        lines = [f"virtual_server group {group} {{"]
    elif key.fwmark:
        lines = [f"virtual_server fwmark {key.fwmark} {{"]
    else:
        lines = [f"virtual_server {key.address} {key.port} {{"]
    if key.fwmark:  # else keepalived takes the family of the real servers
        lines.append(f"    ip_family {'inet6' if key.family == 'ipv6' else 'inet'}")
    return lines


def _service_lines(service: Service, default_method: str | None, check, dest_checks, group=None) -> list[str]:
    key = service.key
    lines = _head(service, group)
    lines.append(f"    lb_algo {service.scheduler}")
    dests = sorted(service.real_servers, key=lambda d: d.key)
    methods = Counter(_method_of(dest) for dest in dests)  # in address order, so that a tie is decided the same
    method = methods.most_common(1)[0][0] if methods else KIND_NAMES.get(default_method or "tun", "TUN")
    # lb_kind takes the plain kind; a tunnel with options needs lvs_method (keepalived 2.1 and later).
    lines.append(f"    {'lb_kind' if ' ' not in method else 'lvs_method'} {method}")
    if key.protocol:
        lines.append(f"    protocol {key.protocol.upper()}")
    if service.persistence is not None:
        lines.append(f"    persistence_timeout {service.persistence.timeout}")
        if service.persistence.netmask != FULL_MASK[key.family]:
            lines.append(f"    persistence_granularity {service.persistence.netmask}")
    if service.one_packet:
        lines.append("    ops")
    lines.extend(f"    {flag}" for flag in sorted(service.flags))
    if check and check.get("sorry_address"):
        port = check.get("sorry_port") or (key.port if not key.fwmark else "")
        lines.append(f"    quorum {check.get('quorum') or 1}")
        lines.append(f"    sorry_server {check['sorry_address']} {port}".rstrip())
        sorry_method = KIND_NAMES[check.get("sorry_forward_method") or "dr"]
        if sorry_method != method.split()[0]:
            lines.append(f"    sorry_server_lvs_method {sorry_method}")
    for dest in dests:
        port = f" {dest.port}" if dest.port else ""
        own = dest_checks.get(dest.key) or check or {}
        lines.append("")
        lines.append(f"    real_server {dest.address}{port} {{")
        lines.append(f"        weight {dest.weight}")
        if _method_of(dest) != method:
            lines.append(f"        lvs_method {_method_of(dest)}")
        if dest.upper_threshold:
            lines.append(f"        uthreshold {dest.upper_threshold}")
        if dest.lower_threshold:
            lines.append(f"        lthreshold {dest.lower_threshold}")
        if own.get("check_type", "none") != "none" and own.get("on_failure") == "weight0":
            lines.append("        inhibit_on_failure")
        lines.extend(checker_lines(own, "        "))
        lines.append("    }")
    lines.append("}")
    return lines


def _group_lines(name: str, services: list[Service]) -> list[str]:
    lines = [f"virtual_server_group {name} {{"]
    for service in services:
        key = service.key
        if key.fwmark:
            lines.append(f"    fwmark {key.fwmark} {'inet6' if key.family == 'ipv6' else 'inet'}")
        else:
            lines.append(f"    {key.address} {key.port}")
    lines.append("}")
    return lines


def _shape(service: Service, check, dest_checks) -> tuple:
    """What services of one group must share to be written as one group: all but their key."""
    key = service.key
    return (
        key.protocol or "fwmark",
        service.scheduler,
        service.flags,
        service.persistence.timeout if service.persistence else None,
        service.one_packet,
        tuple(sorted(service.real_servers, key=lambda d: d.key)),
        tuple(sorted((check or {}).items())),
        tuple(sorted((k, tuple(sorted(v.items()))) for k, v in dest_checks.items())),
    )


def render(
    services,
    *,
    header: str = "",
    methods: Mapping[ServiceKey, str] | None = None,
    checks: Mapping[ServiceKey, Mapping] | None = None,
    dest_checks: Mapping[tuple[ServiceKey, tuple[str, int]], Mapping] | None = None,
    groups: Mapping[ServiceKey, str] | None = None,
) -> str:
    """The rule set as keepalived.conf virtual_server blocks, services in key order; `header` becomes comments.

    `methods` gives a service's own forwarding method (nat, dr, tun), written as its lb_kind when it has no
    real servers to take it from; `checks` and `dest_checks` the health checks (HealthCheck fields) of
    services and of real servers that differ; `groups` the virtual_server_group a service came from.
    """
    methods, checks, groups = methods or {}, checks or {}, groups or {}
    per_dest: dict[ServiceKey, dict] = defaultdict(dict)
    for (key, dest_key), fields in (dest_checks or {}).items():
        per_dest[key][dest_key] = fields
    ordered = sorted(services, key=lambda s: s.key.sort_key())
    members: dict[str, list[Service]] = defaultdict(list)
    for service in ordered:
        if service.key in groups:
            members[groups[service.key]].append(service)
    grouped = {
        name: group
        for name, group in members.items()
        if len({_shape(s, checks.get(s.key), per_dest[s.key]) for s in group}) == 1 and group[0].real_servers
    }
    lines = [f"# {line}".rstrip() for line in header.splitlines()]
    written: set[str] = set()
    for service in ordered:
        name = groups.get(service.key)
        if name in grouped and name in written:
            continue
        if lines:
            lines.append("")
        if name in grouped:
            written.add(name)
            lines.extend(_group_lines(name, grouped[name]))
            lines.append("")
        group = name if name in grouped else None
        key = service.key
        lines.extend(_service_lines(service, methods.get(key), checks.get(key), per_dest[key], group))
    return "".join(line + "\n" for line in lines)
