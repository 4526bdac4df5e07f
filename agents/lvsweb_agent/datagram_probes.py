"""Probes for UDP and SCTP services: a UDP exchange, a DNS query, an SCTP connect.

UDP has no handshake, so "up" is what the check asks for (`reply_match`), as keepalived's UDP_CHECK:

- `none`: send the payload; up unless the real server answers with an ICMP port unreachable within the
  timeout. The socket is connected, so the kernel hands that ICMP error to it: the receive fails with
  ECONNREFUSED ("Connection refused"). A real server that drops the datagram silently (a firewall, a
  host that is down) also counts as up here: this mode proves only that nobody says "no".
- `any`: some reply must come within the timeout.
- `prefix` / `regex`: the reply must start with the pattern / match it (searched in the first
  `MATCH_LIMIT` bytes: a pattern is the operator's, not the network's, but the reply is the network's).

A DNS check sends one query (agents/lvsweb_agent/dns.py) and is up on an answer with rcode NOERROR and at
least one answer record. SCTP is up when an association opens (INIT, INIT-ACK, COOKIE) within the timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import re
import socket
import time

from lvsweb_agent.dns import DnsError, build_query, parse_answer
from lvsweb_agent.model import HealthCheck, format_hostport
from lvsweb_agent.outcome import ProbeResult, elapsed

MAX_DATAGRAM = 65535
MATCH_LIMIT = 4096


def _family(address: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in address else socket.AF_INET


def _shown(data: bytes, limit: int = 40) -> str:
    text = repr(data[:limit])
    return text + ("…" if len(data) > limit else "")


async def _exchange(address: str, port: int, payload: bytes, timeout: float) -> bytes | None:
    """Send `payload` from a connected UDP socket; the first reply, or None when none came in time.

    ConnectionRefusedError: the real server answered with an ICMP port unreachable.
    """
    loop = asyncio.get_running_loop()
    with socket.socket(_family(address), socket.SOCK_DGRAM) as sock:
        sock.setblocking(False)
        sock.connect((address, port))
        await loop.sock_sendall(sock, payload)
        try:
            return await asyncio.wait_for(loop.sock_recv(sock, MAX_DATAGRAM), timeout)
        except TimeoutError:
            return None


def reply_matches(check: HealthCheck, reply: bytes) -> bool:
    """Whether `reply` is what the check expects (any reply passes `none` and `any`)."""
    if check.reply_match == "prefix":
        return reply.startswith(check.reply_pattern)
    if check.reply_match == "regex":
        return re.search(check.reply_pattern, reply[:MATCH_LIMIT]) is not None
    return True


async def udp_probe(check: HealthCheck, address: str, port: int) -> ProbeResult:
    """Send check.payload to address:port and judge the reply by check.reply_match."""
    started = time.monotonic()
    what = f"UDP {format_hostport(address, port)}"
    try:
        reply = await _exchange(address, port, check.payload, check.timeout)
    except ConnectionRefusedError:
        return ProbeResult(False, f"{what}: port unreachable (ICMP): nothing listens there")
    except OSError as exc:
        return ProbeResult(False, f"{what}: {exc.strerror or exc}")
    if reply is None:
        if check.reply_match == "none":
            return ProbeResult(True, f"{what}: no ICMP port unreachable within {check.timeout:g} s")
        return ProbeResult(False, f"{what}: no reply within {check.timeout:g} s")
    latency = elapsed(started)
    if not reply_matches(check, reply):
        how = "does not start with" if check.reply_match == "prefix" else "does not match"
        return ProbeResult(False, f"{what}: the reply {_shown(reply)} {how} {_shown(check.reply_pattern)}", latency)
    return ProbeResult(True, f"{what}: replied ({len(reply)} bytes)", latency)


async def dns_probe(check: HealthCheck, address: str, port: int) -> ProbeResult:
    """Ask address:port for check.query_name check.query_type; up on NOERROR with an answer."""
    started = time.monotonic()
    question = f"{check.query_name} {check.query_type}"
    what = f"DNS {question} at {format_hostport(address, port)}"
    query = build_query(random.getrandbits(16), check.query_name, check.query_type)
    try:
        reply = await _exchange(address, port, query, check.timeout)
    except ConnectionRefusedError:
        return ProbeResult(False, f"{what}: port unreachable (ICMP): no DNS server listens there")
    except OSError as exc:
        return ProbeResult(False, f"{what}: {exc.strerror or exc}")
    if reply is None:
        return ProbeResult(False, f"{what}: no answer within {check.timeout:g} s")
    latency = elapsed(started)
    try:
        answer = parse_answer(reply, query)
    except DnsError as exc:
        return ProbeResult(False, f"{what}: not an answer to the query: {exc}", latency)
    if answer.rcode != 0:
        return ProbeResult(False, f"{what}: {answer.rcode_name}", latency)
    if not answer.answers and not answer.truncated:
        return ProbeResult(False, f"{what}: NOERROR but no answer record", latency)
    return ProbeResult(True, f"{what}: NOERROR, {answer.answers} answer(s)", latency)


async def sctp_probe(address: str, port: int, timeout: float) -> ProbeResult:
    """Up when an SCTP association to address:port opens within `timeout`."""
    started = time.monotonic()
    what = f"SCTP connect to {format_hostport(address, port)}"
    loop = asyncio.get_running_loop()
    try:
        sock = socket.socket(_family(address), socket.SOCK_STREAM, socket.IPPROTO_SCTP)
    except OSError as exc:
        return ProbeResult(False, f"{what}: no SCTP on this director ({exc.strerror or exc}; modprobe sctp)")
    with sock:
        sock.setblocking(False)
        try:
            await asyncio.wait_for(loop.sock_connect(sock, (address, port)), timeout)
        except TimeoutError:
            return ProbeResult(False, f"{what}: no answer within {timeout:g} s")
        except OSError as exc:
            return ProbeResult(False, f"{what}: {exc.strerror or exc}")
        latency = elapsed(started)
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
    return ProbeResult(True, f"{what} succeeded", latency)
