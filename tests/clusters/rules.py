"""The validation rules of virtual services and real servers, one failing input each.

tests/clusters/test_validation.py runs every rule through the actions (the models' own checks);
tests/clusters/api/test_validation.py runs the same rules through the REST API. Each rule names the field
that must carry the message and words the message must contain.
"""

from dataclasses import dataclass, field
from typing import Any

import pytest


@dataclass(frozen=True)
class Rule:
    """One refused input: `fields` for a new object, the `field` blamed and words the message `says`."""

    fields: dict[str, Any]
    field: str
    says: str
    service: dict[str, Any] = field(default_factory=dict)  # overrides for the real server's virtual service


def service(**fields: Any) -> dict[str, Any]:
    """Fields of a new TCP virtual service on 10.9.9.9:80, with `fields` changed."""
    return {"protocol": "tcp", "address": "10.9.9.9", "port": 80, **fields}


def fwmark_service(**fields: Any) -> dict[str, Any]:
    """Fields of a new firewall-mark virtual service (mark 7), with `fields` changed."""
    return {"protocol": "fwmark", "fwmark": 7, **fields}


def real_server(**fields: Any) -> dict[str, Any]:
    """Fields of a new real server 172.31.0.5, with `fields` changed."""
    return {"address": "172.31.0.5", **fields}


IPV6_SERVICE = {"address": "2001:db8::80"}

VIRTUAL_SERVICE_RULES = [
    pytest.param(Rule(service(address="10.0.0.256"), "address", "valid IPv4 or IPv6 address"), id="vip-invalid"),
    pytest.param(Rule(service(address="2001:db8::g"), "address", "Enter a valid IP"), id="vip-invalid-v6"),
    pytest.param(Rule(service(port=0), "port", "greater than or equal to 1"), id="port-0"),
    pytest.param(Rule(service(port=65536), "port", "less than or equal to 65535"), id="port-65536"),
    pytest.param(Rule(fwmark_service(fwmark=0), "fwmark", "greater than or equal to 1"), id="fwmark-0"),
    pytest.param(Rule(fwmark_service(fwmark=2**32), "fwmark", "less than or equal to 4294967295"), id="fwmark-2^32"),
    pytest.param(Rule(fwmark_service(fwmark=None), "fwmark", "needs a mark"), id="fwmark-missing"),
    pytest.param(Rule(fwmark_service(address="10.9.9.9"), "address", "has no VIP"), id="fwmark-with-vip"),
    pytest.param(Rule(fwmark_service(port=80), "port", "has no port"), id="fwmark-with-port"),
    pytest.param(Rule(service(address=None), "address", "needs a VIP"), id="tcp-without-vip"),
    pytest.param(Rule(service(port=None), "port", "needs a port from 1 to 65535"), id="tcp-without-port"),
    pytest.param(Rule(service(fwmark=5), "fwmark", "Only firewall-mark services take a mark"), id="tcp-with-mark"),
    pytest.param(
        Rule(
            service(persistence_timeout=300, persistence_netmask="255.0.255.0"),
            "persistence_netmask",
            "not a valid IPv4 persistence netmask: give a contiguous dotted netmask",
        ),
        id="netmask-v4-non-contiguous",
    ),
    pytest.param(
        Rule(
            service(persistence_timeout=300, persistence_netmask="0.0.0.255"),
            "persistence_netmask",
            "contiguous dotted netmask",
        ),
        id="netmask-v4-hostmask",
    ),
    pytest.param(
        Rule(
            service(persistence_timeout=300, persistence_netmask="24"),
            "persistence_netmask",
            "is a prefix length; for IPv4 the kernel takes a dotted netmask",
        ),
        id="netmask-v4-prefix",
    ),
    pytest.param(
        Rule(
            service(**IPV6_SERVICE, persistence_timeout=300, persistence_netmask="129"),
            "persistence_netmask",
            "not a valid IPv6 persistence prefix: give a prefix length from 1 to 128",
        ),
        id="netmask-v6-129",
    ),
    pytest.param(
        Rule(
            service(**IPV6_SERVICE, persistence_timeout=300, persistence_netmask="0"),
            "persistence_netmask",
            "prefix length from 1 to 128",
        ),
        id="netmask-v6-0",
    ),
    pytest.param(
        Rule(
            service(**IPV6_SERVICE, persistence_timeout=300, persistence_netmask="255.255.255.0"),
            "persistence_netmask",
            "not a valid IPv6 persistence prefix",
        ),
        id="netmask-v6-dotted",
    ),
    pytest.param(
        Rule(
            fwmark_service(address_family="ipv6", persistence_timeout=300, persistence_netmask="200"),
            "persistence_netmask",
            "not a valid IPv6 persistence prefix",
        ),
        id="netmask-fwmark-v6",
    ),
    pytest.param(
        Rule(
            service(persistence_netmask="255.255.255.0"),
            "persistence_netmask",
            "needs a persistence timeout above 0",
        ),
        id="netmask-without-timeout",
    ),
    pytest.param(
        Rule(service(scheduler="rr", sched_fallback=True), "sched_fallback", "only to the sh and mh schedulers"),
        id="sched-fallback-rr",
    ),
    pytest.param(
        Rule(service(scheduler="wlc", sched_port=True), "sched_port", "only to the sh and mh schedulers, not to wlc"),
        id="sched-port-wlc",
    ),
    pytest.param(
        Rule(service(scheduler="lc", sched_fallback=True, sched_port=True), "sched_port", "not to lc"),
        id="sched-both-flags-lc",  # each flag set is named, not only the first
    ),
    pytest.param(Rule(service(one_packet=True), "one_packet", "only to UDP"), id="one-packet-tcp"),
    pytest.param(Rule(service(protocol="sctp", one_packet=True), "one_packet", "only to UDP"), id="one-packet-sctp"),
]

REAL_SERVER_RULES = [
    pytest.param(Rule(real_server(address="172.31.0.256"), "address", "valid IPv4 or IPv6 address"), id="rip-invalid"),
    pytest.param(
        Rule(
            real_server(address="2001:db8::5", forward_method="dr"),
            "address",
            "A DR real server must be IPv4 like the virtual service: DR forwards the packet as it is",
        ),
        id="dr-v6-behind-v4",
    ),
    pytest.param(
        Rule(
            real_server(address="2001:db8::5", forward_method="nat", port=8080),
            "address",
            "A NAT real server must be IPv4 like the virtual service",
        ),
        id="nat-v6-behind-v4",
    ),
    pytest.param(
        Rule(
            real_server(forward_method="dr"),
            "address",
            "A DR real server must be IPv6 like the virtual service",
            service=IPV6_SERVICE,
        ),
        id="dr-v4-behind-v6",
    ),
    pytest.param(
        Rule(
            real_server(forward_method="dr", port=8080),
            "port",
            "In DR mode the real server port must equal the virtual port (80): the kernel cannot map ports",
        ),
        id="dr-port-mapping",
    ),
    pytest.param(
        Rule(
            real_server(forward_method="tun", port=8080),
            "port",
            "In TUN mode the real server port must equal the virtual port (80): the kernel cannot map ports",
        ),
        id="tun-port-mapping",
    ),
    pytest.param(
        Rule(
            real_server(forward_method="tun", port=80),
            "port",
            "Leave the port empty: in TUN mode packets keep their own destination port, the kernel cannot map ports",
            service={"protocol": "fwmark", "address": None, "port": None, "fwmark": 3},
        ),
        id="fwmark-tun-with-port",
    ),
    pytest.param(
        Rule(real_server(forward_method="nat", port=0), "port", "greater than or equal to 1"), id="nat-port-0"
    ),
    pytest.param(
        Rule(real_server(forward_method="nat", port=65536), "port", "less than or equal to 65535"),
        id="nat-port-65536",
    ),
    pytest.param(
        Rule(real_server(forward_method="nat"), "port", "A NAT real server needs a port from 1 to 65535"),
        id="nat-without-port",
    ),
    pytest.param(
        Rule(real_server(forward_method="tun", tunnel_type="gue"), "tunnel_port", "A GUE tunnel needs the UDP port"),
        id="gue-without-port",
    ),
    pytest.param(
        Rule(
            real_server(forward_method="tun", tunnel_type="ipip", tunnel_port=6080),
            "tunnel_port",
            "Leave the tunnel port empty for ipip: only GUE",
        ),
        id="ipip-with-port",
    ),
    pytest.param(
        Rule(
            real_server(forward_method="tun", tunnel_type="gre", tunnel_port=6080),
            "tunnel_port",
            "Leave the tunnel port empty for gre: only GUE",
        ),
        id="gre-with-port",
    ),
    pytest.param(
        Rule(
            real_server(forward_method="tun", tunnel_type="gue", tunnel_port=65536),
            "tunnel_port",
            "less than or equal to 65535",
        ),
        id="gue-port-65536",
    ),
    pytest.param(
        Rule(
            real_server(forward_method="dr", tunnel_type="gue"),
            "tunnel_type",
            "Tunnel settings apply only to TUN, not to DR",
        ),
        id="dr-with-tunnel-type",
    ),
    pytest.param(
        Rule(
            real_server(forward_method="nat", port=8080, tunnel_port=6080),
            "tunnel_port",
            "Tunnel settings apply only to TUN, not to NAT",
        ),
        id="nat-with-tunnel-port",
    ),
    pytest.param(
        Rule(
            real_server(forward_method="dr", tunnel_checksum="csum"),
            "tunnel_checksum",
            "Tunnel settings apply only to TUN, not to DR",
        ),
        id="dr-with-checksum",
    ),
    pytest.param(
        Rule(
            real_server(forward_method="tun", tunnel_type="ipip", tunnel_checksum="remcsum"),
            "tunnel_checksum",
            "Tunnel checksums apply only to GUE and GRE, not to ipip",
        ),
        id="ipip-with-checksum",
    ),
    pytest.param(
        Rule(
            real_server(forward_method="tun", tunnel_type="gre", tunnel_checksum="remcsum"),
            "tunnel_checksum",
            "Remote checksum offload (remcsum) exists only for GUE",
        ),
        id="gre-with-remcsum",
    ),
    pytest.param(Rule(real_server(weight=65536), "weight", "less than or equal to 65535"), id="weight-65536"),
    pytest.param(Rule(real_server(weight=-1), "weight", "greater than or equal to 0"), id="weight-negative"),
    pytest.param(
        Rule(
            real_server(upper_threshold=5, lower_threshold=10),
            "lower_threshold",
            "The lower threshold (10) must not exceed the upper threshold (5)",
        ),
        id="thresholds-crossed",
    ),
]
