"""UDP, DNS and SCTP probes against real sockets on this machine (SCTP: tests/lab/test_lab_checks.py)."""

from __future__ import annotations

import asyncio
import socket
import struct
import threading
from collections.abc import Callable, Iterator

import pytest
from lvsweb_agent.datagram_probes import dns_probe, udp_probe
from lvsweb_agent.document import DocumentError, parse_document
from lvsweb_agent.model import HealthCheck
from lvsweb_agent.probes import probe


class UdpServer:
    """A real UDP server on 127.0.0.1 that answers each datagram with `answer(datagram)` (None: silence)."""

    def __init__(self, answer: Callable[[bytes], bytes | None]):
        self.answer = answer
        self.seen: list[bytes] = []
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                data, peer = self.sock.recvfrom(65535)
            except OSError:
                return
            self.seen.append(data)
            reply = self.answer(data)
            if reply is not None:
                self.sock.sendto(reply, peer)

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def echo() -> Iterator[UdpServer]:
    server = UdpServer(lambda data: b"PONG " + data)
    yield server
    server.close()


def closed_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def udp(**fields) -> HealthCheck:
    return HealthCheck(type="udp", timeout=0.5, **fields)


def run(coroutine):
    return asyncio.run(coroutine)


def test_udp_reply_matching_a_prefix_or_a_regex_is_up(echo):
    result = run(udp_probe(udp(payload=b"PING", reply_match="prefix", reply_pattern=b"PONG"), "127.0.0.1", echo.port))
    assert result.ok and result.latency_ms is not None, result
    assert echo.seen == [b"PING"]
    assert run(
        udp_probe(udp(payload=b"x", reply_match="regex", reply_pattern=rb"^PONG \w$"), "127.0.0.1", echo.port)
    ).ok
    assert run(udp_probe(udp(payload=b"x", reply_match="any"), "127.0.0.1", echo.port)).ok


def test_udp_reply_not_matching_is_down_with_both_shown(echo):
    result = run(udp_probe(udp(payload=b"PING", reply_match="prefix", reply_pattern=b"OK"), "127.0.0.1", echo.port))
    assert not result.ok
    assert "the reply b'PONG PING' does not start with b'OK'" in result.message
    result = run(udp_probe(udp(payload=b"PING", reply_match="regex", reply_pattern=rb"^OK"), "127.0.0.1", echo.port))
    assert not result.ok and "does not match" in result.message


def test_closed_udp_port_answers_icmp_unreachable_and_is_down():
    port = closed_udp_port()
    for check in (udp(payload=b"PING"), udp(payload=b"PING", reply_match="any")):
        result = run(udp_probe(check, "127.0.0.1", port))
        assert not result.ok
        assert result.message == f"UDP 127.0.0.1:{port}: port unreachable (ICMP): nothing listens there"


def test_silent_udp_server_is_up_without_reply_required_and_down_when_one_is():
    silent = UdpServer(lambda data: None)
    try:
        result = run(udp_probe(udp(payload=b"hello"), "127.0.0.1", silent.port))
        assert result.ok and "no ICMP port unreachable within 0.5 s" in result.message
        result = run(udp_probe(udp(payload=b"hello", reply_match="any"), "127.0.0.1", silent.port))
        assert not result.ok and result.message.endswith("no reply within 0.5 s")
    finally:
        silent.close()


def test_udp_over_ipv6_loopback():
    with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as sock:
        sock.bind(("::1", 0))
        port = sock.getsockname()[1]
        sock.settimeout(2)
        threading.Thread(target=lambda: sock.sendto(b"ok", sock.recvfrom(100)[1]), daemon=True).start()
        assert run(udp_probe(udp(payload=b"?", reply_match="prefix", reply_pattern=b"ok"), "::1", port)).ok
    result = run(udp_probe(udp(payload=b"?"), "::1", port))
    assert not result.ok and result.message.startswith(f"UDP [::1]:{port}: port unreachable")


def dns_server(rcode: int, answers: int) -> UdpServer:
    """A DNS server that answers every query with `rcode` and `answers` A records."""

    def answer(query: bytes) -> bytes:
        header = struct.pack("!HHHHHH", struct.unpack("!H", query[:2])[0], 0x8180 | rcode, 1, answers, 0, 0)
        return header + query[12:] + (b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 60, 4) + b"\n\0\0\1") * answers

    return UdpServer(answer)


def test_dns_noerror_with_an_answer_is_up_and_the_query_is_what_was_configured():
    server = dns_server(0, 1)
    try:
        check = HealthCheck(type="dns", timeout=0.5, query_name="www.example.net", query_type="A")
        result = run(dns_probe(check, "127.0.0.1", server.port))
        assert result.ok and result.message.endswith("NOERROR, 1 answer(s)"), result
        assert server.seen[0][12:] == b"\x03www\x07example\x03net\x00\x00\x01\x00\x01"
    finally:
        server.close()


@pytest.mark.parametrize(("rcode", "answers", "reason"), [(3, 0, "NXDOMAIN"), (2, 0, "SERVFAIL"), (0, 0, "no answer")])
def test_dns_errors_and_empty_answers_are_down(rcode, answers, reason):
    server = dns_server(rcode, answers)
    try:
        result = run(dns_probe(HealthCheck(type="dns", timeout=0.5), "127.0.0.1", server.port))
        assert not result.ok and reason in result.message, result
    finally:
        server.close()


def test_dns_junk_answer_and_closed_port_are_down():
    junk = UdpServer(lambda data: b"\xff" * 7)
    try:
        result = run(dns_probe(HealthCheck(type="dns", timeout=0.5), "127.0.0.1", junk.port))
        assert not result.ok and "not an answer to the query" in result.message
    finally:
        junk.close()
    result = run(dns_probe(HealthCheck(type="dns", timeout=0.5), "127.0.0.1", closed_udp_port()))
    assert not result.ok and "port unreachable (ICMP)" in result.message


def test_probe_dispatches_udp_from_a_parsed_document(echo):
    document = {
        "version": 1, "host": "d", "revision": 1,
        "director": {"services": [{"protocol": "udp", "address": "10.0.0.1", "port": 53,
                                   "scheduler": "rr", "real_servers": [
            {"address": "127.0.0.1", "port": 53, "forward": "dr", "health_check": {
                "type": "udp", "port": echo.port, "payload": "50494e47", "payload_hex": True,
                "reply_match": "prefix", "reply_pattern": "504f4e47", "timeout": 0.5}}]}]},
    }  # fmt: skip
    check = parse_document(document).director.services[0].real_servers[0].health
    assert check.payload == b"PING" and check.reply_pattern == b"PONG"
    assert run(probe(check, "127.0.0.1", None, None)).ok
    assert echo.seen == [b"PING"]


@pytest.mark.parametrize(
    ("check", "where", "says"),
    [
        ({"type": "udp", "payload": "zz", "payload_hex": True}, "payload", "hex digits"),
        ({"type": "udp", "reply_match": "regex", "reply_pattern": "("}, "reply_pattern", "not a regular expression"),
        ({"type": "udp", "reply_match": "prefix"}, "reply_pattern", "needs a pattern"),
        ({"type": "udp", "reply_pattern": "x"}, "reply_pattern", "takes no pattern"),
        ({"type": "tcp", "payload": "x"}, "payload", "only to udp"),
        ({"type": "udp", "query_type": "A"}, "query_type", "only to dns"),
        ({"type": "dns", "path": "/x"}, "path", "only to http"),
    ],
)
def test_document_refuses_udp_fields_that_do_not_fit_naming_them(check, where, says):
    document = {
        "version": 1, "host": "d", "revision": 1,
        "director": {"services": [{"protocol": "udp", "address": "10.0.0.1", "port": 53,
                                   "scheduler": "rr", "real_servers": [
            {"address": "10.0.0.2", "port": 53, "forward": "dr", "health_check": check}]}]},
    }  # fmt: skip
    with pytest.raises(DocumentError) as caught:
        parse_document(document)
    assert f"health_check.{where}" in str(caught.value) and says in str(caught.value)
