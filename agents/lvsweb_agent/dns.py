"""DNS messages for the `dns` health check: one query built by hand, the answer's header read back.

RFC 1035 section 4: a 12-byte header (id, flags, four counts), then the question (the name as labels,
type, class). The check needs only the answer's id, QR bit, rcode and answer count, and that the
question it echoes is ours; the parser reads nothing else and bounds-checks every offset, so any datagram
— truncated, compressed into a loop, junk — gives a `DnsAnswer` or a `DnsError`, never another exception.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

#: The record types a check may ask for (RFC 1035, RFC 3596 for AAAA, RFC 2782 for SRV).
QUERY_TYPES = {"A": 1, "NS": 2, "CNAME": 5, "SOA": 6, "PTR": 12, "MX": 15, "TXT": 16, "AAAA": 28, "SRV": 33, "ANY": 255}
RCODES = {0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED"}
CLASS_IN = 1
HEADER = struct.Struct("!HHHHHH")
#: Recursion desired: a resolver answers from its cache or asks on; an authoritative server ignores it.
FLAG_RD = 0x0100
FLAG_QR = 0x8000
FLAG_TC = 0x0200


class DnsError(ValueError):
    """A datagram that is not a usable answer to our query."""


@dataclass(frozen=True)
class DnsAnswer:
    """What the check reads of an answer."""

    ident: int
    rcode: int
    answers: int
    truncated: bool

    @property
    def rcode_name(self) -> str:
        return RCODES.get(self.rcode, f"rcode {self.rcode}")


def encode_name(name: str) -> bytes:
    """A domain name as DNS labels ("." is the root); ValueError for an empty or too long label."""
    labels = [label for label in name.rstrip(".").split(".")] if name not in (".", "") else []
    out = b""
    for label in labels:
        raw = label.encode("ascii")
        if not 1 <= len(raw) <= 63:
            raise ValueError(f"the label {label!r} of {name!r} must have 1 to 63 characters")
        out += bytes([len(raw)]) + raw
    if len(out) + 1 > 255:
        raise ValueError(f"{name!r} is longer than 255 bytes as a DNS name")
    return out + b"\0"


def build_query(ident: int, name: str, qtype: str) -> bytes:
    """A standard query (recursion desired) for `name` `qtype` IN."""
    header = HEADER.pack(ident & 0xFFFF, FLAG_RD, 1, 0, 0, 0)
    return header + encode_name(name) + struct.pack("!HH", QUERY_TYPES[qtype], CLASS_IN)


def _skip_name(data: bytes, offset: int) -> int:
    """The offset after the name at `offset` (a compression pointer ends a name: it is not followed)."""
    for _ in range(128):  # a name has at most 127 labels
        if offset >= len(data):
            raise DnsError("the answer ends inside a name")
        length = data[offset]
        if length == 0:
            return offset + 1
        if length & 0xC0 == 0xC0:
            if offset + 2 > len(data):
                raise DnsError("the answer ends inside a name")
            return offset + 2
        if length & 0xC0:
            raise DnsError(f"unknown label type {length:#x}")
        offset += 1 + length
    raise DnsError("a name with too many labels")


def parse_answer(data: bytes, query: bytes) -> DnsAnswer:
    """Read the answer to `query` (as built by `build_query`); DnsError when it is not one."""
    if len(data) < HEADER.size:
        raise DnsError(f"{len(data)} bytes: shorter than a DNS header")
    ident, flags, qdcount, ancount, _, _ = HEADER.unpack_from(data)
    if ident != HEADER.unpack_from(query)[0]:
        raise DnsError(f"the answer's id {ident} is not the query's")
    if not flags & FLAG_QR:
        raise DnsError("not an answer (QR bit clear)")
    truncated = bool(flags & FLAG_TC)
    if qdcount:
        # Our question must come back as asked (a reply to some other query is not an answer to ours).
        end = _skip_name(data, HEADER.size) + 4
        if end > len(data):
            raise DnsError("the answer ends inside its question")
        if data[HEADER.size : end].lower() != query[HEADER.size :].lower():
            raise DnsError("the answer's question is not the one asked")
    return DnsAnswer(ident=ident, rcode=flags & 0x000F, answers=ancount, truncated=truncated)
