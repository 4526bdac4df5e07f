"""Desired-state documents (version 1, docs/agent-spec.md) for the lab topology in labnet.py."""

from __future__ import annotations

import copy

from labnet import VIP


def real_server(address: str, *, port: int = 80, weight: int = 1, forward: str = "tun", **extra) -> dict:
    """One IPVS destination; TUN ones get a plain ipip tunnel."""
    entry = {
        "address": address,
        "port": port,
        "weight": weight,
        "forward": forward,
        "tunnel": {"type": "ipip", "port": None, "checksum": "none"} if forward == "tun" else None,
        "upper_threshold": 0,
        "lower_threshold": 0,
    }
    entry.update(extra)
    return entry


def director(
    real_servers: list[dict],
    *,
    port: int = 80,
    scheduler: str = "rr",
    drain_timeout: int = 300,
    ip_forward: bool = False,
    revision: int = 1,
) -> dict:
    """The director's document: the VIP on eth0 and one TCP service VIP:PORT."""
    return {
        "version": 1,
        "host": "director",
        "revision": revision,
        "director": {
            "owns_ipvs_table": False,
            "drain_timeout": drain_timeout,
            "ip_forward": ip_forward,
            "vips": [{"address": VIP, "prefix": 32, "interface": "eth0"}],
            "services": [
                {
                    "protocol": "tcp",
                    "address": VIP,
                    "port": port,
                    "scheduler": scheduler,
                    "flags": [],
                    "persistence": None,
                    "one_packet": False,
                    "real_servers": real_servers,
                }
            ],
        },
        "real_server": None,
    }


def tun_director(**options) -> dict:
    """rs1 and rs2 (another subnet, behind the router) in tunnel mode."""
    return director([real_server("10.20.0.11"), real_server("10.20.0.12")], **options)


def dr_director(**options) -> dict:
    """dr1 and dr2 (on the director's subnet) in direct-routing mode."""
    return director([real_server("10.10.0.21", forward="dr"), real_server("10.10.0.22", forward="dr")], **options)


def nat_director(**options) -> dict:
    """nat1 and nat2 (the director is their gateway) in NAT mode, port 80 mapped to 8080."""
    servers = [real_server("10.30.0.11", port=8080, forward="nat"), real_server("10.30.0.12", port=8080, forward="nat")]
    return director(servers, **options)


def tun_real_server(host: str) -> dict:
    return {
        "version": 1,
        "host": host,
        "revision": 1,
        "director": None,
        "real_server": {"tun": {"vips": [VIP], "uplinks": ["eth0"]}, "dr": None},
    }


def dr_real_server(host: str) -> dict:
    return {
        "version": 1,
        "host": host,
        "revision": 1,
        "director": None,
        "real_server": {"tun": None, "dr": {"vips": [VIP], "uplinks": ["eth0"]}},
    }


def changed(document: dict, edit) -> dict:
    """A deep copy of DOCUMENT with EDIT(copy) applied: `changed(doc, lambda d: d.update(revision=2))`."""
    document = copy.deepcopy(document)
    edit(document)
    return document
