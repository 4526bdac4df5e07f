"""The dns check's packets: the query as RFC 1035 lays it out, and an answer parser that junk never crashes."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st
from lvsweb_agent.dns import QUERY_TYPES, DnsError, build_query, encode_name, parse_answer


def answer_to(query: bytes, *, rcode: int = 0, answers: int = 1, flags: int = 0x8180) -> bytes:
    """A server's answer to `query`: same id and question, QR set, one A record pointing at the question."""
    ident = struct.unpack("!H", query[:2])[0]
    header = struct.pack("!HHHHHH", ident, flags | rcode, 1, answers, 0, 0)
    record = b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 60, 4) + bytes([10, 0, 0, 1])
    return header + query[12:] + record * answers


def test_the_query_is_laid_out_as_rfc_1035_says():
    query = build_query(0x1234, "www.example.net", "AAAA")
    assert query[:12] == struct.pack("!HHHHHH", 0x1234, 0x0100, 1, 0, 0, 0)
    assert query[12:] == b"\x03www\x07example\x03net\x00" + struct.pack("!HH", 28, 1)
    assert build_query(1, ".", "SOA")[12:] == b"\x00" + struct.pack("!HH", 6, 1)
    assert encode_name("example.net.") == encode_name("example.net")


@pytest.mark.parametrize("name", ["a..b", "x" * 64, ".".join(["abcdefgh"] * 30)])
def test_names_the_dns_cannot_carry_are_refused(name):
    with pytest.raises(ValueError):
        encode_name(name)


def test_an_answer_is_read_back():
    query = build_query(7, "example.net", "A")
    answer = parse_answer(answer_to(query), query)
    assert (answer.ident, answer.rcode, answer.answers, answer.rcode_name) == (7, 0, 1, "NOERROR")
    failed = parse_answer(answer_to(query, rcode=3, answers=0), query)
    assert failed.rcode_name == "NXDOMAIN" and failed.answers == 0


@pytest.mark.parametrize(
    ("mangle", "reason"),
    [
        (lambda a: a[:5], "shorter than a DNS header"),
        (lambda a: b"\x00\x08" + a[2:], "id"),
        (lambda a: a[:2] + b"\x01\x00" + a[4:], "QR bit"),
        (lambda a: a[:13], "ends inside"),
        (lambda a: a[:14] + b"b" + a[15:], "not the one asked"),
        (lambda a: a[:12] + b"\x40" + a[13:], "label type"),
    ],
)
def test_what_is_not_an_answer_to_the_query_says_why(mangle, reason):
    query = build_query(7, "example.net", "A")
    with pytest.raises(DnsError, match=reason):
        parse_answer(mangle(answer_to(query)), query)


@given(st.binary(max_size=600), st.sampled_from(sorted(QUERY_TYPES)))
def test_junk_never_crashes_the_parser(data, qtype):
    query = build_query(struct.unpack("!H", data[:2])[0] if len(data) >= 2 else 0, "example.net", qtype)
    try:
        answer = parse_answer(data, query)
    except DnsError:
        return
    assert 0 <= answer.rcode <= 15 and 0 <= answer.answers <= 0xFFFF


@given(st.binary(max_size=300))
def test_junk_after_a_valid_header_never_crashes_the_parser(tail):
    query = build_query(9, "example.net", "SOA")
    try:
        answer = parse_answer(struct.pack("!HHHHHH", 9, 0x8180, 1, 1, 0, 0) + tail, query)
    except DnsError:
        return
    assert answer.answers == 1
