"""The no-op reconcile's shortcut (netlink.DestMatcher): real servers whose configuration bytes are what the
document wants are not decoded, and every change in the kernel is still found and planned.

The messages are built byte for byte as the kernel writes them (test_netlink_decode.py's helpers); the
planner is the real one, fed what the matcher read.
"""

from __future__ import annotations

import socket
from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st
from lvsweb_agent import netlink
from lvsweb_agent.ledger import Ledger
from lvsweb_agent.model import ActualState, DesiredState, Director, RealServer, Service, ServiceKey, Tunnel
from lvsweb_agent.netlink import NetlinkDecodeError, decode_dest
from lvsweb_agent.planner import ipvs_plan

from .test_netlink_decode import PROPERTIES, V4, V6, dest_message, mutated

WANTED = (
    RealServer("10.20.0.11", 80, 1, "tun", Tunnel("gue", 6080, "remcsum"), 7, 3),
    RealServer("10.20.0.12", 80, 1, "tun"),
    RealServer("10.1.2.3", 8080, 0, "nat", None, 1, 0),
    RealServer("10.1.2.4", 80, 2, "dr", None, 0, 0),
)
SERVICE = Service(ServiceKey.for_address("tcp", "10.10.0.100", 80), "wlc", real_servers=WANTED)
V6_WANTED = (RealServer("2001:db8::5", 443, 9, "tun", Tunnel(), 0, 0), RealServer("2001:db8::6", 443, 1, "dr"))
V6_SERVICE = Service(ServiceKey.for_address("tcp", "2001:db8::1", 443), "wlc", real_servers=V6_WANTED)


def learn_layout() -> None:
    """The kernel's layout, learned from one real server message as `decode_dest` learns it in a dump."""
    netlink._layouts.clear()
    first = dest_message(WANTED[1])
    decode_dest(first, 0, len(first), V4)


@pytest.fixture(autouse=True)
def learned_layout():
    learn_layout()
    yield
    netlink._layouts.clear()


def matcher() -> netlink.DestMatcher:
    found = netlink.dest_matcher()
    assert found is not None and found.usable
    return found


def expected(service: Service, family: int = V4) -> dict[bytes, RealServer]:
    keys = {matcher().key(dest, family): dest for dest in service.real_servers}
    assert None not in keys
    return keys  # type: ignore[return-value]


def dump(*dests: RealServer, family: int = V4) -> list[tuple[bytes, int, int]]:
    messages = [dest_message(dest, family) for dest in dests]
    return [(message, 0, len(message)) for message in messages]


def planned(service: Service, kernel: list[RealServer]) -> list[tuple[str, str]]:
    """The operations the planner makes of what the matcher read."""
    desired = DesiredState(
        host="h", revision=1, director=Director(owns_ipvs_table=True, drain_timeout=0, services=(service,))
    )
    actual = ActualState(ipvs_loaded=True, services={service.key: replace(service, real_servers=tuple(kernel))})
    plan = ipvs_plan(desired, actual, Ledger(), 0.0)
    return [(op.kind, op.reason) for op in plan.operations]


@pytest.mark.parametrize(("service", "family"), [(SERVICE, V4), (V6_SERVICE, V6)], ids=["ipv4", "ipv6"])
def test_real_servers_configured_as_wanted_are_the_wanted_objects_and_nothing_is_planned(service, family):
    found, matched = matcher().split(dump(*service.real_servers, family=family), expected(service, family), family)
    assert matched == len(service.real_servers)
    assert all(have is want for have, want in zip(found, service.real_servers, strict=True))
    assert planned(service, found) == []


CHANGES = {
    "weight": (replace(WANTED[1], weight=5), "edit-dest", "weight 5 -> 1"),
    "forwarding": (replace(WANTED[1], forward="dr", tunnel=None), "edit-dest", "forward dr -> tun"),
    "tunnel type": (
        replace(WANTED[0], tunnel=Tunnel("gre", 0, "remcsum")),
        "edit-dest",
        "tunnel gre checksum remcsum -> gue port 6080",
    ),
    "tunnel port": (
        replace(WANTED[0], tunnel=Tunnel("gue", 6081, "remcsum")),
        "edit-dest",
        "tunnel gue port 6081 checksum remcsum -> gue port 6080",
    ),
    "tunnel checksum": (replace(WANTED[0], tunnel=Tunnel("gue", 6080, "csum")), "edit-dest", "checksum csum -> gue"),
    "upper threshold": (replace(WANTED[2], upper_threshold=9), "edit-dest", "upper threshold 9 -> 1"),
    "lower threshold": (replace(WANTED[3], lower_threshold=4), "edit-dest", "lower threshold 4 -> 0"),
}


@pytest.mark.parametrize("change", CHANGES, ids=str)
def test_a_real_server_changed_in_the_kernel_is_decoded_and_planned(change):
    drifted, kind, reason = CHANGES[change]
    kernel = [drifted if dest.key == drifted.key else dest for dest in WANTED]
    found, matched = matcher().split(dump(*kernel), expected(SERVICE), V4)
    assert matched == len(WANTED) - 1
    index = next(i for i, dest in enumerate(WANTED) if dest.key == drifted.key)
    assert found[index] is not WANTED[index] and found[index].counters is not None  # decoded
    assert [have.settings() for have in found] == [dest.settings() for dest in kernel]
    ops = planned(SERVICE, found)
    assert [op for op, _ in ops] == [kind] and reason in ops[0][1]


def test_a_real_server_on_another_port_or_address_is_added_and_the_old_one_removed():
    moved = replace(WANTED[3], port=81)
    found, matched = matcher().split(dump(*WANTED[:3], moved), expected(SERVICE), V4)
    assert matched == 3 and found[3] == moved
    assert [op for op, _ in planned(SERVICE, found)] == ["add-dest", "del-dest"]
    # The same address bytes in another family are another real server: 10.20.0.11 is not a14:b::.
    v6_twin = RealServer("a14:b::", 80, 1, "tun", Tunnel("gue", 6080, "remcsum"), 7, 3)
    assert socket.inet_pton(socket.AF_INET6, v6_twin.address)[:4] == socket.inet_aton(WANTED[0].address)
    twin_service = replace(SERVICE, real_servers=(v6_twin,))
    found, matched = matcher().split(dump(WANTED[0]), expected(twin_service), V4)
    assert matched == 0 and found == [WANTED[0]]


def test_a_real_server_missing_or_extra_in_the_kernel_is_planned():
    found, matched = matcher().split(dump(*WANTED[:2]), expected(SERVICE), V4)
    assert matched == 2
    assert [op for op, _ in planned(SERVICE, found)] == ["add-dest", "add-dest"]
    extra = RealServer("10.9.9.9", 80, forward="dr")
    found, matched = matcher().split(dump(*WANTED, extra), expected(SERVICE), V4)
    assert matched == 4 and found[-1] == extra and found[-1].counters is not None
    assert [op for op, _ in planned(SERVICE, found)] == ["del-dest"]


def test_the_same_real_server_twice_in_a_dump_matches_once():
    found, matched = matcher().split(dump(WANTED[0], WANTED[0]), expected(SERVICE), V4)
    assert matched == 1 and found[0] is WANTED[0] and found[1] is not WANTED[0] and found[1] == WANTED[0]


def test_a_real_server_whose_text_is_not_the_kernels_is_never_matched():
    """The planner compares addresses as text: one the kernel prints otherwise must not match."""
    assert matcher().key(RealServer("2001:DB8::5", 443, 9, "tun"), V6) is None
    assert matcher().key(RealServer("10.1.2.3", 8080, -1, "nat"), V4) is None  # not a kernel weight


@PROPERTIES
@given(data=st.data(), which=st.sampled_from(range(len(WANTED))))
def test_a_matched_message_decodes_to_the_wanted_real_server(data, which):
    """Whatever bytes of a message change, the matcher takes it for the wanted real server only when the
    careful decoder reads the same address, port and configuration (or cannot read it at all)."""
    learn_layout()  # each example: the one before may have cleared it (the fixture runs once for them all)
    want = WANTED[which]
    message = mutated(dest_message(want), data)
    replies = [(message, 0, len(message))]
    try:
        found, matched = matcher().split(replies, expected(SERVICE), V4)
    except NetlinkDecodeError:
        return
    if not matched:
        return
    assert found[0] is want
    netlink._layouts.clear()
    try:
        careful = decode_dest(message, 0, len(message), V4)
    except NetlinkDecodeError:
        return
    assert careful.key == want.key and careful.settings() == want.settings()


def test_a_service_read_again_is_decoded_only_when_its_bytes_before_the_counters_changed():
    from .test_netlink_decode import SERVICES, service_message

    reader = netlink.ServiceReader()
    messages = [service_message(service) for service in SERVICES]
    first = reader.read([(message, 0, len(message)) for message in messages])
    assert [service.settings() for service in first] == [service.settings() for service in SERVICES]
    again = reader.read([(message, 0, len(message)) for message in messages])
    assert all(a is b for a, b in zip(again, first, strict=True))
    changed = replace(SERVICES[0], scheduler="wrr")  # the same length: "wlc" / "wrr"
    edited = service_message(changed)
    assert len(edited) == len(messages[0])
    read = reader.read([(edited, 0, len(edited))])
    assert read[0] is not first[0] and read[0].scheduler == "wrr" and read[0].key == SERVICES[0].key
    latest = reader.read([(message, 0, len(message)) for message in messages])
    # Other counters, same configuration: the same service (the last read's services are remembered).
    recounted = bytearray(messages[0])
    recounted[-8:] = b"\xff" * 8
    assert reader.read([(bytes(recounted), 0, len(recounted))])[0] is latest[0]
