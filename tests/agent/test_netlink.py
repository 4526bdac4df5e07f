"""The hand-packed IPVS messages: what the agent sends and how it reads the kernel's dumps.

The byte layouts follow include/uapi/linux/ip_vs.h; whether the kernel agrees is checked by the lab
tests and bench/agent_apply.py (show --ipvsadm equals ipvsadm -Sn after every apply)."""

from __future__ import annotations

import socket
import struct

import pytest
from lvsweb_agent import netlink
from lvsweb_agent.model import CHECKSUMS, FORWARD_METHODS, TUNNEL_TYPES, RealServer, Service, ServiceKey, Tunnel
from lvsweb_agent.netlink import (
    CMD_ATTR_DEST,
    DEST_ACTIVE,
    DEST_ADDR,
    DEST_ADDR_FAMILY,
    DEST_FWD,
    DEST_INACT,
    DEST_L_THRESH,
    DEST_PERSIST,
    DEST_PORT,
    DEST_STATS,
    DEST_STATS64,
    DEST_TUN_FLAGS,
    DEST_TUN_PORT,
    DEST_TUN_TYPE,
    DEST_U_THRESH,
    DEST_WEIGHT,
    decode_dest,
    encode_dest,
    encode_service,
    nla,
)

DESTS = [
    RealServer("10.20.0.11", 80, 1, "tun", Tunnel("gue", 6080, "remcsum"), 7, 3),
    RealServer("2001:db8::5", 443, 9, "tun", Tunnel(), 0, 0),
    RealServer("10.1.2.3", 8080, 0, "nat", None, 1, 0),
    RealServer("10.1.2.4", 80, 2, "dr", None, 0, 0),
]


def family(dest: RealServer) -> int:
    return socket.AF_INET6 if ":" in dest.address else socket.AF_INET


def kernel_dump_message(dest: RealServer, with_family: bool = True) -> bytes:
    """A real server as the kernel dumps it: 16-byte address, nested 32- and 64-bit counters."""
    tunnel = dest.tunnel or Tunnel()
    attrs = [nla(DEST_ADDR, socket.inet_pton(family(dest), dest.address).ljust(16, b"\0"))]
    if with_family:
        attrs.append(nla(DEST_ADDR_FAMILY, struct.pack("=H", family(dest))))
    attrs += [
        nla(DEST_PORT, struct.pack("!H", dest.port)),
        nla(DEST_FWD, struct.pack("=I", FORWARD_METHODS[dest.forward])),
        nla(DEST_WEIGHT, struct.pack("=I", dest.weight)),
        nla(DEST_TUN_TYPE, struct.pack("=B", TUNNEL_TYPES[tunnel.type])),
        nla(DEST_TUN_PORT, struct.pack("!H", tunnel.port)),
        nla(DEST_TUN_FLAGS, struct.pack("=H", CHECKSUMS[tunnel.checksum])),
        nla(DEST_U_THRESH, struct.pack("=I", dest.upper_threshold)),
        nla(DEST_L_THRESH, struct.pack("=I", dest.lower_threshold)),
        nla(DEST_ACTIVE, struct.pack("=I", 3)),
        nla(DEST_INACT, struct.pack("=I", 1)),
        nla(DEST_PERSIST, struct.pack("=I", 0)),
        nla(DEST_STATS | 0x8000, b"".join(nla(i, struct.pack("=I", i)) for i in range(1, 11))),
        nla(DEST_STATS64 | 0x8000, b"".join(nla(i, struct.pack("=Q", 100 + i)) for i in range(1, 11))),
    ]
    return nla(CMD_ATTR_DEST | 0x8000, b"".join(attrs))


@pytest.mark.parametrize("dest", DESTS, ids=lambda d: f"{d.forward}-{d.address}")
def test_dumped_real_servers_read_back_with_connections_and_counters(dest):
    netlink._layouts.clear()
    for _ in range(2):  # the first message teaches the layout, the second takes the fast path
        message = kernel_dump_message(dest)
        read = decode_dest(message, 0, len(message), family(dest))
        assert read == dest
        assert (read.counters.active_conns, read.counters.inactive_conns) == (3, 1)
        assert read.connections == 4
        assert read.counters.in_packets == 102 and read.counters.out_bps == 110


def test_a_message_with_another_layout_falls_back_to_the_careful_decoder():
    netlink._layouts.clear()
    first = kernel_dump_message(DESTS[0])
    decode_dest(first, 0, len(first), socket.AF_INET)
    # Same length, different attribute order: the header check must notice.
    odd = bytearray(first)
    port_at = odd.find(struct.pack("=HH", 6, DEST_PORT))
    fwd_at = odd.find(struct.pack("=HH", 8, DEST_FWD))
    odd[port_at : port_at + 8], odd[fwd_at : fwd_at + 8] = odd[fwd_at : fwd_at + 8], odd[port_at : port_at + 8]
    assert decode_dest(bytes(odd), 0, len(odd), socket.AF_INET) == DESTS[0]
    older_kernel = kernel_dump_message(DESTS[3], with_family=False)
    assert decode_dest(older_kernel, 0, len(older_kernel), socket.AF_INET) == DESTS[3]


def test_requests_carry_the_kernels_byte_orders():
    dest = encode_dest(DESTS[0], full=True)
    assert struct.pack("=HH", 6, DEST_PORT) + struct.pack("!H", 80) in dest  # ports are big-endian
    assert struct.pack("=HH", 6, DEST_TUN_PORT) + struct.pack("!H", 6080) in dest
    v6 = Service(ServiceKey.for_fwmark(6, "ipv6"), "lc", persistence=netlink.Persistence(300, "64"))
    assert struct.pack("=HHI", 8, netlink.SVC_NETMASK, 64) in encode_service(v6, full=True)  # a prefix length
    v4 = Service(ServiceKey.for_fwmark(5), "wlc", persistence=netlink.Persistence(300, "255.255.255.0"))
    assert struct.pack("=HH", 8, netlink.SVC_NETMASK) + bytes([255, 255, 255, 0]) in encode_service(v4, full=True)
