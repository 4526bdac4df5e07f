"""The tunnel-path probe: a client's SYN, wrapped the way the director's IPVS wraps it, to the real server.

A check against the real server's own address proves little for TUN: clients reach it through the tunnel,
to the VIP. So the probe sends a TCP SYN for VIP:port in the real server's encapsulation
(agents/lvsweb_agent/encapsulation.py): ipip (IPv4 in IPv4 from a raw IPPROTO_IPIP socket, IPv6 in IPv6
from a raw IPPROTO_IPV6 one — the kernel adds the outer header, from the source IPVS would use), gre (a
raw IPPROTO_GRE socket, the GRE header ours) or gue (a UDP datagram to the real server's fou port, the GUE
header ours). The real server decapsulates it (module and device), accepts a packet from a source it routes
through another interface (rp_filter 0), delivers it locally (the VIP on the tunnel device) and answers
directly: a SYN-ACK from VIP:port to the director's address. The director's own kernel drops that answer
(its source, the VIP, is one of the director's own addresses), so the probe reads it from a packet socket
before routing, matched by VIP, port, its own source port and sequence number, and then resets the
half-open connection through the tunnel.

The reply path. In TUN (and DR) mode replies leave the real server with the VIP as source; a router with
strict reverse-path filtering (or provider egress filtering) between the real servers and the clients drops
them. The probe cannot see beyond the director, but it can tell that case from a broken decapsulation: with
every SYN to the VIP it sends a second one, in the same encapsulation, to the real server's own address.
When that one is answered and the VIP's is not, the real server decapsulates and accepts tunnelled packets;
what is left is the VIP missing on its tunnel device, or its answers (source VIP) not getting back.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import itertools
import random
import socket
import struct
import time

from lvsweb_agent.encapsulation import (
    IPPROTO_IPIP,
    TCP_ACK,
    TCP_RST,
    TCP_SYN,
    TcpSegment,
    budget,
    ip_version,
    parse_tcp,
    tcp_packet,
    wrap,
)
from lvsweb_agent.model import Tunnel
from lvsweb_agent.outcome import ProbeResult, elapsed

ETH_P_IP, ETH_P_IPV6 = 0x0800, 0x86DD
PACKET_OUTGOING = 4
SO_ATTACH_FILTER = 26
#: Source ports of tunnel probes (the packet sockets' filters let only replies to these through).
PROBE_PORTS = (61000, 61999)
IPIP = Tunnel()
#: Where each tunnel type is decapsulated on the real server, for the messages.
DEVICES = {("ipip", 4): "tunl0", ("ipip", 6): "ip6tnl0", ("gre", 4): "gre0", ("gre", 6): "ip6gre0"}


def _bpf(program: list[tuple[int, int, int, int]]) -> tuple[bytes, ctypes.Array[ctypes.c_char]]:
    """A `struct sock_fprog` for SO_ATTACH_FILTER (and the buffer it points at, to keep alive)."""
    buffer = ctypes.create_string_buffer(b"".join(struct.pack("HBBI", *insn) for insn in program))
    return struct.pack("HL", len(program), ctypes.addressof(buffer)), buffer


def reply_filter(low: int, high: int) -> list[tuple[int, int, int, int]]:
    """Classic BPF over an IPv4 packet: accept unfragmented TCP to a destination port in [low, high]."""
    return [
        (0x30, 0, 0, 9),  # ldb [9]: protocol
        (0x15, 0, 7, socket.IPPROTO_TCP),  # not TCP: drop
        (0x28, 0, 0, 6),  # ldh [6]: flags and fragment offset
        (0x45, 5, 0, 0x1FFF),  # a fragment: drop
        (0xB1, 0, 0, 0),  # ldxb 4*([0]&0xf): header length
        (0x48, 0, 0, 2),  # ldh [x+2]: TCP destination port
        (0x35, 0, 2, low),  # below low: drop
        (0x25, 1, 0, high),  # above high: drop
        (0x06, 0, 0, 0x40000),  # accept
        (0x06, 0, 0, 0),  # drop
    ]


def reply_filter6(low: int, high: int) -> list[tuple[int, int, int, int]]:
    """Classic BPF over an IPv6 packet: accept TCP right after the fixed header to a port in [low, high]."""
    return [
        (0x30, 0, 0, 6),  # ldb [6]: next header
        (0x15, 0, 4, socket.IPPROTO_TCP),  # not TCP (or an extension header): drop
        (0x28, 0, 0, 42),  # ldh [42]: TCP destination port
        (0x35, 0, 2, low),  # below low: drop
        (0x25, 1, 0, high),  # above high: drop
        (0x06, 0, 0, 0x40000),  # accept
        (0x06, 0, 0, 0),  # drop
    ]


DROP_ALL = [(0x06, 0, 0, 0)]


def source_address_towards(address: str) -> str:
    """The address this host's routing uses to reach `address` (nothing is sent)."""
    family = socket.AF_INET6 if ip_version(address) == 6 else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as udp:
        udp.connect((address, 9))
        source: str = udp.getsockname()[0]
        return source


def _device(tunnel: Tunnel, version: int) -> str:
    """The device that decapsulates `tunnel` on the real server (gue hands the inner packet to ipip's)."""
    return DEVICES[("ipip" if tunnel.type == "gue" else tunnel.type, version)]


def _hint(vip: str, tunnel: Tunnel, version: int) -> str:
    """What to look at on the real server when nothing comes back, per encapsulation."""
    device = _device(tunnel, version)
    modules = {"gre": "ip6_gre" if version == 6 else "ip_gre", "ipip": "ip6_tunnel" if version == 6 else "ipip"}
    if tunnel.type == "gue":
        what = f"a fou listener on UDP port {tunnel.port} (ip {'-6 ' if version == 6 else ''}fou add port "
        what += f"{tunnel.port} gue), the {modules['ipip']} module and {device} up"
    else:
        what = f"the {modules[tunnel.type]} module and {device} up"
    return f"{what}, VIP {vip} on {device}, rp_filter 0"


class TunnelProber:
    """Tunnel-path probes for one asyncio loop: sending sockets opened per kind on first use, one packet
    socket per address family to listen.

    Needs CAP_NET_RAW (the agent runs as root); `open()` raises PermissionError otherwise.
    """

    def __init__(self, ports: tuple[int, int] = PROBE_PORTS):
        self.ports = ports
        self._next_port = itertools.cycle(range(ports[0], ports[1] + 1))
        self._pending: dict[tuple[str, int, int], tuple[int, asyncio.Future[TcpSegment]]] = {}
        self._senders: dict[tuple[int, int], socket.socket] = {}
        self._listen: list[socket.socket] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._buffers: list[ctypes.Array[ctypes.c_char]] = []

    def open(self) -> None:
        self._loop = asyncio.get_running_loop()
        for ethertype, program in ((ETH_P_IP, reply_filter(*self.ports)), (ETH_P_IPV6, reply_filter6(*self.ports))):
            listen = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(ethertype))
            self._attach(listen, program)
            listen.setblocking(False)
            self._listen.append(listen)
            self._loop.add_reader(listen.fileno(), self._receive, listen)
        self._sender(4, IPPROTO_IPIP)  # fails here, not at the first probe, without CAP_NET_RAW

    def _attach(self, sock: socket.socket, program: list[tuple[int, int, int, int]]) -> None:
        fprog, buffer = _bpf(program)
        sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, fprog)
        self._buffers.append(buffer)

    def _sender(self, version: int, protocol: int) -> socket.socket:
        """The socket that sends `protocol` (0: UDP for gue) over IP `version`, opened once."""
        sock = self._senders.get((version, protocol))
        if sock is None:
            family = socket.AF_INET6 if version == 6 else socket.AF_INET
            if protocol:
                sock = socket.socket(family, socket.SOCK_RAW, protocol)
            else:
                sock = socket.socket(family, socket.SOCK_DGRAM)
            # A raw socket would also queue a copy of every such packet this host receives: accept none.
            self._attach(sock, DROP_ALL)
            sock.setblocking(False)
            self._senders[(version, protocol)] = sock
        return sock

    def close(self) -> None:
        for listen in self._listen:
            if self._loop is not None:
                with contextlib.suppress(Exception):
                    self._loop.remove_reader(listen.fileno())
            listen.close()
        for sock in self._senders.values():
            sock.close()
        self._listen, self._senders = [], {}

    def _receive(self, listen: socket.socket) -> None:
        while True:
            try:
                packet, where = listen.recvfrom(65535)
            except OSError:  # nothing more to read now (BlockingIOError), or the socket is closing
                return
            if len(where) > 2 and where[2] == PACKET_OUTGOING:
                continue
            segment = parse_tcp(packet)
            if segment is None:
                continue
            pending = self._pending.get((segment.source, segment.sport, segment.dport))
            if pending is None:
                continue
            isn, future = pending
            if segment.ack == (isn + 1) & 0xFFFFFFFF and not future.done():
                future.set_result(segment)

    def _port(self) -> int:
        for _ in range(self.ports[1] - self.ports[0] + 1):
            port = next(self._next_port)
            if not any(key[2] == port for key in self._pending):
                return port
        raise RuntimeError("every tunnel-probe source port is in use")

    def _send(self, real_server: str, tunnel: Tunnel, packet: bytes) -> None:
        protocol, data = wrap(tunnel.type, tunnel.checksum, packet)
        self._sender(ip_version(real_server), protocol).sendto(data, (real_server, tunnel.port if not protocol else 0))

    def _syn(
        self, real_server: str, tunnel: Tunnel, source: str, destination: str, port: int, mss: int
    ) -> tuple[asyncio.Future[TcpSegment], int, int]:
        """Send one SYN to destination:port through the tunnel; the future its SYN-ACK will fill."""
        assert self._loop is not None
        sport, isn = self._port(), random.getrandbits(32)
        future: asyncio.Future[TcpSegment] = self._loop.create_future()
        self._pending[(destination, port, sport)] = (isn, future)
        self._send(real_server, tunnel, tcp_packet(source, destination, sport, port, isn, 0, TCP_SYN, mss))
        return future, sport, isn

    async def probe(self, real_server: str, vip: str, port: int, timeout: float, tunnel: Tunnel = IPIP) -> ProbeResult:
        """Send a SYN for vip:port through `tunnel` to `real_server`; up when its SYN-ACK comes back."""
        if self._loop is None or not self._listen:
            raise RuntimeError("TunnelProber.probe() before open()")
        started = time.monotonic()
        version = ip_version(real_server)
        source = source_address_towards(real_server)
        mss = budget(tunnel.type, tunnel.checksum, version, ip_version(vip)).mss
        where = f"tunnel path ({tunnel.describe()}) to {vip}:{port} via {real_server}"
        keys: list[tuple[str, int, int]] = []
        try:
            try:
                future, sport, isn = self._syn(real_server, tunnel, source, vip, port, mss)
                keys.append((vip, port, sport))
                # The same SYN to the real server's own address: answered when decapsulation and
                # rp_filter are right, whatever happens to packets from the VIP.
                own, own_sport, _ = self._syn(real_server, tunnel, source, real_server, port, mss)
                keys.append((real_server, port, own_sport))
            except OSError as exc:
                return ProbeResult(False, f"{where}: cannot send: {exc.strerror or exc}")
            try:
                segment = await asyncio.wait_for(asyncio.shield(future), timeout)
            except TimeoutError:
                return ProbeResult(False, self._silence(where, vip, tunnel, version, timeout, own))
            latency = elapsed(started)
            if segment.flags & TCP_RST:
                return ProbeResult(False, f"{where}: connection refused (RST from the VIP)", latency)
            if segment.flags & (TCP_SYN | TCP_ACK) != TCP_SYN | TCP_ACK:
                return ProbeResult(False, f"{where}: unexpected answer (TCP flags {segment.flags:#x})", latency)
            # Close the half-open connections on the real server, through the same path.
            with contextlib.suppress(OSError):
                reset = tcp_packet(source, vip, sport, port, (isn + 1) & 0xFFFFFFFF, 0, TCP_RST)
                self._send(real_server, tunnel, reset)
            return ProbeResult(True, f"{where}: SYN-ACK from the VIP", latency)
        finally:
            for key in keys:
                self._pending.pop(key, None)

    def _silence(
        self, where: str, vip: str, tunnel: Tunnel, version: int, timeout: float, own: asyncio.Future[TcpSegment]
    ) -> str:
        """Why no SYN-ACK came from the VIP, as far as the director can see it."""
        if own.done():
            device = _device(tunnel, version)
            return (
                f"{where}: the real server answered (its own address, through the tunnel: decapsulation and "
                f"rp_filter are right), but no SYN-ACK from the VIP reached this side within {timeout:g} s: "
                f"the VIP {vip} is missing on {device}, or its replies (source {vip}) are dropped on the way "
                f"back — a router with strict reverse-path filtering or egress filtering between the real "
                f"servers and the clients"
            )
        return f"{where}: no SYN-ACK within {timeout:g} s (on the real server: {_hint(vip, tunnel, version)}?)"
