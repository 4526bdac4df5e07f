"""The kernel adapter: read the actual state and execute planned operations (netlink, /proc/sys, files).

`KernelIPVS` is the small interface the agent needs; `LinuxKernel` implements it for a real kernel.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import ipaddress
import json
import os
import socket
import struct
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, TypeVar

from pyroute2 import IPRoute
from pyroute2 import netns as pyroute2_netns
from pyroute2.netlink.exceptions import NetlinkError as Pyroute2NetlinkError
from pyroute2.netlink.generic import ipvs as genl_ipvs

from lvsweb_agent import keepalived, syncd
from lvsweb_agent.decap import GRE_CSUM, IP6TNL_ANY, KIND_OF_DEVICE, MODULE_OF_DEVICE, endpoints_of
from lvsweb_agent.errors import explain
from lvsweb_agent.fou import Fou
from lvsweb_agent.hadoc import SyncDaemon
from lvsweb_agent.hastate import BACKUP_ONLY, HAActual, read_files
from lvsweb_agent.model import FAMILIES, ActualState, Address, DesiredState, Link, RealServer, Service, ServiceKey
from lvsweb_agent.netlink import (
    DestMatcher,
    GenericNetlink,
    NetlinkError,
    ServiceReader,
    decode_dest,
    decode_service,
    dest_matcher,
    encode_operation,
    service_key_attrs,
)
from lvsweb_agent.persist import sysctl_path, wanted_files, wanted_sysctls
from lvsweb_agent.planner import IPVS_KINDS, Operation

NETNS_DIR = "/var/run/netns"
IFA_F_NODAD = 0x02
INFINITY_LIFE_TIME = 0xFFFFFFFF
#: IFLA_INFO_DATA attribute prefix (pyroute2's names) of the tunnel kinds whose settings the planner compares.
_TUNNEL_KINDS = {"ip6tnl": "IFLA_IP6TNL", "gre": "IFLA_GRE", "ip6gre": "IFLA_IP6GRE"}
#: <linux/if_tunnel.h> and struct ip6_tnl_parm (<linux/ip6_tunnel.h>): 64 bytes, proto at byte 20.
_SIOCGETTUNNEL, _SIOCCHGTUNNEL = 0x89F0, 0x89F3
_IP6_TNL_PARM_SIZE, _IP6_TNL_PARM_PROTO = 64, 20
#: GRE_CSUM as pyroute2 reads and writes ip6gre's IFLA_GRE_IFLAGS (host byte order: 0x8000 swapped).
_IP6GRE_CSUM = 0x0080
T = TypeVar("T")


def _given(value: T | None, op: Operation, what: str) -> T:
    """The part of `op` its kind needs (the planner always sets it; a missing one is a planner bug)."""
    if value is None:
        raise ValueError(f"{op.kind} without its {what}")
    return value


@contextlib.contextmanager
def in_netns(name: str | None) -> Iterator[None]:
    """Run the block in network namespace `name` (a name under /var/run/netns or a path); None: stay."""
    if name is None:
        yield
        return
    path = name if "/" in name else os.path.join(NETNS_DIR, name)
    # setns() moves only the calling thread: save and restore this thread's namespace, not the main thread's
    # (/proc/self is the thread group leader; the heartbeat runs in a thread of its own).
    saved = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    target = os.open(path, os.O_RDONLY)
    try:
        pyroute2_netns.setns(target)
        try:
            yield
        finally:
            pyroute2_netns.setns(saved)
    finally:
        os.close(target)
        os.close(saved)


@dataclass
class ExecutionResult:
    """What happened to each operation of a plan."""

    applied: list[Operation] = field(default_factory=list)
    failed: Operation | None = None
    error: str = ""
    errno: int = 0
    also_failed: list[tuple[Operation, str]] = field(default_factory=list)
    not_attempted: list[Operation] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.failed is None


class KernelIPVS(Protocol):
    """What the agent needs from a kernel. The unit tests use an in-memory model with the same shape."""

    def read(self, desired: DesiredState | None) -> ActualState: ...

    def execute(self, operations: list[Operation]) -> ExecutionResult: ...


def _load_module(name: str) -> None:
    # Netlink cannot load modules. modprobe is run with a fixed argv list, no shell and nothing taken
    # from the document, which DESIGN decision 3 allows; the kernel's own autoload covers the rest.
    subprocess.run(["modprobe", name], check=False, capture_output=True, timeout=60)


def set_fallback_ip6tnl_proto(name: str, proto: int) -> None:
    """Set the protocol (mode) of the fallback device ip6tnl0 in the caller's namespace.

    By ioctl, as `ip -6 tunnel change ip6tnl0 mode any` does: before Linux 6.14 the kernel refuses any
    netlink change of a fallback ip6tnl device (EINVAL), and the ioctl is the only way. SIOCGETTUNNEL reads
    its struct ip6_tnl_parm, SIOCCHGTUNNEL writes it back with the new proto (for ip6tnl0 the kernel takes
    only the proto).
    """
    parm = ctypes.create_string_buffer(_IP6_TNL_PARM_SIZE)
    request = struct.pack("16sP16x", name.encode(), ctypes.addressof(parm))
    with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as sock:
        fcntl.ioctl(sock.fileno(), _SIOCGETTUNNEL, request)
        parm[_IP6_TNL_PARM_PROTO] = bytes([proto])
        fcntl.ioctl(sock.fileno(), _SIOCCHGTUNNEL, request)


class LinuxKernel:
    """A real kernel, in the current or a named network namespace; files are written under `root`."""

    def __init__(self, root: str | Path = "/", netns: str | None = None):
        self.root = Path(root)
        self.netns = netns
        # No module is loaded here: a real server never needs ip_vs, and a director's plan loads it
        # (load-module ip_vs) when IPVS is missing.
        self._threads = threading.local()
        self._iprs: list[IPRoute] = []
        self._expectations: dict[ServiceKey, tuple[tuple[RealServer, ...], DestMatcher, dict[bytes, RealServer]]] = {}
        self._service_reader = ServiceReader()
        with in_netns(netns):
            self.genl = GenericNetlink("IPVS")

    @property
    def ipr(self) -> IPRoute:
        """This thread's IPRoute, opened in the namespace. pyroute2 (0.9) gives each thread its own socket,
        opened on the thread's first call in whatever namespace the thread is in: one IPRoute shared by the
        heartbeat thread (which makes the Agent) and the command thread would act in the VM's or host's own
        namespace from the latter. (IPRoute(netns=...) forks for that, which breaks the Celery worker.)"""
        ipr = getattr(self._threads, "ipr", None)
        if ipr is None:
            with in_netns(self.netns):
                ipr = self._threads.ipr = IPRoute()
            self._iprs.append(ipr)
        return ipr

    def close(self) -> None:
        for ipr in self._iprs:
            ipr.close()
        self._iprs.clear()
        self._threads = threading.local()
        self.genl.close()

    # -- reading ---------------------------------------------------------------------------------------
    def read_ipvs(self, wanted: dict[ServiceKey, Service] | None = None) -> dict[ServiceKey, Service]:
        """The whole IPVS table with counters: {ServiceKey: Service}.

        With `wanted` (the services a plan compares against), a real server whose configuration bytes are
        what the wanted one's would be is not decoded: it is the wanted RealServer itself, without
        counters, and a service whose real servers all match gets the wanted tuple itself (the planner
        then skips it). See netlink.DestMatcher; anything else is decoded as without `wanted`.
        """
        if self.genl.family_id is None:
            return {}
        services = {}
        replies = self.genl.dump(genl_ipvs.IPVS_CMD_GET_SERVICE)
        if wanted is None:
            for data, start, end in replies:
                service = decode_service(data, start, end)
                services[service.key] = service
        else:
            for service in self._service_reader.read(replies):
                services[service.key] = service
        family_numbers = FAMILIES
        matcher = None
        expectations: dict[ServiceKey, tuple[tuple[RealServer, ...], DestMatcher, dict[bytes, RealServer]]] = {}
        for key, service in services.items():
            replies = self.genl.dump(genl_ipvs.IPVS_CMD_GET_DEST, service_key_attrs(service))
            family = family_numbers[key.family]
            want = wanted.get(key) if wanted is not None else None
            if want is not None and want.real_servers and matcher is None:
                matcher = dest_matcher()
            if want is None or matcher is None or not want.real_servers:
                dests = tuple(decode_dest(d, s, e, family) for d, s, e in replies)
            else:
                expected = self._expected(want, matcher, family)
                expectations[key] = (want.real_servers, matcher, expected)
                found, matched = matcher.split(replies, expected, family)
                whole = matched == len(found) == len(want.real_servers)
                dests = want.real_servers if whole else tuple(found)
            services[key] = Service(
                key=key,
                scheduler=service.scheduler,
                flags=service.flags,
                persistence=service.persistence,
                one_packet=service.one_packet,
                real_servers=dests,
                counters=service.counters,
            )
        if wanted is not None:
            self._expectations = expectations  # only the services of this read are kept
        return services

    def _expected(self, want: Service, matcher: DestMatcher, family: int) -> dict[bytes, RealServer]:
        """The configuration bytes of `want`'s real servers (netlink.DestMatcher.key), built once per
        document: kept while the service's real servers are the same objects."""
        cached = self._expectations.get(want.key)
        if cached is not None and cached[0] is want.real_servers and cached[1] is matcher:
            return cached[2]
        expected = {}
        for dest in want.real_servers:
            built = matcher.key(dest, family)
            if built is not None:
                expected[built] = dest
        return expected

    def read_links(self) -> tuple[dict[str, Link], list[Address]]:
        links, names = {}, {}
        for msg in self.ipr.get_links():
            name = msg.get_attr("IFLA_IFNAME")
            info = msg.get_attr("IFLA_LINKINFO")
            kind = info.get_attr("IFLA_INFO_KIND") if info is not None else None
            link = links[name] = Link(name=name, index=msg["index"], up=bool(msg["flags"] & 1), kind=kind)
            prefix = _TUNNEL_KINDS.get(kind or "")
            data = info.get_attr("IFLA_INFO_DATA") if info is not None and prefix else None
            if data is not None:
                link.tunnel_proto = data.get_attr(f"{prefix}_PROTO")
                link.local = data.get_attr(f"{prefix}_LOCAL")
                iflags = data.get_attr(f"{prefix}_IFLAGS") or 0
                link.csum = bool(iflags & (GRE_CSUM if kind == "gre" else _IP6GRE_CSUM))
            names[msg["index"]] = name
        addresses = []
        for msg in self.ipr.get_addr():
            address = msg.get_attr("IFA_LOCAL") or msg.get_attr("IFA_ADDRESS")
            if address and msg["index"] in names:
                addresses.append(Address(interface=names[msg["index"]], address=address, prefix=msg["prefixlen"]))
        return links, addresses

    def addresses_on(self, interfaces: set[str]) -> dict[str, set[str]]:
        """The addresses on each of `interfaces` now (one address dump, no link dump)."""
        wanted = {}
        for name in interfaces:
            found = self.ipr.link_lookup(ifname=name)
            if found:
                wanted[found[0]] = name
        held: dict[str, set[str]] = {name: set() for name in interfaces}
        for msg in self.ipr.get_addr():
            address = msg.get_attr("IFA_LOCAL") or msg.get_attr("IFA_ADDRESS")
            if address and msg["index"] in wanted:
                held[wanted[msg["index"]]].add(str(ipaddress.ip_address(address)))
        return held

    def read_sysctl(self, name: str) -> str | None:
        try:
            with in_netns(self.netns), open(sysctl_path(name)) as handle:
                return handle.read().strip()
        except FileNotFoundError:
            return None

    @property
    def ha_dir(self) -> Path:
        return keepalived.ha_dir(self.root)

    def read_ha(self) -> HAActual:
        """keepalived's files, process and VRRP states, the kernel's sync daemons and backup-only mode."""
        actual = read_files(self.ha_dir)
        if self.genl.family_id is not None:
            actual.daemons = syncd.read_daemons(self.genl)
        actual.backup_only = self.read_sysctl(BACKUP_ONLY)
        return actual

    def read(self, desired: DesiredState | None) -> ActualState:
        """Everything the planner compares: IPVS table, links, addresses, the sysctls and files it manages."""
        return self._read(desired, None)

    def read_to_plan(self, desired: DesiredState) -> ActualState:
        """`read(desired)` for the planner alone: real servers configured as `desired` wants them are
        `desired`'s own RealServer objects, without counters (read_ipvs)."""
        wanted = {service.key: service for service in desired.director.services} if desired.director else {}
        return self._read(desired, wanted)

    def _read(self, desired: DesiredState | None, wanted: dict[ServiceKey, Service] | None) -> ActualState:
        links, addresses = self.read_links()
        state = ActualState(
            ipvs_loaded=self.genl.family_id is not None,
            services=self.read_ipvs(wanted),
            links=links,
            addresses=addresses,
        )
        if desired is not None and any(endpoint.type == "gue" for endpoint in endpoints_of(desired.tun)):
            with in_netns(self.netns):
                fou = Fou()
            try:
                state.fou_available, state.fou_ports = fou.available, fou.listeners()
            finally:
                fou.close()
        if (desired is not None and desired.director is not None and desired.director.ha is not None) or (
            self.ha_dir / keepalived.CONFIG
        ).exists():
            state.ha = self.read_ha()
        if desired is not None:
            for name, _, _ in wanted_sysctls(desired):
                state.sysctls[name] = self.read_sysctl(name)
            for name in wanted_files(desired):
                try:
                    state.files[name] = (self.root / name).read_text()
                except FileNotFoundError:
                    state.files[name] = None
        return state

    # -- writing ---------------------------------------------------------------------------------------
    def execute(self, operations: list[Operation]) -> ExecutionResult:
        """Run operations in order; stop at the first failure (IPVS ones go in batches, see netlink.py)."""
        result = ExecutionResult()
        index = 0
        while index < len(operations):
            if operations[index].kind in IPVS_KINDS:
                end = index
                while end < len(operations) and operations[end].kind in IPVS_KINDS:
                    end += 1
                self._execute_ipvs(operations[index:end], result)
                index = end
            else:
                op = operations[index]
                try:
                    self._execute_host(op)
                except (OSError, Pyroute2NetlinkError) as exc:
                    code = exc.code if isinstance(exc, Pyroute2NetlinkError) else (exc.errno or errno.EIO)
                    result.failed, result.errno = op, code
                    result.error = explain(op, code, getattr(exc, "kernel_message", ""))
                else:
                    result.applied.append(op)
                index += 1
            if result.failed is not None:
                result.not_attempted.extend(op for op in operations[index:] if op not in result.applied)
                break
        return result

    def _execute_ipvs(self, operations: list[Operation], result: ExecutionResult) -> None:
        if self.genl.family_id is None:
            self.genl.close()
            with in_netns(self.netns):
                self.genl = GenericNetlink("IPVS")
        if self.genl.family_id is None:
            result.failed, result.errno = operations[0], errno.ENOPROTOOPT
            result.error = "IPVS is not available in this kernel (module ip_vs missing); see `lvsweb-agent check`"
            result.not_attempted.extend(operations[1:])
            return
        outcomes = self.genl.execute([encode_operation(op) for op in operations])
        for op, outcome in zip(operations, outcomes, strict=True):
            if outcome is None:
                result.not_attempted.append(op)
            elif outcome[0] == 0:
                result.applied.append(op)
            elif result.failed is None:
                result.failed, result.errno = op, outcome[0]
                result.error = explain(op, *outcome)
            else:
                result.also_failed.append((op, explain(op, *outcome)))

    def _index(self, interface: str) -> int:
        found = self.ipr.link_lookup(ifname=interface)
        if not found:
            raise OSError(errno.ENODEV, f"no interface {interface}")
        index: int = found[0]
        return index

    def _execute_host(self, op: Operation) -> None:
        kind = op.kind
        if kind == "load-module":
            self._load(op.target)
        elif kind == "link-up":
            self.ipr.link("set", index=self._index(_given(op.name, op, "interface")), state="up")
        elif kind == "set-sysctl":
            with in_netns(self.netns), open(sysctl_path(_given(op.name, op, "name")), "w") as handle:
                handle.write(_given(op.value, op, "value"))
        elif kind == "add-link":
            self._add_link(op)
        elif kind == "del-link":
            self.ipr.link("del", index=self._index(_given(op.name, op, "interface")))
        elif kind == "set-link":
            # ip6tnl0 is the only one: `ip -6 tunnel change ip6tnl0 mode any`.
            with in_netns(self.netns):
                set_fallback_ip6tnl_proto(_given(op.name, op, "interface"), IP6TNL_ANY)
        elif kind == "add-fou":
            self._add_fou(op)
        elif kind in ("add-address", "del-address"):
            address = _given(op.address, op, "address")
            extra: dict[str, int] = {}
            if kind == "add-address" and address.nodad:
                extra["flags"] = IFA_F_NODAD
            if kind == "add-address" and address.deprecated:
                extra.update(preferred_lft=0, valid_lft=INFINITY_LIFE_TIME)
            try:
                self.ipr.addr(
                    "add" if kind == "add-address" else "del",
                    index=self._index(address.interface),
                    address=address.address,
                    prefixlen=address.prefix,
                    **extra,
                )
            except Pyroute2NetlinkError as exc:
                # Already there (add) or already gone (del): the goal is reached.
                if exc.code not in (errno.EEXIST, errno.EADDRNOTAVAIL):
                    raise
        elif kind == "write-file":
            path = self.root / _given(op.name, op, "file name")
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(path.name + ".lvsweb-tmp")
            tmp.write_text(_given(op.value, op, "content"))
            os.replace(tmp, path)
        elif kind in ("ha-config", "ha-stop", "sync-daemon"):
            try:
                self._execute_ha(op)
            except NetlinkError:
                raise
            except OSError as exc:  # keepalived's own words travel as the "kernel message"
                raise NetlinkError(exc.errno or errno.EIO, exc.strerror or str(exc)) from exc
        elif kind == "remove-file":
            (self.root / _given(op.name, op, "file name")).unlink(missing_ok=True)
        else:
            raise ValueError(f"unknown operation {kind}")

    def _add_link(self, op: Operation) -> None:
        """A GRE device with checksums bound to this host's address (`ip link add NAME type gre local A icsum`)."""
        name, kind, local = _given(op.name, op, "name"), _given(op.value, op, "kind"), _given(op.address, op, "local")
        if kind == "gre":
            self.ipr.link("add", ifname=name, kind="gre", gre_local=local.address, gre_iflags=GRE_CSUM)
        else:
            # pyroute2 (0.9) encodes IFLA_GRE_IFLAGS of ip6gre in host byte order: give it the swapped value.
            self.ipr.link("add", ifname=name, kind="ip6gre", ip6gre_local=local.address, ip6gre_iflags=_IP6GRE_CSUM)

    def _add_fou(self, op: Operation) -> None:
        with in_netns(self.netns):
            fou = Fou()
        try:
            if not fou.available:
                raise OSError(errno.ENOPROTOOPT, "the fou module is not loaded")
            code, message = fou.add(int(_given(op.value, op, "port")), _given(op.name, op, "family"))
        finally:
            fou.close()
        if code not in (0, errno.EEXIST):
            raise Pyroute2NetlinkError(code, message or os.strerror(code))

    def _execute_ha(self, op: Operation) -> None:
        directory = self.ha_dir
        if op.kind == "sync-daemon":
            role = _given(op.name, op, "role")
            if self.genl.family_id is None:
                self._load("ip_vs")
            if op.value is None:
                with contextlib.suppress(NetlinkError):  # ESRCH: already stopped
                    syncd.stop_daemon(self.genl, role)
            else:
                syncd.start_daemon(self.genl, role, SyncDaemon(**json.loads(op.value)))
            return
        # By its pid file or its command line: one whose pid file is gone is still ours to reload or stop.
        pid = keepalived.find_running(directory)
        if op.kind == "ha-stop":
            if pid is not None:
                keepalived.stop(directory, pid)
            for name in (keepalived.CONFIG, keepalived.FITNESS):
                (directory / name).unlink(missing_ok=True)
            return
        # Children inherit this thread's network namespace: keepalived (and its config test) run in the director's.
        with in_netns(self.netns):
            keepalived.write_files(directory, _given(op.value, op, "configuration"))
            if pid is not None:
                keepalived.adopt(directory)  # its pid file again, if it was gone
                keepalived.reload(pid)
            else:
                keepalived.start(directory)

    def _load(self, module: str) -> None:
        fallback = next((device for device, name in MODULE_OF_DEVICE.items() if name == module), None)
        if fallback is not None:
            # Asking for a link of the fallback device's kind makes the kernel autoload the module, which
            # creates the fallback device (tunl0, sit0, ip6tnl0, gre0, ip6gre0) in every namespace; EEXIST
            # then just means it is there.
            try:
                self.ipr.link("add", ifname=fallback, kind=KIND_OF_DEVICE[fallback])
            except Pyroute2NetlinkError as exc:
                if exc.code == errno.EEXIST:
                    return
                _load_module(module)
            if not self.ipr.link_lookup(ifname=fallback):
                raise OSError(errno.ENODEV, f"{fallback} missing after loading {module}")
            return
        _load_module(module)
        if module == "ip_vs":
            self.genl.close()
            with in_netns(self.netns):
                self.genl = GenericNetlink("IPVS")
            if self.genl.family_id is None:
                raise OSError(errno.ENOPROTOOPT, "ip_vs could not be loaded")
