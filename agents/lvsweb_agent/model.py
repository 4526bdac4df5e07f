"""Plain data the agent works with: desired state, actual state, in the kernel's own terms."""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from lvsweb_agent.decap import Endpoint
    from lvsweb_agent.hadoc import HighAvailability
    from lvsweb_agent.hastate import HAActual

#: The IPVS schedulers (the kernel module is ip_vs_<name>) and what each does: the one list. The console's
#: Scheduler choices, the fast check and the tests read it; host-state.schema.json's enum is checked against it
#: (tests/agent/test_schedulers.py).
SCHEDULER_DESCRIPTIONS = {
    "rr": "round robin",
    "wrr": "weighted round robin",
    "lc": "least connection",
    "wlc": "weighted least connection",
    "lblc": "locality-based least connection",
    "lblcr": "locality-based least connection with replication",
    "dh": "destination hashing",
    "sh": "source hashing",
    "sed": "shortest expected delay",
    "nq": "never queue",
    "fo": "weighted failover",
    "ovf": "weighted overflow",
    "mh": "maglev hashing",
}
SCHEDULERS = tuple(SCHEDULER_DESCRIPTIONS)
PROTOCOLS = {"tcp": 6, "udp": 17, "sctp": 132}
PROTOCOL_NAMES = {number: name for name, number in PROTOCOLS.items()}
FAMILIES = {"ipv4": 2, "ipv6": 10}
FAMILY_NAMES = {number: name for name, number in FAMILIES.items()}
FORWARD_METHODS = {"nat": 0, "tun": 2, "dr": 3}
FORWARD_NAMES = {0: "nat", 1: "local", 2: "tun", 3: "dr"}
TUNNEL_TYPES = {"ipip": 0, "gue": 1, "gre": 2}
TUNNEL_TYPE_NAMES = {number: name for name, number in TUNNEL_TYPES.items()}
CHECKSUMS = {"none": 0, "csum": 1, "remcsum": 2}
CHECKSUM_NAMES = {number: name for name, number in CHECKSUMS.items()}
# Scheduler flags share the kernel's IP_VS_SVC_F_SCHED1/2 bits; the name depends on the scheduler.
SCHED_FLAG_BITS = {"sh-fallback": 0x08, "sh-port": 0x10, "mh-fallback": 0x08, "mh-port": 0x10}
SVC_F_PERSISTENT = 0x01
SVC_F_HASHED = 0x02
SVC_F_ONEPACKET = 0x04


@lru_cache(maxsize=65536)
def address_info(address: str) -> tuple[str, str] | None:
    """(the address as the kernel's dumps print it, 'ipv4' | 'ipv6'), or None when it is no address.

    inet_pton/inet_ntop (C) decide the common case; Python's ipaddress, which the schema's format check
    uses, decides the rest. The text is inet_ntop's so that a document's address and the same address
    read back from the kernel compare equal (ipaddress writes ::ffff:1.2.3.4 as ::ffff:102:304).
    """
    for family, name in ((socket.AF_INET, "ipv4"), (socket.AF_INET6, "ipv6")):
        try:
            packed = socket.inet_pton(family, address)
        except (OSError, ValueError):
            continue
        text = socket.inet_ntop(family, packed)
        if text != address:
            try:
                ipaddress.ip_address(address)
            except ValueError:
                return None
        return text, name
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return None
    return str(parsed), "ipv6" if parsed.version == 6 else "ipv4"


def family_of(address: str) -> str:
    """'ipv4' or 'ipv6' for an address string."""
    info = address_info(address)
    if info is None:
        raise ValueError(f"{address!r} is not an IP address")
    return info[1]


def normalize_address(address: str) -> str:
    """The canonical text form (as inet_ntop writes it: compressed lowercase IPv6)."""
    info = address_info(address)
    if info is None:
        raise ValueError(f"{address!r} is not an IP address")
    return info[0]


def format_hostport(address: str, port: int) -> str:
    """`10.0.0.1:80` or `[2001:db8::1]:80`, as ipvsadm prints them."""
    if ":" in address:
        return f"[{address}]:{port}"
    return f"{address}:{port}"


@dataclass(frozen=True)
class ServiceKey:
    """What identifies a virtual service in the kernel: protocol+VIP+port, or a firewall mark."""

    family: str
    protocol: str | None
    address: str | None
    port: int
    fwmark: int = 0

    @classmethod
    def for_address(cls, protocol: str, address: str, port: int) -> ServiceKey:
        address = normalize_address(address)
        return cls(family=family_of(address), protocol=protocol, address=address, port=port)

    @classmethod
    def for_fwmark(cls, fwmark: int, family: str = "ipv4") -> ServiceKey:
        return cls(family=family, protocol=None, address=None, port=0, fwmark=fwmark)

    def sort_key(self) -> tuple[int, str, str, str, int]:
        return (self.fwmark, self.family, self.protocol or "", self.address or "", self.port)

    def __lt__(self, other: ServiceKey) -> bool:
        return self.sort_key() < other.sort_key()

    def __str__(self) -> str:
        if self.fwmark:
            return f"fwmark {self.fwmark}" + (" ipv6" if self.family == "ipv6" else "")
        return f"{self.protocol} {format_hostport(self.address or '', self.port)}"

    @classmethod
    def from_text(cls, text: str) -> ServiceKey:
        """The inverse of str(): `tcp 10.0.0.1:80`, `sctp [2001:db8::1]:80`, `fwmark 5`, `fwmark 5 ipv6`."""
        return _key_from_text(text)

    def to_json(self) -> dict[str, Any]:
        if self.fwmark:
            return {"fwmark": self.fwmark, "family": self.family}
        return {"protocol": self.protocol, "address": self.address, "port": self.port}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ServiceKey:
        if data.get("fwmark"):
            return cls.for_fwmark(data["fwmark"], data.get("family", "ipv4"))
        return cls.for_address(data["protocol"], data["address"], data["port"])


@lru_cache(maxsize=65536)
def _key_from_text(text: str) -> ServiceKey:
    kind, _, rest = text.partition(" ")
    if kind == "fwmark":
        mark, _, family = rest.partition(" ")
        return ServiceKey.for_fwmark(int(mark), family or "ipv4")
    host, _, port = rest.rpartition(":")
    return ServiceKey.for_address(kind, host.strip("[]"), int(port))


@dataclass(frozen=True)
class Tunnel:
    """Encapsulation of a tunnel-mode real server (ipvsadm --tun-type/--tun-port/--tun-*csum)."""

    type: str = "ipip"
    port: int = 0
    checksum: str = "none"

    def describe(self) -> str:
        text = self.type
        if self.type == "gue":
            text += f" port {self.port}"
        if self.type != "ipip":
            text += f" checksum {self.checksum}"
        return text


@dataclass(frozen=True)
class Persistence:
    """Persistent service: timeout in seconds; netmask dotted (IPv4) or prefix length text (IPv6)."""

    timeout: int
    netmask: str


class DestCounters(NamedTuple):
    """Live connection counts and the kernel's traffic counters for one real server (or service).

    A NamedTuple, not a dataclass: a dump builds one per real server and this is several times cheaper.
    """

    active_conns: int = 0
    inactive_conns: int = 0
    persistent_conns: int = 0
    conns: int = 0
    in_packets: int = 0
    out_packets: int = 0
    in_bytes: int = 0
    out_bytes: int = 0
    cps: int = 0
    in_pps: int = 0
    out_pps: int = 0
    in_bps: int = 0
    out_bps: int = 0


@dataclass(frozen=True)
class HealthCheck:
    """How the director's agent checks one real server (docs/health.md); not kernel state.

    `type` is tcp, http, https, udp, dns or sctp; `port` the port probed; `tunnel` adds a tunnel-path
    probe (a TCP SYN to VIP:port, encapsulated to the real server as the director's clients reach it).
    udp sends `payload` and judges the reply by `reply_match`/`reply_pattern`; dns asks
    `query_name`/`query_type`.
    """

    type: str = "tcp"
    port: int = 0
    path: str = "/"
    host: str = ""
    expect: tuple[int, int] = (200, 399)
    body: str = ""
    interval: float = 5.0
    timeout: float = 3.0
    rise: int = 2
    fall: int = 3
    on_failure: str = "weight0"
    tunnel: bool = False
    payload: bytes = b""
    reply_match: str = "none"
    reply_pattern: bytes = b""
    query_name: str = "."
    query_type: str = "SOA"


@dataclass(frozen=True)
class RealServer:
    """An IPVS destination. `counters` is only filled when read from the kernel; `health` is the check
    the director's agent runs on it (None: not checked)."""

    address: str
    port: int
    weight: int = 1
    forward: str = "tun"
    tunnel: Tunnel | None = None
    upper_threshold: int = 0
    lower_threshold: int = 0
    counters: DestCounters | None = field(default=None, compare=False)
    health: HealthCheck | None = field(default=None, compare=False)

    @property
    def key(self) -> tuple[str, int]:
        return (self.address, self.port)

    @property
    def connections(self) -> int:
        """Active plus inactive connections (what a drain waits for)."""
        if self.counters is None:
            return 0
        return self.counters.active_conns + self.counters.inactive_conns

    def settings(self) -> tuple[int, str, Tunnel | None, int, int]:
        """Everything an edit-dest can change; equal settings mean no operation."""
        tunnel = (self.tunnel or Tunnel()) if self.forward == "tun" else None
        return (self.weight, self.forward, tunnel, self.upper_threshold, self.lower_threshold)

    def describe(self) -> str:
        text = f"{self.forward}"
        if self.forward == "tun":
            text += f" {(self.tunnel or Tunnel()).describe()}"
        text += f" weight {self.weight}"
        if self.upper_threshold:
            text += f" upper {self.upper_threshold}"
        if self.lower_threshold:
            text += f" lower {self.lower_threshold}"
        return text


@dataclass(frozen=True)
class Quorum:
    """Fewer than `min_up` healthy real servers: the sorry server takes the service's new connections."""

    min_up: int
    sorry_server: RealServer


@dataclass(frozen=True)
class Service:
    """An IPVS virtual service with its real servers (and, for health checks, its quorum)."""

    key: ServiceKey
    scheduler: str = "wlc"
    flags: frozenset[str] = frozenset()
    persistence: Persistence | None = None
    one_packet: bool = False
    real_servers: tuple[RealServer, ...] = ()
    counters: DestCounters | None = field(default=None, compare=False)
    quorum: Quorum | None = field(default=None, compare=False)

    def settings(self) -> tuple[str, frozenset[str], Persistence | None, bool]:
        """Everything an edit-service can change."""
        return (self.scheduler, self.flags, self.persistence, self.one_packet)

    def describe(self) -> str:
        text = f"sched {self.scheduler}"
        if self.flags:
            text += " flags " + ",".join(sorted(self.flags))
        if self.persistence:
            text += f" persistent {self.persistence.timeout}s mask {self.persistence.netmask}"
        if self.one_packet:
            text += " one-packet"
        return text


@dataclass(frozen=True)
class Address:
    """An address held on an interface.

    `nodad` and `deprecated` are how it is added, not what identifies it: an IPv6 VIP on a tunnel device
    skips duplicate address detection (nothing else is on that link), and an IPv6 VIP on a director gets
    preferred_lft 0 so that the kernel never picks it as the source of the director's own packets (the
    outer header of its tunnelled packets: the real server holding the same VIP would drop them).
    """

    interface: str
    address: str
    prefix: int
    nodad: bool = field(default=False, compare=False)
    deprecated: bool = field(default=False, compare=False)

    def __str__(self) -> str:
        return f"{self.address}/{self.prefix} on {self.interface}"


@dataclass(frozen=True)
class Director:
    """The director part of a document."""

    owns_ipvs_table: bool = False
    drain_timeout: int = 300
    ip_forward: bool = False
    vips: tuple[Address, ...] = ()
    services: tuple[Service, ...] = ()
    ha: HighAvailability | None = None


@dataclass(frozen=True)
class Recipe:
    """A real-server recipe (TUN or DR): VIPs and the uplink interfaces; for TUN, how each VIP arrives
    (`tunnels`, lvsweb_agent.decap; a VIP without an entry: ipip in its own family)."""

    vips: tuple[str, ...] = ()
    uplinks: tuple[str, ...] = ()
    tunnels: tuple[Endpoint, ...] = ()


@dataclass(frozen=True)
class DesiredState:
    """A validated desired-state document."""

    host: str
    revision: int
    director: Director | None = None
    tun: Recipe | None = None
    dr: Recipe | None = None


@dataclass
class Link:
    """A network interface as the kernel reports it."""

    name: str
    index: int
    up: bool
    kind: str | None = None
    tunnel_proto: int | None = None  # ip6tnl's IFLA_IPTUN_PROTO (0: any)
    local: str | None = None  # a tunnel device's local address (gre/ip6gre)
    csum: bool = False  # a gre/ip6gre device that expects checksums (icsum)


@dataclass
class ActualState:
    """What the kernel (and the host's files) hold right now."""

    ipvs_loaded: bool = True
    services: dict[ServiceKey, Service] = field(default_factory=dict)
    links: dict[str, Link] = field(default_factory=dict)
    addresses: list[Address] = field(default_factory=list)
    sysctls: dict[str, str | None] = field(default_factory=dict)
    files: dict[str, str | None] = field(default_factory=dict)
    fou_available: bool = False
    fou_ports: set[tuple[int, str]] = field(default_factory=set)  # GUE listeners: (port, 'ipv4' | 'ipv6')
    ha: HAActual | None = None  # read when the document has `ha` or keepalived of ours runs (hastate.py)

    def has_address(self, address: Address) -> bool:
        return address in self.addresses
