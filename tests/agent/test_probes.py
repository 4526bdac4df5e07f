"""Probes against real sockets on this machine, the monitor's loop, and the tunnel probe's packets.

The tunnel-path probe itself needs a kernel with ipip and a real server behind a tunnel: tests/lab/test_health.py.
"""

from __future__ import annotations

import asyncio
import http.server
import socket
import socketserver
import struct
import threading
import time
from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st
from lvsweb_agent.document import parse_document
from lvsweb_agent.model import HealthCheck
from lvsweb_agent.monitor import HealthMonitor
from lvsweb_agent.probes import TCP_ACK, TCP_RST, TCP_SYN, checksum, http_probe, parse_tcp, tcp_packet, tcp_probe


class Site:
    """A real HTTP server on 127.0.0.1 whose status and body a test can change."""

    def __init__(self):
        self.status, self.body = 200, b"all good"
        site = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                site.seen_host = self.headers.get("Host")
                self.send_response(site.status)
                self.end_headers()
                self.wfile.write(site.body)

            def log_message(self, *args):
                pass

        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def site() -> Iterator[Site]:
    running = Site()
    yield running
    running.stop()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def http_check(**fields) -> HealthCheck:
    return HealthCheck(**{"type": "http", "timeout": 2.0, **fields})


def test_http_up_within_the_expected_status_and_body(site):
    result = asyncio.run(http_probe(http_check(body="good", host="shop.example.net"), "127.0.0.1", site.port))
    assert result.ok and result.message.endswith("status 200") and result.latency_ms > 0
    assert site.seen_host == "shop.example.net"


def test_http_down_on_a_status_outside_the_range_or_a_missing_body(site):
    site.status = 503
    result = asyncio.run(http_probe(http_check(), "127.0.0.1", site.port))
    assert not result.ok and "status 503, expected 200-399" in result.message
    site.status = 200
    result = asyncio.run(http_probe(http_check(body="healthy"), "127.0.0.1", site.port))
    assert not result.ok and "lacks 'healthy'" in result.message


def test_closed_port_and_silent_server_are_down_with_the_reason():
    port = free_port()
    result = asyncio.run(tcp_probe("127.0.0.1", port, 1))
    assert not result.ok and result.message == f"TCP connect to 127.0.0.1:{port}: Connection refused"
    with socket.socket() as silent:  # accepts connections (backlog) and never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(5)
        result = asyncio.run(http_probe(http_check(timeout=0.3), "127.0.0.1", silent.getsockname()[1]))
    assert not result.ok and "no answer within 0.3 s" in result.message


def test_https_without_tls_on_the_port_is_down(site):
    result = asyncio.run(http_probe(http_check(type="https"), "127.0.0.1", site.port))
    assert not result.ok and result.message.startswith("HTTPS GET / on 127.0.0.1")


@given(
    st.integers(1, 65535),
    st.integers(1, 65535),
    st.integers(0, 2**32 - 1),
    st.integers(0, 2**32 - 1),
    st.sampled_from([TCP_SYN, TCP_RST, TCP_SYN | TCP_ACK]),
)
def test_probe_packets_carry_valid_checksums_and_parse_back(sport, dport, seq, ack, flags):
    packet = tcp_packet("10.10.0.2", "10.10.0.100", sport, dport, seq, ack, flags)
    assert checksum(packet[:20]) == 0
    segment = packet[20:]
    pseudo = socket.inet_aton("10.10.0.2") + socket.inet_aton("10.10.0.100") + struct.pack("!BBH", 0, 6, len(segment))
    assert checksum(pseudo + segment) == 0
    parsed = parse_tcp(packet)
    assert (parsed.source, parsed.destination, parsed.sport, parsed.dport) == ("10.10.0.2", "10.10.0.100", sport, dport)
    assert (parsed.seq, parsed.ack, parsed.flags) == (seq, ack, flags)


def test_fragments_and_other_protocols_are_not_replies():
    packet = bytearray(tcp_packet("10.10.0.2", "10.10.0.100", 1, 2, 3, 4, TCP_SYN))
    packet[6:8] = struct.pack("!H", 0x2001)  # a fragment at offset 8
    assert parse_tcp(bytes(packet)) is None
    packet[9] = 17
    assert parse_tcp(bytes(packet)) is None


def document(port_up: int, port_down: int) -> dict:
    check = {"interval": 0.3, "timeout": 0.3, "rise": 2, "fall": 2}
    return {
        "version": 1,
        "host": "director",
        "revision": 1,
        "director": {
            "services": [
                {
                    "protocol": "tcp",
                    "address": "127.0.0.1",
                    "port": port_up,
                    "scheduler": "rr",
                    "real_servers": [
                        {
                            "address": "127.0.0.1",
                            "port": port_up,
                            "forward": "nat",
                            "health_check": {"type": "http", **check},
                        },
                        {
                            "address": "127.0.0.2",
                            "port": port_down,
                            "forward": "nat",
                            "health_check": {"type": "tcp", **check},
                        },
                    ],
                }
            ]
        },
    }


def wait_for(condition, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def test_the_monitor_reports_transitions_and_reapplies(site):
    reports, changes = [], []
    monitor = HealthMonitor(host="director", report=reports.append, on_change=lambda: changes.append(1) or {"ok": True})
    desired = parse_document(document(site.port, free_port()))
    monitor.watch(desired)
    assert monitor.adjust(desired) == desired, "unknown servers keep their weights"
    monitor.start()
    try:
        wait_for(lambda: set(monitor.statuses().values()) == {"up", "down"})
        weights = {rs.address: rs.weight for rs in monitor.adjust(desired).director.services[0].real_servers}
        assert weights == {"127.0.0.1": 1, "127.0.0.2": 0}
        site.status = 500
        wait_for(lambda: set(monitor.statuses().values()) == {"down"})
    finally:
        monitor.stop()
    moves = [(t["address"], t["from"], t["to"]) for r in reports for t in r["transitions"]]
    assert moves[:2] in (
        [("127.0.0.1", "unknown", "up"), ("127.0.0.2", "unknown", "down")],
        [("127.0.0.2", "unknown", "down"), ("127.0.0.1", "unknown", "up")],
    )
    assert moves[-1] == ("127.0.0.1", "up", "down")
    assert len(changes) == 3 and all(r["applied"] == {"ok": True} for r in reports if r["transitions"])
    last = reports[-1]["results"]
    assert [(r["address"], r["status"], r["check"]) for r in last] == [
        ("127.0.0.1", "down", "http"),
        ("127.0.0.2", "down", "tcp"),
    ]
    assert "status 500" in last[0]["message"]


def test_a_server_no_longer_in_the_document_is_no_longer_checked(site):
    monitor = HealthMonitor()
    desired = parse_document(document(site.port, free_port()))
    monitor.watch(desired)
    assert len(monitor.statuses()) == 2
    desired = parse_document({**document(site.port, free_port()), "director": {"services": []}})
    monitor.adjust(desired)
    assert len(monitor.statuses()) == 2, "adjusting (a plan) changes nothing"
    monitor.watch(desired)
    assert monitor.statuses() == {}


def self_signed(tmp_path) -> tuple[str, str]:
    """A certificate for “shop.example.net” and its key, as PEM files (no CA: the probe does not verify)."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "shop.example.net")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return str(cert_file), str(key_file)


def test_https_gets_through_tls_with_the_host_as_server_name(site, tmp_path):
    import ssl

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*self_signed(tmp_path))
    names = []
    context.sni_callback = lambda sock, name, ctx: names.append(name)
    site.server.socket = context.wrap_socket(site.server.socket, server_side=True)
    result = asyncio.run(http_probe(http_check(type="https", host="shop.example.net"), "127.0.0.1", site.port))
    assert result.ok, result.message
    assert names == ["shop.example.net"] and site.seen_host == "shop.example.net"
