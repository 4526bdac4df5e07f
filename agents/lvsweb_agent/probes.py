"""Health probes, run by the director's agent in its asyncio loop: TCP connect, HTTP(S) GET, tunnel path.

Every probe answers a `ProbeResult`: ok or not, a message in operator words, and the time it took.

The tunnel-path probe checks what a client's connection really needs on a TUN real server. A check
against the real server's own address proves little: clients reach it through the tunnel, to the VIP. So
the probe sends a TCP SYN for VIP:port, IP-in-IP encapsulated to the real server (a raw IPPROTO_IPIP
socket: the kernel adds the outer header), exactly as IPVS forwards a client's SYN. The real server
decapsulates it on tunl0 (needs the ipip module), accepts a packet from a source it routes through
another interface (needs rp_filter 0), delivers it locally (needs the VIP on tunl0) and answers directly
(direct server return): a SYN-ACK from VIP:port to the director's address, through the normal network.
The director's own kernel drops that answer (its source, the VIP, is one of the director's own
addresses), so the probe reads it from a packet socket before routing, matches it by VIP, port and its
own source port and sequence number, and then resets the half-open connection through the tunnel.
If any of the three is wrong no SYN-ACK comes back: the probe reports "down" after its timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import itertools
import os
import random
import socket
import ssl
import struct
import time
from dataclasses import dataclass

from lvsweb_agent.datagram_probes import dns_probe, sctp_probe, udp_probe
from lvsweb_agent.model import HealthCheck
from lvsweb_agent.outcome import ProbeResult, elapsed

ETH_P_IP = 0x0800
PACKET_OUTGOING = 4
SO_ATTACH_FILTER = 26
IPPROTO_IPIP = 4
TCP_SYN, TCP_RST, TCP_ACK = 0x02, 0x04, 0x10
#: Source ports of tunnel probes (the packet socket's filter lets only replies to these through).
PROBE_PORTS = (61000, 61999)
MAX_BODY = 65536


_elapsed = elapsed


async def tcp_probe(address: str, port: int, timeout: float) -> ProbeResult:
    """Up when a TCP connection to address:port opens within `timeout`."""
    started = time.monotonic()
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(address, port), timeout)
    except TimeoutError:
        return ProbeResult(False, f"no answer from {address}:{port} within {timeout:g} s")
    except OSError as exc:
        return ProbeResult(False, f"TCP connect to {address}:{port}: {_reason(exc)}")
    latency = _elapsed(started)
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return ProbeResult(True, f"TCP connect to {address}:{port} succeeded", latency)


def _tls_context() -> ssl.SSLContext:
    # Real servers are reached by address and commonly hold the site's certificate, not one for the
    # address: the check is about the service answering, as keepalived's SSL_GET does by default.
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


async def http_probe(check: HealthCheck, address: str, port: int) -> ProbeResult:
    """Up when a GET of check.path answers a status within check.expect (and contains check.body)."""
    started = time.monotonic()
    scheme = check.type
    host = check.host or (f"[{address}]" if ":" in address else address)
    try:
        return await asyncio.wait_for(_http_exchange(check, address, port, host, started), check.timeout)
    except TimeoutError:
        return ProbeResult(
            False, f"{scheme.upper()} GET {check.path} on {address}:{port}: no answer within {check.timeout:g} s"
        )
    except (OSError, ssl.SSLError, ValueError) as exc:
        return ProbeResult(False, f"{scheme.upper()} GET {check.path} on {address}:{port}: {_reason(exc)}")


def _reason(exc: BaseException) -> str:
    """An error in words: the system's text for its errno ("Connection refused"), else its message."""
    number = getattr(exc, "errno", None)
    if isinstance(number, int) and number > 0 and not isinstance(exc, ssl.SSLError):
        return os.strerror(number)
    return str(exc) or type(exc).__name__


async def _http_exchange(check: HealthCheck, address: str, port: int, host: str, started: float) -> ProbeResult:
    tls = _tls_context() if check.type == "https" else None
    # The Host header names the site; over TLS it is also the name sent in SNI.
    server_hostname = (check.host or None) if tls is not None else None
    reader, writer = await asyncio.open_connection(address, port, ssl=tls, server_hostname=server_hostname)
    try:
        request = (
            f"GET {check.path} HTTP/1.0\r\nHost: {host}\r\n"
            "User-Agent: lvsweb-agent health check\r\nConnection: close\r\n\r\n"
        )
        writer.write(request.encode("ascii"))
        await writer.drain()
        reply = b""
        while len(reply) < MAX_BODY and (chunk := await reader.read(MAX_BODY - len(reply))):
            reply += chunk
    finally:
        writer.close()
        with contextlib.suppress(OSError, ssl.SSLError):
            await writer.wait_closed()
    latency = _elapsed(started)
    head, _, body = reply.partition(b"\r\n\r\n")
    status_line = head.split(b"\r\n", 1)[0].decode("latin-1")
    parts = status_line.split(" ", 2)
    what = f"{check.type.upper()} GET {check.path} on {address}:{port}"
    if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
        return ProbeResult(False, f"{what}: not an HTTP answer ({status_line[:60]!r})", latency)
    status = int(parts[1])
    low, high = check.expect
    if not low <= status <= high:
        return ProbeResult(False, f"{what}: status {status}, expected {low}-{high}", latency)
    if check.body and check.body.encode() not in body:
        return ProbeResult(False, f"{what}: status {status} but the body lacks {check.body!r}", latency)
    return ProbeResult(True, f"{what}: status {status}", latency)


async def probe(check: HealthCheck, address: str, tunnel: TunnelProber | None, vip: str | None) -> ProbeResult:
    """Run `check` against a real server; with check.tunnel, the tunnel-path probe must pass too."""
    if check.type == "tcp":
        result = await tcp_probe(address, check.port, check.timeout)
    elif check.type == "udp":
        result = await udp_probe(check, address, check.port)
    elif check.type == "dns":
        result = await dns_probe(check, address, check.port)
    elif check.type == "sctp":
        result = await sctp_probe(address, check.port, check.timeout)
    else:
        result = await http_probe(check, address, check.port)
    if not result.ok or not check.tunnel:
        return result
    if tunnel is None or vip is None:
        return ProbeResult(False, "tunnel-path check unavailable on this director (raw sockets need root)")
    through = await tunnel.probe(address, vip, check.port, check.timeout)
    if not through.ok:
        return ProbeResult(
            False, f"{through.message} (while {result.message[0].lower()}{result.message[1:]})", through.latency_ms
        )
    return ProbeResult(True, f"{result.message}; {through.message}", result.latency_ms)


# -- packets -------------------------------------------------------------------------------------------


def checksum(data: bytes) -> int:
    """The Internet checksum (RFC 1071)."""
    if len(data) % 2:
        data += b"\0"
    total: int = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def tcp_packet(source: str, destination: str, sport: int, dport: int, seq: int, ack: int, flags: int) -> bytes:
    """An IPv4 packet holding one TCP segment without payload (checksums filled in)."""
    src, dst = socket.inet_aton(source), socket.inet_aton(destination)
    window = 64240
    # SYN carries an MSS option that fits the tunnel (1480 - 40), as a client behind tunl0 would see.
    options = struct.pack("!BBH", 2, 4, 1440) if flags & TCP_SYN else b""
    offset = (20 + len(options)) // 4
    header = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, offset << 4, flags, window, 0, 0) + options
    pseudo = src + dst + struct.pack("!BBH", 0, socket.IPPROTO_TCP, len(header))
    tcp_sum = checksum(pseudo + header)
    header = header[:16] + struct.pack("!H", tcp_sum) + header[18:]
    total = 20 + len(header)
    ip = struct.pack(
        "!BBHHHBBH4s4s", 0x45, 0, total, random.getrandbits(16), 0x4000, 64, socket.IPPROTO_TCP, 0, src, dst
    )
    ip = ip[:10] + struct.pack("!H", checksum(ip)) + ip[12:]
    return ip + header


@dataclass(frozen=True)
class TcpSegment:
    """The fields of a received IPv4 TCP segment the tunnel probe matches on."""

    source: str
    destination: str
    sport: int
    dport: int
    seq: int
    ack: int
    flags: int


def parse_tcp(packet: bytes) -> TcpSegment | None:
    """The TCP segment in an IPv4 packet (None for anything else, fragments and truncated packets)."""
    if len(packet) < 20 or packet[0] >> 4 != 4 or packet[9] != socket.IPPROTO_TCP:
        return None
    header_length = (packet[0] & 0x0F) * 4
    if struct.unpack("!H", packet[6:8])[0] & 0x1FFF or len(packet) < header_length + 20:
        return None
    sport, dport, seq, ack, _, flags = struct.unpack("!HHIIBB", packet[header_length : header_length + 14])
    return TcpSegment(
        socket.inet_ntoa(packet[12:16]), socket.inet_ntoa(packet[16:20]), sport, dport, seq, ack, flags & 0x3F
    )


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


def source_address_towards(address: str) -> str:
    """The address this host's routing uses to reach `address` (nothing is sent)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.connect((address, 9))
        source: str = udp.getsockname()[0]
        return source


class TunnelProber:
    """Tunnel-path probes for one asyncio loop: one raw IPIP socket to send, one packet socket to listen.

    Needs CAP_NET_RAW (the agent runs as root); `open()` raises PermissionError otherwise.
    """

    def __init__(self, ports: tuple[int, int] = PROBE_PORTS):
        self.ports = ports
        self._next_port = itertools.cycle(range(ports[0], ports[1] + 1))
        self._pending: dict[tuple[str, int, int], tuple[int, asyncio.Future[TcpSegment]]] = {}
        self._send: socket.socket | None = None
        self._listen: socket.socket | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._buffers: list[ctypes.Array[ctypes.c_char]] = []

    def open(self) -> None:
        self._loop = asyncio.get_running_loop()
        send = socket.socket(socket.AF_INET, socket.SOCK_RAW, IPPROTO_IPIP)
        # The raw socket would also queue a copy of every IPIP packet this host receives: accept none.
        program, buffer = _bpf([(0x06, 0, 0, 0)])
        send.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, program)
        listen = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(ETH_P_IP))
        program2, buffer2 = _bpf(reply_filter(*self.ports))
        listen.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, program2)
        self._buffers = [buffer, buffer2]
        send.setblocking(False)
        listen.setblocking(False)
        self._send, self._listen = send, listen
        self._loop.add_reader(listen.fileno(), self._receive)

    def close(self) -> None:
        if self._listen is not None and self._loop is not None:
            with contextlib.suppress(Exception):
                self._loop.remove_reader(self._listen.fileno())
        for sock in (self._send, self._listen):
            if sock is not None:
                sock.close()
        self._send = self._listen = None

    def _receive(self) -> None:
        listen = self._listen
        while listen is not None:
            try:
                packet, where = listen.recvfrom(65535)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
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

    async def probe(self, real_server: str, vip: str, port: int, timeout: float) -> ProbeResult:
        """Send a SYN for vip:port through an IPIP tunnel to `real_server`; up when its SYN-ACK comes back."""
        started = time.monotonic()
        loop, send = self._loop, self._send
        if loop is None or send is None:
            raise RuntimeError("TunnelProber.probe() before open()")
        source = source_address_towards(real_server)
        sport = self._port()
        isn = random.getrandbits(32)
        future = loop.create_future()
        key = (vip, port, sport)
        self._pending[key] = (isn, future)
        where = f"tunnel path to {vip}:{port} via {real_server}"
        try:
            syn = tcp_packet(source, vip, sport, port, isn, 0, TCP_SYN)
            try:
                send.sendto(syn, (real_server, 0))
            except OSError as exc:
                return ProbeResult(False, f"{where}: cannot send: {exc.strerror or exc}")
            try:
                segment = await asyncio.wait_for(future, timeout)
            except TimeoutError:
                return ProbeResult(
                    False,
                    f"{where}: no SYN-ACK within {timeout:g} s (on the real server: ipip module and tunl0 up, "
                    f"VIP {vip} on tunl0, rp_filter 0?)",
                )
            latency = _elapsed(started)
            if segment.flags & TCP_RST:
                return ProbeResult(False, f"{where}: connection refused (RST from the VIP)", latency)
            if segment.flags & (TCP_SYN | TCP_ACK) != TCP_SYN | TCP_ACK:
                return ProbeResult(False, f"{where}: unexpected answer (TCP flags {segment.flags:#x})", latency)
            # Close the half-open connection on the real server, through the same path.
            reset = tcp_packet(source, vip, sport, port, (isn + 1) & 0xFFFFFFFF, 0, TCP_RST)
            with contextlib.suppress(OSError):
                send.sendto(reset, (real_server, 0))
            return ProbeResult(True, f"{where}: SYN-ACK from the VIP", latency)
        finally:
            self._pending.pop(key, None)
