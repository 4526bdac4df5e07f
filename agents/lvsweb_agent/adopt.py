"""Adopting a live host: read what its kernel runs, check such a reading, and propose the matching document.

A host configured by hand (ipvsadm, ip, sysctl) or by keepalived already carries traffic. Adopting it means
describing exactly what its kernel holds, so that the first apply finds nothing to change in the kernel, and
the agent's ledger (ledger.py: after a complete apply everything the document names is the agent's) then
holds the adopted services and real servers: a later removal in the console removes them, while what was
left out of the document (`owns_ipvs_table` false) stays untouched.

Three pure steps, shared by the agent, the console and the lab tests (no console imports here):

- `read_host(agent)`: the reading — the IPVS table in the document's own service format, links, addresses,
  the sysctls the recipes care about and the files the agent persists (the `read` command answers with it);
- `parse_reading(data)`: the same, checked as untrusted input (the console gets it from the broker): sizes
  bounded, every service through the document's schema and parser; `ReadingError` lists what is wrong;
- `propose_document(reading, ...)`: the desired-state document that matches the reading, for a director
  (its services and VIPs where they are held) and a real server (VIPs on tunl0 and lo).
"""

from __future__ import annotations

import ipaddress
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lvsweb_agent.document import DOCUMENT_VERSION, DocumentError, parse_document
from lvsweb_agent.model import ActualState, Address, Link, RealServer, Service, address_info
from lvsweb_agent.persist import MODULES_CONF, SYSCTL_CONF, sysctl_name

READING_FORMAT = 1
#: What one reading may hold. A director above these is adopted in parts (or imported from ipvsadm-save text).
MAX_SERVICES = 2000
MAX_REAL_SERVERS = 20000
MAX_LINKS = 256
MAX_ADDRESSES = 2048
MAX_FILE = 65536
#: The largest reading (its JSON) the console accepts: 20,000 real servers take about 4 MB.
MAX_READING_BYTES = 8_000_000
#: The files the agent persists (persist.py): read so that the proposal knows whether they are there already.
FILES = (SYSCTL_CONF, MODULES_CONF)
#: Per-interface sysctls the recipes set (TUN: rp_filter; DR: arp_ignore, arp_announce).
INTERFACE_SYSCTLS = ("rp_filter", "arp_ignore", "arp_announce")
GLOBAL_SYSCTLS = ("net.ipv4.ip_forward", "net.ipv6.conf.all.forwarding")
_SYSCTL_NAME = re.compile(r"^net\.ipv[46]\.[A-Za-z0-9_./-]{1,80}$")
_INTERFACE = re.compile(r"^[^\s/:]{1,15}$")


class ReadingError(ValueError):
    """A reading that cannot be used; `problems` says what is wrong, one message each."""

    def __init__(self, problems: list[str]):
        super().__init__("; ".join(problems))
        self.problems = problems


class ReadingTooLarge(ReadingError):
    """The kernel holds more than one reading may carry."""


# -- reading the kernel (on the agent) --------------------------------------------------------------------------
def service_json(service: Service) -> dict[str, Any]:
    """A service as a desired-state document writes it (agent-spec), real servers included."""
    data: dict[str, Any] = dict(service.key.to_json())
    data.update(
        scheduler=service.scheduler,
        flags=sorted(service.flags),
        persistence=None
        if service.persistence is None
        else {"timeout": service.persistence.timeout, "netmask": service.persistence.netmask},
        one_packet=service.one_packet,
        real_servers=[real_server_json(dest) for dest in sorted(service.real_servers, key=lambda d: d.key)],
    )
    return data


def real_server_json(dest: RealServer) -> dict[str, Any]:
    """A real server as a document writes it."""
    tunnel = None
    if dest.forward == "tun":
        kind = dest.tunnel or None
        tunnel = {
            "type": kind.type if kind else "ipip",
            "port": (kind.port or None) if kind else None,
            "checksum": kind.checksum if kind else "none",
        }
    return {
        "address": dest.address,
        "port": dest.port,
        "weight": dest.weight,
        "forward": dest.forward,
        "tunnel": tunnel,
        "upper_threshold": dest.upper_threshold,
        "lower_threshold": dest.lower_threshold,
    }


def interesting_sysctls(links: list[str]) -> list[str]:
    """The sysctls a reading carries: forwarding, and the recipes' per-interface ones for `links` and the
    `all`/`default` scopes."""
    names = list(GLOBAL_SYSCTLS)
    for interface in ("all", "default", *links):
        names += [sysctl_name("net", "ipv4", "conf", interface, name) for name in INTERFACE_SYSCTLS]
    return names


def read_host(agent: Any) -> dict[str, Any]:
    """What this host's kernel runs, as a reading (JSON-ready). Raises ReadingTooLarge above the limits.

    `agent` is an `lvsweb_agent.agent.Agent`: its kernel reads, its root holds the files.
    """
    kernel = agent.kernel
    state: ActualState = kernel.read(None)
    dests = sum(len(service.real_servers) for service in state.services.values())
    if len(state.services) > MAX_SERVICES or dests > MAX_REAL_SERVERS:
        raise ReadingTooLarge(
            [
                f"the kernel holds {len(state.services)} services and {dests} real servers; one reading carries "
                f"up to {MAX_SERVICES} services and {MAX_REAL_SERVERS} real servers"
            ]
        )
    links = sorted(state.links.values(), key=lambda link: link.index)[:MAX_LINKS]
    read_sysctl = getattr(kernel, "read_sysctl", None)
    sysctls = {}
    if read_sysctl is not None:
        sysctls = {name: read_sysctl(name) for name in interesting_sysctls([link.name for link in links])}
    files: dict[str, str | None] = {}
    for name in FILES:
        try:
            files[name] = (Path(agent.root) / name).read_text()[:MAX_FILE]
        except (FileNotFoundError, UnicodeDecodeError):
            files[name] = None
    return {
        "format": READING_FORMAT,
        "ipvs_loaded": state.ipvs_loaded,
        "services": [service_json(service) for service in sorted(state.services.values(), key=lambda s: s.key)],
        "links": [{"name": link.name, "up": link.up, "kind": link.kind} for link in links],
        "addresses": [
            {"interface": a.interface, "address": a.address, "prefix": a.prefix}
            for a in state.addresses[:MAX_ADDRESSES]
        ],
        "sysctls": sysctls,
        "files": files,
    }


# -- checking a reading (on the console) ------------------------------------------------------------------------
@dataclass
class Reading:
    """A checked reading: the kernel's services (the agent's model) and the rest as the planner reads it."""

    services: tuple[Service, ...]
    actual: ActualState
    #: The services as the reading wrote them (document format), in the reading's order.
    service_documents: list[dict[str, Any]] = field(default_factory=list)

    @property
    def real_servers(self) -> int:
        return sum(len(service.real_servers) for service in self.services)

    def holders(self, address: str) -> list[Address]:
        """The interfaces (with prefix) that hold `address`."""
        return [held for held in self.actual.addresses if held.address == address]

    def recipe_vips(self, interface: str) -> list[str]:
        """IPv4 VIPs held as /32 on `interface` (tunl0: TUN, lo: DR), loopback addresses left out."""
        vips = []
        for held in self.actual.addresses:
            if held.interface != interface or held.prefix != 32 or ":" in held.address:
                continue
            if ipaddress.ip_address(held.address).is_loopback:
                continue
            vips.append(held.address)
        return vips


def _bounded_list(data: dict[str, Any], name: str, limit: int, problems: list[str]) -> list[Any]:
    value = data.get(name, [])
    if not isinstance(value, list):
        problems.append(f"{name}: must be a list, not {type(value).__name__}")
        return []
    if len(value) > limit:
        problems.append(f"{name}: {len(value)} entries, more than the {limit} a reading may hold")
        return []
    return value


def parse_reading(data: object) -> Reading:
    """Check a reading sent by an agent (untrusted) and return it parsed; ReadingError says what is wrong."""
    if not isinstance(data, dict):
        raise ReadingError([f"the reading must be an object, not {type(data).__name__}"])
    if data.get("format") != READING_FORMAT:
        raise ReadingError([f"unknown reading format {data.get('format')!r} (this console reads {READING_FORMAT})"])
    problems: list[str] = []
    services_data = _bounded_list(data, "services", MAX_SERVICES, problems)
    dests = sum(len(s.get("real_servers", [])) for s in services_data if isinstance(s, dict))
    if dests > MAX_REAL_SERVERS:
        problems.append(f"services: {dests} real servers, more than the {MAX_REAL_SERVERS} a reading may hold")
        services_data = []
    services: tuple[Service, ...] = ()
    if services_data:
        director = {"owns_ipvs_table": False, "drain_timeout": 0, "ip_forward": False, "vips": []}
        director["services"] = services_data
        document = {"version": DOCUMENT_VERSION, "host": "reading", "revision": 0, "director": director}
        document["real_server"] = None
        try:
            desired = parse_document(document)
        except DocumentError as exc:
            problems += [f"{path.replace('$.director.', '')}: {message}" for path, message in exc.problems[:20]]
        else:
            services = desired.director.services if desired.director else ()
    links = {}
    for index, item in enumerate(_bounded_list(data, "links", MAX_LINKS, problems)):
        if not isinstance(item, dict) or not _is_interface(item.get("name")) or not isinstance(item.get("up"), bool):
            problems.append(f"links[{index}]: needs a name (an interface name) and up (true or false)")
            continue
        kind = item.get("kind")
        links[item["name"]] = Link(name=item["name"], index=index, up=item["up"], kind=kind if _short(kind) else None)
    addresses = []
    for index, item in enumerate(_bounded_list(data, "addresses", MAX_ADDRESSES, problems)):
        address = _address(item)
        if address is None:
            problems.append(f"addresses[{index}]: needs an interface, an IP address and a prefix that fits it")
        else:
            addresses.append(address)
    sysctls = _sysctls(data.get("sysctls", {}), problems)
    files = _files(data.get("files", {}), problems)
    if problems:
        raise ReadingError(problems)
    ipvs_loaded = data.get("ipvs_loaded", True)
    actual = ActualState(
        ipvs_loaded=ipvs_loaded if isinstance(ipvs_loaded, bool) else True,
        services={service.key: service for service in services},
        links=links,
        addresses=addresses,
        sysctls=sysctls,
        files=files,
    )
    return Reading(services=services, actual=actual, service_documents=[service_json(s) for s in services])


def _is_interface(value: object) -> bool:
    return isinstance(value, str) and bool(_INTERFACE.match(value))


def _short(value: object) -> bool:
    return isinstance(value, str) and len(value) <= 30


def _address(item: object) -> Address | None:
    if not isinstance(item, dict) or not _is_interface(item.get("interface")):
        return None
    text, prefix = item.get("address"), item.get("prefix")
    info = address_info(text) if isinstance(text, str) and len(text) <= 45 else None
    if info is None or isinstance(prefix, bool) or not isinstance(prefix, int):
        return None
    if not 0 <= prefix <= (32 if info[1] == "ipv4" else 128):
        return None
    return Address(interface=item["interface"], address=info[0], prefix=prefix)


def _sysctls(value: object, problems: list[str]) -> dict[str, str | None]:
    if not isinstance(value, dict) or len(value) > 4 * MAX_LINKS + 16:
        problems.append("sysctls: must be an object of at most a few per interface")
        return {}
    sysctls: dict[str, str | None] = {}
    for name, setting in value.items():
        if not _SYSCTL_NAME.match(name) or not (setting is None or (isinstance(setting, str) and len(setting) < 64)):
            problems.append(f"sysctls: {str(name)[:90]!r} is not a network sysctl with a short value")
            continue
        sysctls[name] = setting
    return sysctls


def _files(value: object, problems: list[str]) -> dict[str, str | None]:
    if not isinstance(value, dict):
        problems.append("files: must be an object")
        return {}
    files: dict[str, str | None] = {}
    for name, text in value.items():
        if name not in FILES or not (text is None or (isinstance(text, str) and len(text) <= MAX_FILE)):
            problems.append(f"files: {str(name)[:90]!r} is not one of {', '.join(FILES)} with at most {MAX_FILE} bytes")
            continue
        files[name] = text
    return files


def reading_size(data: object) -> int:
    """The size of a reading as JSON (what MAX_READING_BYTES bounds)."""
    return len(json.dumps(data, separators=(",", ":")))


# -- proposing the document ---------------------------------------------------------------------------------------
def director_vips(reading: Reading, vip_interface: str) -> list[dict[str, Any]]:
    """The director's VIPs: one per service address, where the kernel holds it (else on `vip_interface`)."""
    vips: list[dict[str, Any]] = []
    for service in reading.services:
        address = service.key.address
        if address is None:
            continue
        held = reading.holders(address)
        if held:
            vip = {"address": address, "prefix": held[0].prefix, "interface": held[0].interface}
        else:
            vip = {"address": address, "prefix": 128 if ":" in address else 32, "interface": vip_interface}
        if vip not in vips:
            vips.append(vip)
    return vips


def propose_document(
    reading: Reading,
    *,
    host: str,
    revision: int,
    drain_timeout: int = 300,
    vip_interface: str = "lo",
    uplinks: tuple[str, ...] = ("eth0",),
    exclude: frozenset[str] = frozenset(),
) -> dict[str, Any]:
    """The document that matches the reading: the director's services (but those whose operator text, e.g.
    `tcp 10.0.0.1:80`, is in `exclude`) with their VIPs where they are held; the TUN recipe for the VIPs on
    tunl0 and the DR recipe for those on lo. Applying it changes nothing in the kernel (at most the agent
    writes the files that persist the settings across a reboot)."""
    services = tuple(service for service in reading.services if str(service.key) not in exclude)
    kept = Reading(services=services, actual=reading.actual)
    director = None
    if services:
        director = {
            "owns_ipvs_table": False,
            "drain_timeout": drain_timeout,
            # As the kernel has it: the planner then sets it (and forwarding for IPv6 NAT) only where NAT needs it.
            "ip_forward": reading.actual.sysctls.get("net.ipv4.ip_forward") == "1",
            "vips": director_vips(kept, vip_interface),
            "services": [service_json(service) for service in services],
        }
    real_server = None
    # A director's own VIPs (held on lo, say) are not a real server's recipe.
    own = {service.key.address for service in reading.services}
    tun = [vip for vip in reading.recipe_vips("tunl0") if vip not in own]
    dr = [vip for vip in reading.recipe_vips("lo") if vip not in own]
    if tun or dr:
        real_server = {
            "tun": {"vips": tun, "uplinks": list(uplinks)} if tun else None,
            "dr": {"vips": [vip for vip in dr if vip not in tun], "uplinks": list(uplinks)} if dr else None,
        }
    return {
        "version": DOCUMENT_VERSION,
        "host": host,
        "revision": revision,
        "director": director,
        "real_server": real_server,
    }
