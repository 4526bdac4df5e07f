"""Health probes, run by the director's agent in its asyncio loop: TCP connect, HTTP(S) GET, and `probe()`,
which runs a check's probe (also UDP, DNS and SCTP: agents/lvsweb_agent/datagram_probes.py) and, with
`tunnel`, the tunnel-path probe (agents/lvsweb_agent/tunnel_probe.py).

Every probe answers a `ProbeResult`: ok or not, a message in operator words, and the time it took.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import ssl
import time

from lvsweb_agent.datagram_probes import dns_probe, sctp_probe, udp_probe
from lvsweb_agent.encapsulation import TCP_ACK, TCP_RST, TCP_SYN, checksum, parse_tcp, tcp_packet
from lvsweb_agent.model import HealthCheck, Tunnel
from lvsweb_agent.outcome import ProbeResult, elapsed
from lvsweb_agent.tunnel_probe import TunnelProber

# Besides this module's probes, the packet helpers and the prober, where callers have always found them.
__all__ = [
    "TCP_ACK",
    "TCP_RST",
    "TCP_SYN",
    "ProbeResult",
    "TunnelProber",
    "checksum",
    "http_probe",
    "parse_tcp",
    "probe",
    "tcp_packet",
    "tcp_probe",
]
MAX_BODY = 65536


async def tcp_probe(address: str, port: int, timeout: float) -> ProbeResult:
    """Up when a TCP connection to address:port opens within `timeout`."""
    started = time.monotonic()
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(address, port), timeout)
    except TimeoutError:
        return ProbeResult(False, f"no answer from {address}:{port} within {timeout:g} s")
    except OSError as exc:
        return ProbeResult(False, f"TCP connect to {address}:{port}: {_reason(exc)}")
    latency = elapsed(started)
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
    latency = elapsed(started)
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


async def probe(
    check: HealthCheck,
    address: str,
    tunnel: TunnelProber | None,
    vip: str | None,
    encapsulation: Tunnel | None = None,
) -> ProbeResult:
    """Run `check` against a real server; with check.tunnel, the tunnel-path probe (through
    `encapsulation`, the real server's tunnel; default ipip) must pass too."""
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
    through = await tunnel.probe(address, vip, check.port, check.timeout, encapsulation or Tunnel())
    if not through.ok:
        return ProbeResult(
            False, f"{through.message} (while {result.message[0].lower()}{result.message[1:]})", through.latency_ms
        )
    return ProbeResult(True, f"{result.message}; {through.message}", result.latency_ms)
