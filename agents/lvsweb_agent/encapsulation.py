"""What each tunnel type puts around a client's packet, as IPVS does it — pure code, no I/O.

Used twice: the tunnel-path probe builds its SYN and wraps it exactly as the director's IPVS would
(agents/lvsweb_agent/tunnel_probe.py), and the console shows each encapsulation's cost (its overhead, the
MTU left inside the tunnel and the TCP MSS that fits) where a tunnel is chosen.

The headers (net/netfilter/ipvs/ip_vs_xmit.c, kernel 5.3+):
- ipip: the outer IP header only — IPv4 in IPv4 (tunl0), IPv6 in IPv6 (ip6tnl0), or across families
  (IPv4 in IPv6: ip6tnl0 in `mode any`; IPv6 in IPv4: sit0): 20 bytes over IPv4, 40 over IPv6;
- gue: outer IP + UDP (8) + the GUE header (4; remote checksum offload adds a 4-byte option);
- gre: outer IP + the GRE header (4; with a checksum 8): no key, no sequence number.
"""

from __future__ import annotations

import random
import socket
import struct
from dataclasses import dataclass

TCP_SYN, TCP_RST, TCP_ACK = 0x02, 0x04, 0x10
IPPROTO_IPIP, IPPROTO_IPV6, IPPROTO_GRE = 4, 41, 47
ETHERTYPE = {4: 0x0800, 6: 0x86DD}
GRE_CSUM = 0x8000
LINK_MTU = 1500


def ip_version(address: str) -> int:
    return 6 if ":" in address else 4


def outer_overhead(tunnel_type: str, checksum: str, outer_version: int) -> int:
    """Bytes each encapsulated packet grows by."""
    ip = 40 if outer_version == 6 else 20
    if tunnel_type == "gue":
        return ip + 8 + 4 + (4 if checksum == "remcsum" else 0)
    if tunnel_type == "gre":
        return ip + 4 + (4 if checksum == "csum" else 0)
    return ip


@dataclass(frozen=True)
class Budget:
    """An encapsulation's cost on a link of `link_mtu` bytes."""

    overhead: int
    inner_mtu: int
    mss: int


def budget(tunnel_type: str, checksum: str, outer_version: int, inner_version: int, link_mtu: int = LINK_MTU) -> Budget:
    """Overhead, the MTU left for the client's packet, and the TCP MSS that fits in it."""
    overhead = outer_overhead(tunnel_type, checksum, outer_version)
    inner = link_mtu - overhead
    return Budget(overhead=overhead, inner_mtu=inner, mss=inner - (40 if inner_version == 6 else 20) - 20)


def checksum(data: bytes) -> int:
    """The Internet checksum (RFC 1071)."""
    if len(data) % 2:
        data += b"\0"
    total: int = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def tcp_packet(
    source: str, destination: str, sport: int, dport: int, seq: int, ack: int, flags: int, mss: int = 1440
) -> bytes:
    """An IPv4 or IPv6 packet holding one TCP segment without payload (checksums filled in).

    A SYN carries an MSS option that fits the tunnel, as a client's would after the path MTU is known.
    """
    version = ip_version(destination)
    family = socket.AF_INET6 if version == 6 else socket.AF_INET
    src, dst = socket.inet_pton(family, source), socket.inet_pton(family, destination)
    options = struct.pack("!BBH", 2, 4, mss) if flags & TCP_SYN else b""
    offset = (20 + len(options)) // 4
    header = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, offset << 4, flags, 64240, 0, 0) + options
    if version == 6:
        pseudo = src + dst + struct.pack("!I3xB", len(header), socket.IPPROTO_TCP)
    else:
        pseudo = src + dst + struct.pack("!BBH", 0, socket.IPPROTO_TCP, len(header))
    header = header[:16] + struct.pack("!H", checksum(pseudo + header)) + header[18:]
    if version == 6:
        return struct.pack("!IHBB", 6 << 28, len(header), socket.IPPROTO_TCP, 64) + src + dst + header
    ip = struct.pack(
        "!BBHHHBBH4s4s", 0x45, 0, 20 + len(header), random.getrandbits(16), 0x4000, 64, socket.IPPROTO_TCP, 0, src, dst
    )
    return ip[:10] + struct.pack("!H", checksum(ip)) + ip[12:] + header


@dataclass(frozen=True)
class TcpSegment:
    """The fields of a received TCP segment the tunnel probe matches on."""

    source: str
    destination: str
    sport: int
    dport: int
    seq: int
    ack: int
    flags: int


def parse_tcp(packet: bytes) -> TcpSegment | None:
    """The TCP segment in an IPv4 or IPv6 packet (None for anything else, fragments, extension headers
    and truncated packets)."""
    if len(packet) < 20:
        return None
    version = packet[0] >> 4
    if version == 4:
        if packet[9] != socket.IPPROTO_TCP:
            return None
        start = (packet[0] & 0x0F) * 4
        if start < 20 or struct.unpack("!H", packet[6:8])[0] & 0x1FFF:
            return None
        source, destination = socket.inet_ntoa(packet[12:16]), socket.inet_ntoa(packet[16:20])
    elif version == 6:
        if len(packet) < 40 or packet[6] != socket.IPPROTO_TCP:
            return None
        start = 40
        source = socket.inet_ntop(socket.AF_INET6, packet[8:24])
        destination = socket.inet_ntop(socket.AF_INET6, packet[24:40])
    else:
        return None
    if len(packet) < start + 20:
        return None
    sport, dport, seq, ack, _, flags = struct.unpack("!HHIIBB", packet[start : start + 14])
    return TcpSegment(source, destination, sport, dport, seq, ack, flags & 0x3F)


def gre_header(inner_version: int, with_checksum: bool, inner: bytes) -> bytes:
    """The GRE header IPVS puts before `inner` (RFC 2784: the checksum covers header and payload)."""
    protocol = ETHERTYPE[inner_version]
    if not with_checksum:
        return struct.pack("!HH", 0, protocol)
    header = struct.pack("!HHHH", GRE_CSUM, protocol, 0, 0)
    return struct.pack("!HHHH", GRE_CSUM, protocol, checksum(header + inner), 0)


def gue_header(inner_version: int) -> bytes:
    """A GUE version 0 header without options: the next protocol is IPv4 (4) or IPv6 (41)."""
    return struct.pack("!BBH", 0, IPPROTO_IPV6 if inner_version == 6 else IPPROTO_IPIP, 0)


def wrap(tunnel_type: str, checksum_option: str, inner: bytes) -> tuple[int, bytes]:
    """(IP protocol or 0 for UDP, the bytes to send) for `inner` in `tunnel_type` — the kernel adds the
    outer IP header (and, for gue, the UDP header)."""
    inner_version = inner[0] >> 4
    if tunnel_type == "gre":
        return IPPROTO_GRE, gre_header(inner_version, checksum_option == "csum", inner) + inner
    if tunnel_type == "gue":
        # Remote checksum offload is the director's option for big packets; the real server's fou
        # listener accepts the plain header too, which is all a SYN needs.
        return 0, gue_header(inner_version) + inner
    return (IPPROTO_IPV6 if inner_version == 6 else IPPROTO_IPIP), inner
