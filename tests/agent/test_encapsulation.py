"""The tunnel-path probe's packets for every encapsulation, and each encapsulation's cost (MTU, MSS).

The probe itself, through real tunnels to real servers, runs in the lab: tests/lab/test_lab_checks.py.
"""

from __future__ import annotations

import ipaddress
import socket
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st
from lvsweb_agent.encapsulation import (
    IPPROTO_GRE,
    IPPROTO_IPIP,
    IPPROTO_IPV6,
    TCP_ACK,
    TCP_SYN,
    budget,
    checksum,
    parse_tcp,
    tcp_packet,
    wrap,
)
from lvsweb_agent.tunnel_probe import DEVICES, _hint

V6_SOURCE, V6_VIP = "2001:db8:10::2", "2001:db8:10::100"


@given(st.integers(1, 65535), st.integers(0, 2**32 - 1), st.sampled_from([TCP_SYN, TCP_SYN | TCP_ACK]))
def test_ipv6_probe_packets_carry_a_valid_checksum_and_parse_back(sport, seq, flags):
    packet = tcp_packet(V6_SOURCE, V6_VIP, sport, 80, seq, 0, flags, mss=1380)
    assert packet[0] >> 4 == 6 and packet[6] == socket.IPPROTO_TCP and packet[7] == 64
    segment = packet[40:]
    assert struct.unpack("!H", packet[4:6])[0] == len(segment)
    source, destination = (ipaddress.IPv6Address(a).packed for a in (V6_SOURCE, V6_VIP))
    pseudo = source + destination + struct.pack("!I3xB", len(segment), 6)
    assert checksum(pseudo + segment) == 0
    parsed = parse_tcp(packet)
    assert (parsed.source, parsed.destination, parsed.sport, parsed.dport, parsed.seq) == (
        V6_SOURCE,
        V6_VIP,
        sport,
        80,
        seq,
    )
    if flags & TCP_SYN:
        assert segment[20:24] == struct.pack("!BBH", 2, 4, 1380)  # the MSS option that fits the tunnel


def test_ipv6_extension_headers_and_truncated_packets_are_not_replies():
    packet = bytearray(tcp_packet(V6_SOURCE, V6_VIP, 1, 2, 3, 4, TCP_SYN))
    assert parse_tcp(bytes(packet[:50])) is None
    packet[6] = 0  # hop-by-hop options first
    assert parse_tcp(bytes(packet)) is None
    assert parse_tcp(b"\x70" + bytes(59)) is None


@given(st.binary(max_size=120))
def test_junk_never_crashes_the_reply_parser(data):
    parse_tcp(data)


def test_each_encapsulation_wraps_as_ipvs_does():
    inner4 = tcp_packet("10.10.0.2", "10.10.0.100", 61000, 80, 1, 0, TCP_SYN)
    inner6 = tcp_packet(V6_SOURCE, V6_VIP, 61000, 80, 1, 0, TCP_SYN)
    assert wrap("ipip", "none", inner4) == (IPPROTO_IPIP, inner4)
    assert wrap("ipip", "none", inner6) == (IPPROTO_IPV6, inner6)
    # GUE version 0, no options; the next protocol is the inner packet's.
    assert wrap("gue", "none", inner4) == (0, b"\x00\x04\x00\x00" + inner4)
    assert wrap("gue", "csum", inner6) == (0, b"\x00\x29\x00\x00" + inner6)
    # GRE: no key, no sequence; the checksum (RFC 2784) covers header and payload.
    assert wrap("gre", "none", inner4) == (IPPROTO_GRE, b"\x00\x00\x08\x00" + inner4)
    protocol, data = wrap("gre", "csum", inner6)
    assert protocol == IPPROTO_GRE and data[:4] == b"\x80\x00\x86\xdd" and data[8:] == inner6
    assert checksum(data) == 0


@pytest.mark.parametrize(
    ("tunnel", "option", "outer", "inner", "overhead", "inner_mtu", "mss"),
    [
        ("ipip", "none", 4, 4, 20, 1480, 1440),
        ("ipip", "none", 6, 6, 40, 1460, 1400),
        ("ipip", "none", 6, 4, 40, 1460, 1420),  # IPv4 VIP to an IPv6 real server (ip6tnl0 mode any)
        ("ipip", "none", 4, 6, 20, 1480, 1420),  # IPv6 VIP to an IPv4 real server (sit0)
        ("gue", "none", 4, 4, 32, 1468, 1428),
        ("gue", "remcsum", 4, 4, 36, 1464, 1424),
        ("gue", "csum", 6, 6, 52, 1448, 1388),
        ("gre", "none", 4, 4, 24, 1476, 1436),
        ("gre", "csum", 4, 4, 28, 1472, 1432),
        ("gre", "csum", 6, 6, 48, 1452, 1392),
    ],
)
def test_the_cost_of_each_encapsulation(tunnel, option, outer, inner, overhead, inner_mtu, mss):
    cost = budget(tunnel, option, outer, inner)
    assert (cost.overhead, cost.inner_mtu, cost.mss) == (overhead, inner_mtu, mss)


def test_the_hint_names_what_each_tunnel_needs_on_the_real_server():
    from lvsweb_agent.model import Tunnel

    assert _hint("10.10.0.100", Tunnel(), 4) == "the ipip module and tunl0 up, VIP 10.10.0.100 on tunl0, rp_filter 0"
    gue = _hint(V6_VIP, Tunnel("gue", 6080), 6)
    assert "fou listener on UDP port 6080 (ip -6 fou add port 6080 gue)" in gue and f"VIP {V6_VIP} on ip6tnl0" in gue
    assert "ip_gre module and gre0 up" in _hint("10.10.0.100", Tunnel("gre"), 4)
    assert DEVICES[("gre", 6)] == "ip6gre0"
