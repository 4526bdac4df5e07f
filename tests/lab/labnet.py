"""The lab network: hosts made of network namespaces, veth pairs and bridges inside the lab VM.

```
  br-front 10.10.0.0/24                br-back 10.20.0.0/24
    client   .10 ─┐                   ┌─ rs1 .11   TUN real servers (another subnet)
    director  .2 ─┼─ .1 router .1 ────┤
    dr1      .21 ─┤                   └─ rs2 .12
    dr2      .22 ─┘  DR real servers (the director's subnet)

  br-nat 10.30.0.0/24
    director  .1 ─┬─ nat1 .11   NAT real servers (their gateway is the director)
                  └─ nat2 .12
```
DR real servers sit on the director's subnet; NAT real servers have the director as their gateway.
Every real server runs busybox httpd answering its own name (NAT ones on port 8080, to show port
mapping). Everything is read back from the kernel (`ip`, `ipvsadm`, /proc/sys), never from the agent.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import re
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

VIP = "10.10.0.100"
FRONT, BACK, NAT = "10.10.0", "10.20.0", "10.30.0"
ROUTER_FRONT, ROUTER_BACK, DIRECTOR_FRONT, DIRECTOR_NAT = "10.10.0.1", "10.20.0.1", "10.10.0.2", "10.30.0.1"
CLIENT = "10.10.0.10"
BRIDGES = ("br-front", "br-back", "br-nat")
RP_FILTER_SCOPES = ("all", "default", "lo", "eth0", "tunl0")
CLONE_NEWNET = 0x40000000
IFF_UP = 0x1


def run(*args: str, check: bool = True, timeout: float = 30, input: str | None = None) -> str:
    """Run a command, return its stdout; on failure raise with the command's own stderr."""
    done = subprocess.run(args, capture_output=True, text=True, timeout=timeout, input=input)
    if check and done.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} exited {done.returncode}: {done.stderr.strip()}")
    return done.stdout


@contextlib.contextmanager
def inside(namespace: str) -> Iterator[None]:
    """Run this thread inside a network namespace: sockets opened, /proc/sys/net files read and
    processes started meanwhile belong to it. Far cheaper than `ip netns exec` under emulation."""
    libc = ctypes.CDLL(None, use_errno=True)
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    target = os.open(f"/run/netns/{namespace}", os.O_RDONLY)
    try:
        if libc.setns(target, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), f"setns into {namespace} failed")
        try:
            yield
        finally:
            if libc.setns(home, CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "setns back to the VM's own namespace failed")
    finally:
        os.close(target)
        os.close(home)


@dataclass
class Host:
    """One lab host: a network namespace with an `eth0` (and a router/director with more links)."""

    name: str
    links: dict[str, tuple[str, str]]  # interface -> (bridge, address/prefix)
    gateway: str | None = None
    http_port: int | None = None
    sysctls: dict[str, str] = field(default_factory=dict)  # the baseline every test starts from
    _ipr: object = field(default=None, repr=False)

    @property
    def address(self) -> str:
        return next(iter(self.links.values()))[1].split("/")[0]

    @property
    def ipr(self):
        """A pyroute2 IPRoute bound to this namespace (kept for the session)."""
        if self._ipr is None:
            from pyroute2 import IPRoute

            self._ipr = IPRoute(netns=self.name)
        return self._ipr

    def close(self) -> None:
        if self._ipr is not None:
            self._ipr.close()
            self._ipr = None

    def run(self, *args: str, check: bool = True, timeout: float = 30, input: str | None = None) -> str:
        """Run a command inside this host's namespace."""
        with inside(self.name):
            return run(*args, check=check, timeout=timeout, input=input)

    def ip(self, *args: str, check: bool = True) -> str:
        return run("ip", "-n", self.name, *args, check=check)

    def sysctl(self, key: str) -> str:
        """The value the kernel has for KEY in this namespace (`net.ipv4.conf.tunl0.rp_filter`)."""
        with inside(self.name):
            return Path("/proc/sys", key.replace(".", "/")).read_text().strip()

    def set_sysctls(self, values: dict[str, str]) -> None:
        with inside(self.name):
            for key, value in values.items():
                Path("/proc/sys", key.replace(".", "/")).write_text(value)

    def links_up(self) -> dict[str, bool]:
        """Administrative state (`ip link set X up`) of every interface."""
        return {link.get_attr("IFLA_IFNAME"): bool(link["flags"] & IFF_UP) for link in self.ipr.get_links()}

    def link_is_up(self, interface: str) -> bool:
        return self.links_up()[interface]

    def addresses(self, interface: str | None = None) -> dict[str, list[str]]:
        """IPv4 addresses as 'a.b.c.d/p' per interface (only INTERFACE when given); interfaces
        without any are left out, except INTERFACE."""
        names = {link["index"]: link.get_attr("IFLA_IFNAME") for link in self.ipr.get_links()}
        result: dict[str, list[str]] = {interface: []} if interface else {}
        for entry in self.ipr.get_addr(family=socket.AF_INET):
            name = names[entry["index"]]
            if interface in (None, name):
                result.setdefault(name, []).append(f"{entry.get_attr('IFA_ADDRESS')}/{entry['prefixlen']}")
        return result

    def has_default_route(self) -> bool:
        return bool(self.ipr.get_default_routes(family=socket.AF_INET))

    def http_get(self, address: str, port: int = 80, path: str = "/", timeout: float = 3) -> str:
        """One HTTP/1.0 request from this host, a new connection: the body ('' when none came)."""
        try:
            with inside(self.name):
                connection = socket.create_connection((address, port), timeout=timeout)
            with connection:
                connection.sendall(f"GET {path} HTTP/1.0\r\nHost: {address}\r\n\r\n".encode())
                reply = b""
                while chunk := connection.recv(65536):
                    reply += chunk
        except OSError:
            return ""
        head, _, body = reply.partition(b"\r\n\r\n")
        return body.decode().strip() if head.startswith(b"HTTP/1.") and b" 200 " in head.split(b"\r\n")[0] else ""

    def fetch(self, count: int, address: str = VIP, port: int = 80) -> list[str]:
        """COUNT HTTP requests to ADDRESS:PORT, a new connection each: the answers."""
        return [self.http_get(address, port) for _ in range(count)]

    def connect(self, address: str = VIP, port: int = 80, timeout: float = 3) -> socket.socket:
        """An open TCP connection from this host (the caller closes it)."""
        with inside(self.name):
            return socket.create_connection((address, port), timeout=timeout)

    def ipvs_save(self) -> str:
        """The IPVS table as `ipvsadm -Sn` prints it (no counters: for before/after comparisons)."""
        return self.run("ipvsadm", "-Sn")

    def ipvs_table(self) -> dict[str, dict[str, RealServerRow]]:
        """The IPVS table as `ipvsadm -Ln` shows it: {'TCP 10.10.0.100:80': {'10.20.0.11:80': row}}."""
        return parse_ipvsadm_list(self.run("ipvsadm", "-Ln"))

    def ipvs_stats(self) -> dict[str, dict[str, int]]:
        """Counters per service and per real server from `ipvsadm -Ln --stats --exact`."""
        return parse_ipvsadm_stats(self.run("ipvsadm", "-Ln", "--stats", "--exact"))

    def settled_stats(self, timeout: float = 10) -> dict[str, dict[str, int]]:
        """Counters once two reads 2.5 s apart agree: earlier traffic has reached them (the kernel's
        estimator refreshes them about every 2 s), so later differences come from later traffic."""
        deadline = time.monotonic() + timeout
        last = self.ipvs_stats()
        while True:
            time.sleep(2.5)
            now = self.ipvs_stats()
            if now == last or time.monotonic() > deadline:
                return now
            last = now

    def wait_for_counters(self, key: str, conns: int, timeout: float = 6) -> dict[str, int]:
        """IPVS counters for KEY ('TCP 10.10.0.100:80' or '10.20.0.11:80') once its connection count
        reaches CONNS, or the last seen after TIMEOUT (the kernel refreshes them about every 2 s)."""
        deadline = time.monotonic() + timeout
        while True:
            stats = self.ipvs_stats().get(key, {})
            if stats.get("conns", 0) >= conns or time.monotonic() > deadline:
                return stats
            time.sleep(0.5)


@dataclass(frozen=True)
class RealServerRow:
    """One `  -> RIP:port  Forward Weight ActiveConn InActConn` line."""

    forward: str  # Tunnel, Route, Masq, Local
    weight: int
    active: int
    inactive: int


_SERVICE_LINE = re.compile(r"^(TCP|UDP|SCTP|FWM)\s+(\S+)")
_REAL_SERVER_LINE = re.compile(r"^\s+->\s+(\S+)\s+(\S+)\s+(\d+)\s+(\d+)\s+(\d+)")
_STATS_LINE = re.compile(r"^(?:(TCP|UDP|SCTP|FWM)\s+|\s+->\s+)(\S+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)")


def parse_ipvsadm_list(text: str) -> dict[str, dict[str, RealServerRow]]:
    table: dict[str, dict[str, RealServerRow]] = {}
    current = None
    for line in text.splitlines():
        if match := _SERVICE_LINE.match(line):
            current = table.setdefault(f"{match[1]} {match[2]}", {})
        elif (match := _REAL_SERVER_LINE.match(line)) and current is not None and match[1] != "RemoteAddress:Port":
            current[match[1]] = RealServerRow(match[2], int(match[3]), int(match[4]), int(match[5]))
    return table


def parse_ipvsadm_stats(text: str) -> dict[str, dict[str, int]]:
    """{'TCP 10.10.0.100:80': {...}, '10.20.0.11:80': {...}} with conns, inpkts, outpkts, inbytes, outbytes."""
    names = ("conns", "inpkts", "outpkts", "inbytes", "outbytes")
    stats = {}
    for line in text.splitlines():
        if match := _STATS_LINE.match(line):
            key = f"{match[1]} {match[2]}" if match[1] else match[2]
            stats[key] = dict(zip(names, map(int, match.groups()[2:]), strict=True))
    return stats


def _hosts() -> list[Host]:
    real_server_sysctls = {f"net.ipv4.conf.{scope}.rp_filter": "1" for scope in RP_FILTER_SCOPES} | {
        "net.ipv4.conf.all.arp_ignore": "0",
        "net.ipv4.conf.eth0.arp_ignore": "0",
        "net.ipv4.conf.all.arp_announce": "0",
        "net.ipv4.conf.eth0.arp_announce": "0",
    }
    hosts = [
        Host(
            "router",
            {"front": ("br-front", f"{ROUTER_FRONT}/24"), "back": ("br-back", f"{ROUTER_BACK}/24")},
            sysctls={"net.ipv4.ip_forward": "1", "net.ipv4.conf.all.rp_filter": "0"},
        ),
        Host("client", {"eth0": ("br-front", f"{CLIENT}/24")}, gateway=ROUTER_FRONT),
        Host(
            "director",
            {"eth0": ("br-front", f"{DIRECTOR_FRONT}/24"), "eth1": ("br-nat", f"{DIRECTOR_NAT}/24")},
            gateway=ROUTER_FRONT,
            sysctls={"net.ipv4.ip_forward": "0", "net.ipv4.vs.expire_nodest_conn": "1"},
        ),
    ]
    for name, subnet, gateway, port, last in (
        ("rs1", BACK, ROUTER_BACK, 80, 11),
        ("rs2", BACK, ROUTER_BACK, 80, 12),
        ("dr1", FRONT, ROUTER_FRONT, 80, 21),
        ("dr2", FRONT, ROUTER_FRONT, 80, 22),
        ("nat1", NAT, DIRECTOR_NAT, 8080, 11),
        ("nat2", NAT, DIRECTOR_NAT, 8080, 12),
    ):
        bridge = {FRONT: "br-front", BACK: "br-back", NAT: "br-nat"}[subnet]
        hosts.append(
            Host(
                name,
                {"eth0": (bridge, f"{subnet}.{last}/24")},
                gateway=gateway,
                http_port=port,
                sysctls=dict(real_server_sysctls),
            )
        )
    return hosts


@dataclass
class Baseline:
    """What a host looks like before any test touched it: addresses per interface, links up."""

    addresses: dict[str, list[str]]
    up: dict[str, bool]


class Lab:
    """The whole topology: builds it, resets it between tests, tears it down."""

    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.hosts = {host.name: host for host in _hosts()}
        self.servers: list[subprocess.Popen] = []
        self.baselines: dict[str, Baseline] = {}

    def __getitem__(self, name: str) -> Host:
        return self.hosts[name]

    # -- building -------------------------------------------------------------------------------------

    def build(self) -> None:
        from pyroute2 import IPRoute

        self.destroy()  # leftovers of an earlier run in the same VM
        with IPRoute() as vm:
            for bridge in BRIDGES:
                vm.link("add", ifname=bridge, kind="bridge")
                vm.link("set", index=vm.link_lookup(ifname=bridge)[0], state="up")
            for host in self.hosts.values():
                run("ip", "netns", "add", host.name)
                for interface, (bridge, _) in host.links.items():
                    outside = f"{host.name}-{interface}"[:15]
                    vm.link("add", ifname=outside, kind="veth", peer={"ifname": interface, "net_ns_fd": host.name})
                    vm.link(
                        "set",
                        index=vm.link_lookup(ifname=outside)[0],
                        master=vm.link_lookup(ifname=bridge)[0],
                        state="up",
                    )
        for host in self.hosts.values():
            self._configure(host)
        for host in self.hosts.values():
            self.baselines[host.name] = Baseline(addresses=host.addresses(), up=host.links_up())
        self._wait_for_http_servers()

    def _configure(self, host: Host) -> None:
        ipr = host.ipr
        ipr.link("set", index=ipr.link_lookup(ifname="lo")[0], state="up")
        for interface, (_, address) in host.links.items():
            index = ipr.link_lookup(ifname=interface)[0]
            ipr.link("set", index=index, state="up")
            ipr.addr("add", index=index, address=address.split("/")[0], prefixlen=int(address.split("/")[1]))
        if host.gateway:
            ipr.route("add", dst="0.0.0.0/0", gateway=host.gateway)
        if host.name == "router":  # so that every lab subnet is reachable from every host
            ipr.route("add", dst=f"{NAT}.0/24", gateway=DIRECTOR_FRONT)
        host.set_sysctls(host.sysctls)
        if host.http_port:
            www = self.workdir / "www" / host.name
            www.mkdir(parents=True, exist_ok=True)
            (www / "index.html").write_text(host.name + "\n")
            with inside(host.name):
                command = ["busybox", "httpd", "-f", "-p", str(host.http_port), "-h", str(www)]
                self.servers.append(subprocess.Popen(command))

    def _wait_for_http_servers(self) -> None:
        """Each real server answers on its own address (from the router or the director, which reach it)."""
        for host in self.hosts.values():
            if not host.http_port:
                continue
            via = self["director"] if host.address.startswith(NAT) else self["router"]
            deadline = time.monotonic() + 10
            while via.http_get(host.address, host.http_port, timeout=1) != host.name:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{host.name}'s web server does not answer on {host.address}:{host.http_port}")
                time.sleep(0.2)

    # -- between tests --------------------------------------------------------------------------------

    def reset(self) -> None:
        """Put every host back to its baseline: empty IPVS table, no extra addresses, links as they
        were, the default route, baseline sysctls (and IPVS timeouts)."""
        director = self["director"]
        director.run("ipvsadm", "-C")
        director.run("ipvsadm", "--set", "900", "120", "300")
        for host in self.hosts.values():
            baseline = self.baselines[host.name]
            ipr = host.ipr
            for interface, addresses in host.addresses().items():
                for address in addresses:
                    if address not in baseline.addresses.get(interface, []):
                        ip, prefix = address.split("/")
                        ipr.addr("del", index=ipr.link_lookup(ifname=interface)[0], address=ip, prefixlen=int(prefix))
            for interface, up in host.links_up().items():
                if interface in baseline.up and up != baseline.up[interface]:
                    state = "up" if baseline.up[interface] else "down"
                    ipr.link("set", index=ipr.link_lookup(ifname=interface)[0], state=state)
            if host.gateway and not host.has_default_route():
                ipr.route("replace", dst="0.0.0.0/0", gateway=host.gateway)
            host.set_sysctls(host.sysctls)

    # -- teardown -------------------------------------------------------------------------------------

    def destroy(self) -> None:
        for server in self.servers:
            server.terminate()
        for server in self.servers:
            try:
                server.wait(timeout=5)
            except subprocess.TimeoutExpired:
                server.kill()
        self.servers.clear()
        for host in self.hosts.values():
            host.close()
        existing = os.listdir("/run/netns") if os.path.isdir("/run/netns") else []
        for host in self.hosts.values():
            if host.name in existing:
                run("ip", "netns", "del", host.name, check=False)
        for bridge in BRIDGES:
            if os.path.exists(f"/sys/class/net/{bridge}"):
                run("ip", "link", "del", bridge, check=False)
