"""What the agent does with kernel answers it cannot trust: malformed, truncated or missing ones.

The decoder is fed the IPVS dump messages a kernel writes (built byte for byte as include/uapi/linux/ip_vs.h
lays them out, see test_netlink.py), then broken ones: every problem must raise the one NetlinkDecodeError
naming the message and the attribute, never IndexError, TypeError or struct.error, and unknown attribute
numbers must be skipped. The timeouts run against this machine's real kernel: its generic netlink control
family answers (or, for the requests built here, does not answer) exactly as it would the agent.
"""

from __future__ import annotations

import errno
import socket
import struct
import time

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from lvsweb_agent import netlink
from lvsweb_agent.envelope import generate_private_key, seal
from lvsweb_agent.errors import describe_exception, explain
from lvsweb_agent.model import (
    CHECKSUMS,
    FAMILIES,
    FORWARD_METHODS,
    FORWARD_NAMES,
    PROTOCOLS,
    TUNNEL_TYPES,
    DestCounters,
    RealServer,
    Service,
    ServiceKey,
    Tunnel,
    address_info,
)
from lvsweb_agent.netlink import (
    CMD_ATTR_DEST,
    CMD_ATTR_SERVICE,
    CTRL_ATTR_FAMILY_NAME,
    CTRL_CMD_GETFAMILY,
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
    NLM_F_REQUEST,
    NLMSG_ERROR,
    SOL_NETLINK,
    SVC_ADDR,
    SVC_AF,
    SVC_FLAGS,
    SVC_FWMARK,
    SVC_NETMASK,
    SVC_PORT,
    SVC_PROTOCOL,
    SVC_SCHED_NAME,
    SVC_STATS,
    SVC_STATS64,
    SVC_TIMEOUT,
    GenericNetlink,
    NetlinkDecodeError,
    NetlinkTimeout,
    decode_dest,
    decode_service,
    frames,
    nla,
)
from lvsweb_agent.planner import Operation

from .docs import director_doc, tun_dest
from .simkernel import SimulatedKernel, director_handler

NESTED = 0x8000
V4, V6 = socket.AF_INET, socket.AF_INET6
NETLINK_NO_ENOBUFS = 5


# -- messages as the kernel writes them ----------------------------------------------------------------------
def dest_attrs(dest: RealServer, family: int = V4, *, skip: tuple[int, ...] = (), extra: bytes = b"") -> bytes:
    """A real server's nested attributes as ip_vs_genl_fill_dest() writes them (16-byte address)."""
    tunnel = dest.tunnel or Tunnel()
    parts = {
        DEST_ADDR: nla(DEST_ADDR, socket.inet_pton(family, dest.address).ljust(16, b"\0")),
        DEST_PORT: nla(DEST_PORT, struct.pack("!H", dest.port)),
        DEST_FWD: nla(DEST_FWD, struct.pack("=I", FORWARD_METHODS[dest.forward])),
        DEST_WEIGHT: nla(DEST_WEIGHT, struct.pack("=I", dest.weight)),
        DEST_TUN_TYPE: nla(DEST_TUN_TYPE, struct.pack("=B", TUNNEL_TYPES[tunnel.type])),
        DEST_TUN_PORT: nla(DEST_TUN_PORT, struct.pack("!H", tunnel.port)),
        DEST_TUN_FLAGS: nla(DEST_TUN_FLAGS, struct.pack("=H", CHECKSUMS[tunnel.checksum])),
        DEST_U_THRESH: nla(DEST_U_THRESH, struct.pack("=I", dest.upper_threshold)),
        DEST_L_THRESH: nla(DEST_L_THRESH, struct.pack("=I", dest.lower_threshold)),
        DEST_ACTIVE: nla(DEST_ACTIVE, struct.pack("=I", 3)),
        DEST_INACT: nla(DEST_INACT, struct.pack("=I", 1)),
        DEST_PERSIST: nla(DEST_PERSIST, struct.pack("=I", 0)),
        DEST_ADDR_FAMILY: nla(DEST_ADDR_FAMILY, struct.pack("=H", family)),
        DEST_STATS: nla(DEST_STATS | NESTED, b"".join(nla(i, struct.pack("=I", i)) for i in range(1, 11))),
        DEST_STATS64: nla(DEST_STATS64 | NESTED, b"".join(nla(i, struct.pack("=Q", 100 + i)) for i in range(1, 11))),
    }
    return b"".join(part for kind, part in parts.items() if kind not in skip) + extra


def dest_message(dest: RealServer, family: int = V4, **options) -> bytes:
    return nla(CMD_ATTR_DEST | NESTED, dest_attrs(dest, family, **options))


def service_message(service: Service, *, skip: tuple[int, ...] = (), extra: bytes = b"") -> bytes:
    """A service's attributes as ip_vs_genl_fill_service() writes them."""
    key = service.key
    family = FAMILIES[key.family]
    parts = {SVC_AF: nla(SVC_AF, struct.pack("=H", family))}
    if key.fwmark:
        parts[SVC_FWMARK] = nla(SVC_FWMARK, struct.pack("=I", key.fwmark))
    else:
        parts[SVC_PROTOCOL] = nla(SVC_PROTOCOL, struct.pack("=H", PROTOCOLS[key.protocol]))
        parts[SVC_ADDR] = nla(SVC_ADDR, socket.inet_pton(family, key.address).ljust(16, b"\0"))
        parts[SVC_PORT] = nla(SVC_PORT, struct.pack("!H", key.port))
    flags = 0x02 | (0x01 if service.persistence else 0)  # hashed (the kernel sets it), persistent
    mask = 0xFFFFFFFF if key.family == "ipv4" else 128
    timeout = service.persistence.timeout if service.persistence else 0
    parts[SVC_SCHED_NAME] = nla(SVC_SCHED_NAME, service.scheduler.encode() + b"\0")
    parts[SVC_FLAGS] = nla(SVC_FLAGS, struct.pack("=II", flags, 0xFFFFFFFF))
    parts[SVC_TIMEOUT] = nla(SVC_TIMEOUT, struct.pack("=I", timeout))
    parts[SVC_NETMASK] = nla(SVC_NETMASK, struct.pack("=I", mask))
    parts[SVC_STATS] = nla(SVC_STATS | NESTED, b"".join(nla(i, struct.pack("=I", i)) for i in range(1, 11)))
    parts[SVC_STATS64] = nla(SVC_STATS64 | NESTED, b"".join(nla(i, struct.pack("=Q", 7 * i)) for i in range(1, 11)))
    attrs = b"".join(part for kind, part in parts.items() if kind not in skip) + extra
    return nla(CMD_ATTR_SERVICE | NESTED, attrs)


DESTS = [
    RealServer("10.20.0.11", 80, 1, "tun", Tunnel("gue", 6080, "remcsum"), 7, 3),
    RealServer("10.1.2.3", 8080, 0, "nat", None, 1, 0),
    RealServer("10.1.2.4", 80, 2, "dr", None, 0, 0),
]
V6_DEST = RealServer("2001:db8::5", 443, 9, "tun", Tunnel(), 0, 0)
SERVICES = [
    Service(ServiceKey.for_address("tcp", "10.10.0.100", 80), "rr"),
    Service(ServiceKey.for_address("udp", "2001:db8::1", 53), "wlc"),
    Service(ServiceKey.for_fwmark(7), "sh", persistence=netlink.Persistence(300, "255.255.255.255")),
]


def read_dest(message: bytes, family: int = V4) -> RealServer:
    return decode_dest(message, 0, len(message), family)


@pytest.fixture(autouse=True)
def fresh_layouts():
    """Each test starts with the careful decoder (no layout learned from another test's messages)."""
    netlink._layouts.clear()
    yield
    netlink._layouts.clear()


# -- the problems the issue found ----------------------------------------------------------------------------
def test_an_unknown_attribute_number_is_skipped_on_both_paths():
    # Attribute 40 made the old decoder raise IndexError (a table of 32 slots).
    message = dest_message(DESTS[0], extra=nla(40, struct.pack("=I", 99)) + nla(0x3FFF, b"future"))
    assert read_dest(message) == DESTS[0]  # careful path, which learns the layout
    assert read_dest(message) == DESTS[0]  # fast path
    service = service_message(SERVICES[0], extra=nla(40, b"\1\2\3\4"))
    assert decode_service(service + nla(40, b""), 0, len(service) + 4) == SERVICES[0]


def test_a_real_server_without_an_address_names_the_message_and_the_attribute():
    message = dest_message(DESTS[1], skip=(DEST_ADDR,))
    with pytest.raises(NetlinkDecodeError) as caught:
        read_dest(message)
    assert str(caught.value) == "IPVS dump: real server message without an address (attribute DEST_ADDR)"


def test_an_attribute_longer_than_its_message_is_refused():
    message = bytearray(dest_message(DESTS[2]))
    weight_at = message.find(struct.pack("=HH", 8, DEST_WEIGHT))
    message[weight_at : weight_at + 2] = struct.pack("=H", 4000)
    with pytest.raises(NetlinkDecodeError, match=r"attribute DEST_WEIGHT at byte \d+ claims 4000 bytes, but only"):
        read_dest(bytes(message))


def test_the_outer_attribute_may_not_run_past_the_message_either():
    message = dest_message(DESTS[2])
    with pytest.raises(NetlinkDecodeError, match="attribute CMD_ATTR_DEST at byte 0 claims"):
        read_dest(message[:-8])
    with pytest.raises(NetlinkDecodeError, match="without the real server"):
        read_dest(b"")
    with pytest.raises(NetlinkDecodeError, match="less than its own 4-byte header"):
        read_dest(struct.pack("=HH", 2, CMD_ATTR_DEST) + b"\0" * 12)


@pytest.mark.parametrize(
    ("edit", "problem"),
    [
        ((DEST_ADDR_FAMILY, struct.pack("=H", 7)), "address family 7 is neither IPv4 (2) nor IPv6 (10)"),
        ((DEST_PORT, b"\0\0\0"), "attribute DEST_PORT is 3 bytes long, expected 2"),
        ((DEST_WEIGHT, b"\1"), "attribute DEST_WEIGHT is 1 bytes long, expected 4"),
        ((DEST_ADDR, b"\x0a\0\0"), "an IPv4 address needs 4 bytes (or 16 with padding), attribute DEST_ADDR has 3"),
    ],
)
def test_wrong_sizes_and_values_are_named(edit, problem):
    kind, payload = edit
    message = dest_message(DESTS[2], skip=(kind,), extra=nla(kind, payload))
    with pytest.raises(NetlinkDecodeError) as caught:
        read_dest(message)
    assert str(caught.value) == f"IPVS dump: real server message: {problem}"


def test_an_ipv6_real_server_needs_a_16_byte_address():
    assert read_dest(dest_message(V6_DEST, V6), V6) == V6_DEST
    short = dest_message(V6_DEST, V6, skip=(DEST_ADDR,), extra=nla(DEST_ADDR, socket.inet_aton("10.0.0.1")))
    with pytest.raises(NetlinkDecodeError, match="an IPv6 address needs 16 bytes, attribute DEST_ADDR has 4"):
        read_dest(short, V6)
    # An older kernel without DEST_ADDR_FAMILY: the service's family decides.
    assert read_dest(dest_message(V6_DEST, V6, skip=(DEST_ADDR_FAMILY,)), V6) == V6_DEST


def test_broken_nested_counters_are_named():
    bad_counter = nla(DEST_STATS64 | NESTED, nla(1, b"\1\2\3"))
    message = dest_message(DESTS[0], skip=(DEST_STATS64,), extra=bad_counter)
    with pytest.raises(NetlinkDecodeError, match="in DEST_STATS64: counter 1 is 3 bytes long, expected 4 or 8"):
        read_dest(message)
    overlong = nla(DEST_STATS64 | NESTED, struct.pack("=HH", 200, 1) + b"\0" * 8)
    message = dest_message(DESTS[0], skip=(DEST_STATS64,), extra=overlong)
    problem = r"in DEST_STATS64: attribute 1 at byte \d+ claims 200 bytes, but only 12 remain"
    with pytest.raises(NetlinkDecodeError, match=problem):
        read_dest(message)


def test_the_fast_path_reads_what_the_careful_decoder_reads_and_hands_oddities_back():
    first = dest_message(DESTS[0])
    careful = read_dest(first)
    fast = read_dest(first)
    assert fast == careful and fast.counters == careful.counters == DestCounters(3, 1, 0, *range(101, 111))
    # Same length, a family the fast path cannot take: the careful decoder names it.
    odd = bytearray(first)
    at = odd.find(struct.pack("=HH", 6, DEST_ADDR_FAMILY)) + 4
    odd[at : at + 2] = struct.pack("=H", 99)
    with pytest.raises(NetlinkDecodeError, match="address family 99"):
        read_dest(bytes(odd))
    # Same length, counters in another order: read through the nested attributes, not by position.
    reordered = bytearray(first)
    stats_at = reordered.find(struct.pack("=HH", 124, DEST_STATS64 | NESTED)) + 4
    first_two = reordered[stats_at : stats_at + 24]
    reordered[stats_at : stats_at + 24] = first_two[12:] + first_two[:12]
    assert read_dest(bytes(reordered)).counters == careful.counters


@pytest.mark.parametrize("service", SERVICES, ids=str)
def test_services_read_back(service):
    message = service_message(service)
    read = decode_service(message, 0, len(message))
    assert read == service
    assert read.counters.conns == 7 and read.counters.out_bps == 70


@pytest.mark.parametrize(
    ("skip", "extra", "problem"),
    [
        ((SVC_SCHED_NAME,), b"", "service message without a scheduler (attribute SVC_SCHED_NAME)"),
        ((SVC_FLAGS,), b"", "service message without flags (attribute SVC_FLAGS)"),
        ((SVC_AF,), nla(SVC_AF, struct.pack("=H", 3)), "address family 3 is neither IPv4 (2) nor IPv6 (10)"),
        ((SVC_PROTOCOL,), nla(SVC_PROTOCOL, struct.pack("=H", 1)), "protocol 1 is none of TCP (6), UDP (17)"),
        ((SVC_SCHED_NAME,), nla(SVC_SCHED_NAME, b"\xff\xfe\0"), "scheduler name (attribute SVC_SCHED_NAME) is not"),
        ((SVC_ADDR,), b"", "service message without an address (attribute SVC_ADDR)"),
    ],
)
def test_broken_service_messages_are_named(skip, extra, problem):
    message = service_message(SERVICES[0], skip=skip, extra=extra)
    with pytest.raises(NetlinkDecodeError) as caught:
        decode_service(message, 0, len(message))
    assert str(caught.value).startswith("IPVS dump: ") and problem in str(caught.value)


def test_a_persistent_service_needs_its_netmask():
    message = service_message(SERVICES[2], skip=(SVC_NETMASK,))
    with pytest.raises(NetlinkDecodeError, match=r"without a persistence netmask \(attribute SVC_NETMASK\)"):
        decode_service(message, 0, len(message))


def test_netlink_frames_are_checked_before_they_are_read():
    ack = struct.pack("=IHHII", 36, NLMSG_ERROR, 0, 5, 0) + struct.pack("=i", 0) + b"\0" * 16
    assert list(frames(ack, len(ack))) == [(0, 36, NLMSG_ERROR, 0, 5)]
    with pytest.raises(NetlinkDecodeError, match="message at byte 36 claims 36 bytes, but only 20 remain"):
        list(frames(ack + ack[:20], 56))
    with pytest.raises(NetlinkDecodeError, match="8 bytes after the last message"):
        list(frames(ack + ack[:8], 44))
    with pytest.raises(NetlinkDecodeError, match="claims 4 bytes, less than its 16-byte header"):
        list(frames(struct.pack("=IHHII", 4, 2, 0, 0, 0), 16))


def test_a_truncated_acknowledgement_is_a_decode_error():
    with GenericNetlinkOnThisKernel() as genl:
        short = struct.pack("=IHHII", 18, NLMSG_ERROR, 0, 5, 0) + b"\0\0"
        with pytest.raises(NetlinkDecodeError, match="acknowledgement of 18 bytes, too short"):
            genl._error(short, 0, 18, 0, "IPVS acknowledgements")
        positive = struct.pack("=IHHII", 36, NLMSG_ERROR, 0, 5, 0) + struct.pack("=i", 5) + b"\0" * 16
        with pytest.raises(NetlinkDecodeError, match="positive error number 5"):
            genl._error(positive, 0, 36, 0, "IPVS acknowledgements")


# -- property tests: anything the kernel could send --------------------------------------------------------
def well_formed_dest(dest: RealServer) -> None:
    assert isinstance(dest, RealServer)
    assert address_info(dest.address) is not None
    assert 0 <= dest.port <= 0xFFFF
    assert all(0 <= value <= 0xFFFFFFFF for value in (dest.weight, dest.upper_threshold, dest.lower_threshold))
    assert dest.forward in FORWARD_NAMES.values()
    assert dest.tunnel is None or isinstance(dest.tunnel, Tunnel)
    assert isinstance(dest.counters, DestCounters)
    assert all(isinstance(value, int) and value >= 0 for value in dest.counters)


def well_formed_service(service: Service) -> None:
    assert isinstance(service, Service)
    key = service.key
    assert key.family in FAMILIES
    if key.fwmark:
        assert key.address is None
    else:
        assert key.protocol in PROTOCOLS and address_info(key.address)[1] == key.family
    assert service.scheduler and service.scheduler.isprintable()
    assert isinstance(service.counters, DestCounters)


def decoded_or_refused(decode, message: bytes):
    """decode(message): a value, or None when it raised NetlinkDecodeError (any other exception fails)."""
    try:
        return decode(message)
    except NetlinkDecodeError:
        return None


def mutated(message: bytes, data: st.DataObject) -> bytes:
    """`message` with a few bytes overwritten (lengths and types included), cut short or grown."""
    buffer = bytearray(message)
    for _ in range(data.draw(st.integers(1, 6), label="edits")):
        at = data.draw(st.integers(0, len(buffer) - 1), label="at")
        buffer[at] = data.draw(st.integers(0, 255), label="byte")
    cut = data.draw(st.integers(0, len(buffer)), label="cut")
    return bytes(buffer[:cut]) + data.draw(st.binary(max_size=8), label="tail")


PROPERTIES = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
ALL_DESTS = [(dest, V4) for dest in DESTS] + [(V6_DEST, V6)]


@PROPERTIES
@given(message=st.binary(max_size=300), family=st.sampled_from([V4, V6, 0, 7]))
def test_random_bytes_decode_to_a_real_server_or_the_decode_error(message, family):
    for _ in range(2):  # the second time through a layout the first may have learned
        dest = decoded_or_refused(lambda m: read_dest(m, family), message)
        if dest is not None:
            well_formed_dest(dest)
    service = decoded_or_refused(lambda m: decode_service(m, 0, len(m)), message)
    if service is not None:
        well_formed_service(service)


@PROPERTIES
@given(data=st.data(), which=st.sampled_from(ALL_DESTS))
def test_mutated_real_server_messages_decode_alike_on_both_paths_or_raise_the_decode_error(data, which):
    dest, family = which
    original = dest_message(dest, family)
    message = mutated(original, data)
    netlink._layouts.clear()
    careful = decoded_or_refused(lambda m: read_dest(m, family), message)
    netlink._layouts.clear()
    read_dest(original, family)  # learn the kernel's layout: same-length messages take the fast path
    fast = decoded_or_refused(lambda m: read_dest(m, family), message)
    assert fast == careful
    if careful is not None:
        well_formed_dest(careful)
        assert fast.counters == careful.counters


@PROPERTIES
@given(data=st.data(), service=st.sampled_from(SERVICES))
def test_mutated_service_messages_decode_or_raise_the_decode_error(data, service):
    message = mutated(service_message(service), data)
    read = decoded_or_refused(lambda m: decode_service(m, 0, len(m)), message)
    if read is not None:
        well_formed_service(read)


@PROPERTIES
@given(data=st.data())
def test_mutated_answers_frame_and_acknowledge_or_raise_the_decode_error(data):
    ack = struct.pack("=IHHII", 36, NLMSG_ERROR, 0x200, 9, 0) + struct.pack("=i", -22) + b"\0" * 16
    text = nla(1, b"address not unicast\0")
    answer = mutated(ack[:0] + struct.pack("=I", 36 + len(text)) + ack[4:] + text, data)
    assume(len(answer) > 0)
    with GenericNetlinkOnThisKernel() as genl:
        try:
            for offset, length, kind, flags, _ in frames(answer, len(answer)):
                if kind == NLMSG_ERROR:
                    code, message = genl._error(answer, offset, length, flags, "IPVS acknowledgements")
                    assert code >= 0 and isinstance(message, str)
        except NetlinkDecodeError:
            pass


# -- timeouts, against this machine's kernel ---------------------------------------------------------------
class GenericNetlinkOnThisKernel(GenericNetlink):
    """The agent's socket class on this machine's generic netlink controller (this kernel has no IPVS)."""

    def __init__(self, timeout: float = 0.3):
        super().__init__("nlctrl", timeout=timeout)

    def __enter__(self) -> GenericNetlinkOnThisKernel:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def test_a_request_the_kernel_never_answers_times_out_with_a_clear_error():
    with GenericNetlinkOnThisKernel(timeout=0.3) as genl:
        assert genl.family_id == 0x10
        started = time.monotonic()
        # A NOOP without NLM_F_ACK: the kernel takes it and answers nothing, as a lost answer would look.
        with pytest.raises(NetlinkTimeout) as caught:
            genl._request(1, 0, b"", NLM_F_REQUEST, "IPVS dump")
        assert 0.29 < time.monotonic() - started < 2
        assert str(caught.value) == "the kernel did not answer 1 request within 0.3 s (IPVS dump)"
        assert caught.value.errno == errno.ETIMEDOUT
        # The socket goes on working: the next request is answered.
        assert genl._resolve("nlctrl") == 0x10
    assert describe_exception(caught.value) == (
        "the kernel did not answer 1 request within 0.3 s (IPVS dump), nothing was changed "
        "(the kernel is stuck or overloaded; try again)"
    )


def test_acks_that_never_come_are_reported_per_request_and_nothing_more_is_sent():
    request = (CTRL_CMD_GETFAMILY, nla(CTRL_ATTR_FAMILY_NAME, b"nlctrl\0"))
    with GenericNetlinkOnThisKernel(timeout=0.3) as genl:
        # A receive buffer too small for the answers, and no ENOBUFS error: the kernel drops what does not
        # fit without a word, so most of these 450 requests (two batches) never get their ack.
        genl.sock.setsockopt(SOL_NETLINK, NETLINK_NO_ENOBUFS, 1)
        genl.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1)
        requests = [request] * 450
        assert [len(batch) for batch in netlink.batches(requests)] == [400, 50]
        started = time.monotonic()
        results = genl.execute(requests)
        assert time.monotonic() - started < 3
    answered = [result for result in results[:400] if result == (0, "")]
    unanswered = [result for result in results[:400] if result != (0, "")]
    assert answered and unanswered and len(answered) + len(unanswered) == 400
    text = (
        f"the kernel did not answer {len(unanswered)} of 400 requests within 0.3 s; whether they were applied "
        "is unknown, apply again to find out"
    )
    assert set(unanswered) == {(errno.ETIMEDOUT, text)}
    assert results[400:] == [None] * 50  # the second batch was never sent


def test_an_unanswered_operation_is_explained_in_operator_words():
    service = Service(ServiceKey.for_address("tcp", "10.10.0.100", 80), "rr")
    op = Operation("add-dest", service=service, dest=RealServer("10.20.0.11", 80))
    text = "the kernel did not answer 37 of 400 requests within 10 s; whether they were applied is unknown"
    assert explain(op, errno.ETIMEDOUT, text) == (
        f"no answer from the kernel for add-dest real server 10.20.0.11:80 in tcp 10.10.0.100:80: {text} (ETIMEDOUT)"
    )
    assert explain(op, errno.EBADMSG, "IPVS acknowledgements: message at byte 0 claims 9 bytes") == (
        "the kernel's answer for add-dest real server 10.20.0.11:80 in tcp 10.10.0.100:80 could not be read: "
        "IPVS acknowledgements: message at byte 0 claims 9 bytes (EBADMSG)"
    )


# -- what the console hears ----------------------------------------------------------------------------------
class KernelWithBrokenDumps(SimulatedKernel):
    """Reads its table through the real decoder from the messages a broken kernel wrote, until fixed."""

    broken = True

    def read(self, desired):
        if self.broken:
            message = dest_message(DESTS[1], skip=(DEST_ADDR,))
            read_dest(message)
        return super().read(desired)


def test_an_unreadable_kernel_answer_fails_the_apply_in_words_and_the_next_apply_works(tmp_path):
    control = generate_private_key()
    kernel, reports, now = KernelWithBrokenDumps(), [], 1_800_000_000.0
    handler = director_handler(tmp_path, kernel, control.public_key(), reports.append, clock=lambda: now)
    service = {"protocol": "tcp", "address": "10.10.0.100", "port": 80, "scheduler": "rr",
               "real_servers": [tun_dest("10.20.0.11")]}  # fmt: skip

    def apply(serial: int) -> dict:
        payload = {"kind": "apply", "host": "director1", "serial": serial, "deployment": serial,
                   "issued_at": now, "expires_at": now + 60,
                   "document": director_doc([service], revision=serial)}  # fmt: skip
        reports.clear()
        handler.handle(seal(payload, control, "control"))
        return reports[-1]

    kernel.broken = False
    assert apply(1)["status"] == "applied"
    kernel.broken = True
    heartbeat = handler.heartbeat()
    assert heartbeat["facts"]["drift"] is None  # never an empty drift, which would read "in sync"
    assert "real server message without an address" in heartbeat["facts"]["drift_error"]
    executed = len(kernel.executed)
    failed = apply(2)
    assert failed["status"] == "failed" and failed["operations"] == []
    assert failed["error"] == (
        "could not read the kernel's answer, nothing was changed: IPVS dump: real server message without an "
        "address (attribute DEST_ADDR) (this agent does not understand what this kernel sent; see "
        "`lvsweb-agent check`)"
    )
    assert len(kernel.executed) == executed  # nothing was attempted
    kernel.broken = False
    service["real_servers"].append(tun_dest("10.20.0.12"))
    applied = apply(3)
    assert applied["status"] == "applied" and [op["op"] for op in applied["operations"]] == ["add-dest"]
