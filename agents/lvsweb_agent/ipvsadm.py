"""The `ipvsadm-save -n` text form: render the kernel's table exactly as ipvsadm does, and parse it back.

Checked against ipvsadm 1.31 in the lab (see docs/agent-spec.md): services sorted by fwmark, family,
protocol, address, port; real servers by address, port; persistence `-p T` with `-M` only when the mask is
not the full one; `-o`; `-b` scheduler flags; every tunnel real server carries `--tun-type`, gue adds
`--tun-port` and a checksum switch, gre a checksum switch. Thresholds are not part of the save format.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable
from functools import cmp_to_key
from typing import TypeVar

from lvsweb_agent.model import (
    FAMILIES,
    PROTOCOLS,
    Persistence,
    RealServer,
    Service,
    ServiceKey,
    Tunnel,
    format_hostport,
)

T = TypeVar("T")

PROTOCOL_SWITCH = {"tcp": "-t", "udp": "-u", "sctp": "--sctp-service"}
SWITCH_PROTOCOL = {switch: proto for proto, switch in PROTOCOL_SWITCH.items()}
FORWARD_SWITCH = {"nat": "-m", "tun": "-i", "dr": "-g"}
SWITCH_FORWARD = {switch: forward for forward, switch in FORWARD_SWITCH.items()}
CHECKSUM_SWITCH = {"none": "--tun-nocsum", "csum": "--tun-csum", "remcsum": "--tun-remcsum"}
SWITCH_CHECKSUM = {switch: checksum for checksum, switch in CHECKSUM_SWITCH.items()}
FULL_MASK = {"ipv4": "255.255.255.255", "ipv6": "128"}


def _int32(value: int) -> int:
    # ipvsadm compares with a C `int` subtraction of unsigned values; keep its wrap-around so the
    # order matches even for addresses more than 2^31 apart.
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value & 0x80000000 else value


def _address_words(address: str | None) -> list[int]:
    if address is None:
        return [0]
    packed = socket.inet_pton(socket.AF_INET6 if ":" in address else socket.AF_INET, address)
    return [int.from_bytes(packed[i : i + 4], "big") for i in range(0, len(packed), 4)]


def _compare_addresses(a: str | None, b: str | None) -> int:
    result = 0
    for x, y in zip(_address_words(a), _address_words(b), strict=False):
        result = _int32(x - y)
        if result:
            break
    return result


def _compare_services(a: Service, b: Service) -> int:
    ka, kb = a.key, b.key
    for x, y in (
        (ka.fwmark, kb.fwmark),
        (FAMILIES[ka.family], FAMILIES[kb.family]),
        (PROTOCOLS.get(ka.protocol or "tcp", 0), PROTOCOLS.get(kb.protocol or "tcp", 0)),
    ):
        result = _int32(x - y)
        if result:
            return result
    return _compare_addresses(ka.address, kb.address) or (ka.port - kb.port)


def _compare_dests(a: RealServer, b: RealServer) -> int:
    return _compare_addresses(a.address, b.address) or (a.port - b.port)


def service_switch(key: ServiceKey) -> str:
    """`-t 10.0.0.1:80`, `--sctp-service [::1]:80`, `-f 5` or `-f 5 -6`."""
    if key.fwmark:
        return f"-f {key.fwmark}" + (" -6" if key.family == "ipv6" else "")
    assert key.protocol is not None and key.address is not None  # an address key has both
    return f"{PROTOCOL_SWITCH[key.protocol]} {format_hostport(key.address, key.port)}"


def render_service(service: Service) -> str:
    """The `-A` line of one service."""
    line = f"-A {service_switch(service.key)} -s {service.scheduler}"
    if service.persistence is not None:
        line += f" -p {service.persistence.timeout}"
        if service.persistence.netmask != FULL_MASK[service.key.family]:
            line += f" -M {service.persistence.netmask}"
    if service.one_packet:
        line += " -o"
    if service.flags:
        order = ("fallback", "port")
        names = sorted(service.flags, key=lambda flag: order.index(flag.split("-", 1)[1]))
        line += " -b " + ",".join(names)
    return line


def render_dest(key: ServiceKey, dest: RealServer, *, thresholds: bool = False) -> str:
    """The `-a` line of one real server; `thresholds` adds -x/-y when set (ipvsadm-save leaves them out)."""
    line = (
        f"-a {service_switch(key)} -r {format_hostport(dest.address, dest.port)} "
        f"{FORWARD_SWITCH[dest.forward]} -w {dest.weight}"
    )
    if dest.forward == "tun":
        tunnel = dest.tunnel or Tunnel()
        line += f" --tun-type {tunnel.type}"
        if tunnel.type == "gue":
            line += f" --tun-port {tunnel.port} {CHECKSUM_SWITCH[tunnel.checksum]}"
        elif tunnel.type == "gre":
            line += f" {CHECKSUM_SWITCH[tunnel.checksum]}"
    if thresholds and dest.upper_threshold:
        line += f" -x {dest.upper_threshold}"
    if thresholds and dest.lower_threshold:
        line += f" -y {dest.lower_threshold}"
    return line


def _words(address: str | None) -> tuple[int, ...]:
    return () if address is None else tuple(_address_words(address))


def _sorted(
    items: list[T],
    plain_key: Callable[[T], tuple[object, ...]],
    compare: Callable[[T, T], int],
    address_of: Callable[[T], str | None],
) -> list[T]:
    """Sort as ipvsadm's comparator does. Its int subtraction only wraps when two address words are 2^31
    or more apart; without such a pair the order is the plain numeric one, and a key sort is much faster
    than calling the comparator (a 50,000-line table)."""
    spans: dict[int, list[int]] = {}
    for item in items:
        for position, word in enumerate(_words(address_of(item))):
            low_high = spans.setdefault(position, [word, word])
            low_high[0], low_high[1] = min(low_high[0], word), max(low_high[1], word)
    if all(high - low < 0x80000000 for low, high in spans.values()) and all(
        getattr(getattr(item, "key", None), "fwmark", 0) < 0x80000000 for item in items
    ):
        return sorted(items, key=plain_key)
    return sorted(items, key=cmp_to_key(compare))


def _service_key(service: Service) -> tuple[int, int, int, tuple[int, ...], int]:
    key = service.key
    return (key.fwmark, FAMILIES[key.family], PROTOCOLS.get(key.protocol or "tcp", 0), _words(key.address), key.port)


def _dest_key(dest: RealServer) -> tuple[tuple[int, ...], int]:
    return (_words(dest.address), dest.port)


def render_save(services: Iterable[Service], *, thresholds: bool = False) -> str:
    """The whole table as `ipvsadm-save -n` prints it (newline-terminated, empty for an empty table).

    `thresholds` adds -x/-y to real servers that have them, which ipvsadm-restore reads but ipvsadm-save
    never prints (the console's export keeps them this way).
    """
    lines = []
    for service in _sorted(list(services), _service_key, _compare_services, lambda s: s.key.address):
        lines.append(render_service(service))
        for dest in _sorted(list(service.real_servers), _dest_key, _compare_dests, lambda d: d.address):
            lines.append(render_dest(service.key, dest, thresholds=thresholds))
    return "".join(line + "\n" for line in lines)


class SaveFormatError(ValueError):
    """A line of ipvsadm-save text this parser does not understand."""


def _split_hostport(text: str) -> tuple[str, int]:
    if text.startswith("["):
        host, _, port = text[1:].partition("]:")
    else:
        host, _, port = text.rpartition(":")
    return str(ipaddress.ip_address(host)), int(port)


def _parse_line(tokens: list[str], lineno: int) -> tuple[ServiceKey, dict[str, str]]:
    options: dict[str, str] = {}  # an option and its value ("" for a switch without one)
    it = iter(tokens[1:])
    takes_value = {"-t", "-u", "--sctp-service", "-f", "-s", "-p", "-M", "-b", "-r", "-w", "-x", "-y"}
    takes_value |= {"--tun-type", "--tun-port"}
    for token in it:
        if token in takes_value:
            value = next(it, None)
            if value is None:
                raise SaveFormatError(f"line {lineno}: {token} needs a value")
            options[token] = value
        elif token in ("-6", "-o", "-m", "-i", "-g", *SWITCH_CHECKSUM):
            options[token] = ""
        else:
            raise SaveFormatError(f"line {lineno}: unknown option {token}")
    if "-f" in options:
        key = ServiceKey.for_fwmark(int(options["-f"]), "ipv6" if "-6" in options else "ipv4")
    else:
        switch = next((s for s in SWITCH_PROTOCOL if s in options), None)
        if switch is None:
            raise SaveFormatError(f"line {lineno}: no -t, -u, --sctp-service or -f")
        address, port = _split_hostport(options[switch])
        key = ServiceKey.for_address(SWITCH_PROTOCOL[switch], address, port)
    return key, options


def parse_save(text: str) -> list[Service]:
    """Services (with real servers) from `ipvsadm-save -n` text, in the order given."""
    services: dict[ServiceKey, Service] = {}
    for lineno, line in enumerate(text.splitlines(), start=1):
        tokens = line.split()
        if not tokens:
            continue
        key, options = _parse_line(tokens, lineno)
        if tokens[0] == "-A":
            persistence = None
            if "-p" in options:
                netmask = options.get("-M") or FULL_MASK[key.family]
                persistence = Persistence(timeout=int(options["-p"]), netmask=netmask)
            flags = frozenset(options["-b"].split(",")) if "-b" in options else frozenset()
            services[key] = Service(
                key=key,
                scheduler=options.get("-s", "wlc"),
                flags=flags,
                persistence=persistence,
                one_packet="-o" in options,
            )
        elif tokens[0] == "-a":
            if key not in services:
                raise SaveFormatError(f"line {lineno}: real server of {key} before its -A line")
            address, port = _split_hostport(options["-r"])
            forward = next((SWITCH_FORWARD[s] for s in SWITCH_FORWARD if s in options), "dr")
            tunnel = None
            if forward == "tun":
                checksum = next((SWITCH_CHECKSUM[s] for s in SWITCH_CHECKSUM if s in options), "none")
                tunnel = Tunnel(
                    type=options.get("--tun-type", "ipip"),
                    port=int(options.get("--tun-port") or 0),
                    checksum=checksum,
                )
            dest = RealServer(
                address=address,
                port=port,
                weight=int(options.get("-w", 1)),
                forward=forward,
                tunnel=tunnel,
                upper_threshold=int(options.get("-x", 0)),
                lower_threshold=int(options.get("-y", 0)),
            )
            service = services[key]
            services[key] = Service(
                key=service.key,
                scheduler=service.scheduler,
                flags=service.flags,
                persistence=service.persistence,
                one_packet=service.one_packet,
                real_servers=(*service.real_servers, dest),
            )
        else:
            raise SaveFormatError(f"line {lineno}: expected -A or -a, got {tokens[0]}")
    return list(services.values())
