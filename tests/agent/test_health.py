"""Health on the agent: the rise/fall state machine, the desired state it implies, and the document's checks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lvsweb_agent.agent import Agent
from lvsweb_agent.document import DocumentError, parse_document
from lvsweb_agent.fastcheck import conforms
from lvsweb_agent.health import DOWN, UNKNOWN, UP, Target, TargetState, adjust, lost_quorums, step
from lvsweb_agent.model import ServiceKey

from .simkernel import SimulatedKernel
from .test_fastcheck import ODD_VALUES, VALIDATOR, paths

EXAMPLES = Path(__file__).parent / "examples"
KEY = ServiceKey.for_address("tcp", "10.10.0.100", 80)


def run(results: list[bool], rise: int, fall: int) -> list[TargetState]:
    """The states after each result, from a fresh (unknown) start."""
    states, state = [], TargetState()
    for ok in results:
        state = step(state, ok, rise, fall)
        states.append(state)
    return states


limits = st.integers(min_value=1, max_value=6)
results = st.lists(st.booleans(), max_size=60)


@given(results, limits, limits)
def test_down_only_after_fall_failures_in_a_row(outcomes, rise, fall):
    states = run(outcomes, rise, fall)
    before = TargetState()
    for index, state in enumerate(states):
        if state.status == DOWN and before.status != DOWN:
            window = outcomes[max(0, index - fall + 1) : index + 1]
            assert len(window) == fall and not any(window)
        before = state


@given(results, limits, limits)
def test_back_up_only_after_rise_successes_in_a_row(outcomes, rise, fall):
    states = run(outcomes, rise, fall)
    for index in range(1, len(states)):
        if states[index - 1].status == DOWN and states[index].status == UP:
            window = outcomes[max(0, index - rise + 1) : index + 1]
            assert len(window) == rise and all(window)


@given(results, limits, limits)
def test_the_status_follows_a_long_enough_run(outcomes, rise, fall):
    states = run([*outcomes, *([False] * fall)], rise, fall)
    assert states[-1].status == DOWN
    states = run([*outcomes, *([True] * rise)], rise, fall)
    assert states[-1].status == UP


@given(st.lists(st.booleans(), max_size=5), st.integers(min_value=6, max_value=10), limits)
def test_a_restarted_agent_takes_nobody_out_before_fall_failures(outcomes, fall, rise):
    """Unknown (the state after a start) never becomes down with fewer than `fall` results."""
    assert all(state.status != DOWN for state in run(outcomes, rise, fall))
    assert run([], rise, fall) == [] and TargetState().status == UNKNOWN


def director(real_servers: list[dict], quorum: dict | None = None) -> dict:
    service = {"protocol": "tcp", "address": "10.10.0.100", "port": 80, "scheduler": "rr", "real_servers": real_servers}
    if quorum is not None:
        service["quorum"] = quorum
    return {"version": 1, "host": "director", "revision": 1, "director": {"services": [service]}}


def checked(address: str, weight: int = 1, on_failure: str = "weight0") -> dict:
    check = {"type": "tcp", "on_failure": on_failure}
    return {"address": address, "port": 80, "forward": "tun", "weight": weight, "health_check": check}


ADDRESSES = ["10.20.0.11", "10.20.0.12", "10.20.0.13", "10.20.0.14"]


@given(
    st.lists(st.sampled_from([UNKNOWN, UP, DOWN, None]), min_size=4, max_size=4),
    st.lists(st.sampled_from(["weight0", "remove"]), min_size=4, max_size=4),
    st.lists(st.integers(0, 3), min_size=4, max_size=4),
    st.one_of(st.none(), st.integers(1, 5)),
)
@settings(deadline=None)  # documents with checks go through jsonschema, slow on a loaded machine
def test_adjust_takes_out_exactly_the_down_servers_and_keeps_the_quorum(statuses, actions, weights, min_up):
    quorum = None
    if min_up is not None:
        quorum = {"min_up": min_up, "sorry_server": {"address": "10.10.0.21", "port": 80, "forward": "dr"}}
    desired = parse_document(
        director([checked(a, w, f) for a, w, f in zip(ADDRESSES, weights, actions, strict=True)], quorum)
    )
    seen = {Target(KEY, a, 80): s for a, s in zip(ADDRESSES, statuses, strict=True) if s is not None}
    result = {rs.address: rs.weight for rs in adjust(desired, seen).director.services[0].real_servers}
    healthy = [a for a, s, w in zip(ADDRESSES, statuses, weights, strict=True) if s != DOWN and w > 0]
    lost = min_up is not None and len(healthy) < min_up
    assert ("10.10.0.21" in result) == lost
    assert lost_quorums(desired, seen) == ([KEY] if lost else [])
    for address, status, action, weight in zip(ADDRESSES, statuses, actions, weights, strict=True):
        if status == DOWN and action == "remove":
            assert address not in result
        elif status == DOWN or lost:
            assert result[address] == 0
        else:
            assert result[address] == weight, "unknown and up servers keep their weight"


def test_an_agent_with_health_plans_weight_0_for_a_down_server(tmp_path):
    document = director([checked("10.20.0.11"), checked("10.20.0.12")])
    statuses = {Target(KEY, "10.20.0.12", 80): DOWN}

    class Seen:
        watched = None

        def watch(self, desired):
            self.watched = desired

        def adjust(self, desired):
            return adjust(desired, statuses)

    seen = Seen()
    agent = Agent(root=tmp_path, kernel=SimulatedKernel(), health=seen)
    plan = agent.plan(document)
    assert seen.watched is None, "a plan does not change what is checked"
    weights = {op.dest.address: op.dest.weight for op in plan.operations if op.kind == "add-dest"}
    assert weights == {"10.20.0.11": 1, "10.20.0.12": 0}
    agent.apply(document)
    assert [rs.address for rs in seen.watched.director.services[0].real_servers] == ["10.20.0.11", "10.20.0.12"]
    table = agent.show().services[KEY].real_servers
    assert {rs.address: rs.weight for rs in table} == {"10.20.0.11": 1, "10.20.0.12": 0}
    assert agent.plan(document).empty, "health is no drift"


def test_older_documents_stay_valid():
    for path in EXAMPLES.glob("*.json"):
        parse_document(json.loads(path.read_text()))


def test_a_document_check_is_parsed_with_its_defaults():
    rs = {"address": "10.20.0.11", "port": 80, "forward": "tun", "health_check": {"type": "http", "tunnel": True}}
    check = parse_document(director([rs])).director.services[0].real_servers[0].health
    assert (check.type, check.port, check.path, check.expect, check.interval, check.timeout) == (
        "http",
        80,
        "/",
        (200, 399),
        5.0,
        3.0,
    )
    assert (check.rise, check.fall, check.on_failure, check.tunnel) == (2, 3, "weight0", True)


@pytest.mark.parametrize(
    ("check", "path", "words"),
    [
        ({"type": "ping"}, "health_check.type", "is not one of"),
        ({"type": "tcp", "path": "/x"}, "health_check.path", "only to http and https"),
        ({"type": "http", "path": "no-slash"}, "health_check.path", "does not match"),
        ({"type": "http", "expect": [500, 200]}, "health_check.expect", "above the highest"),
        ({"type": "tcp", "interval": 1, "timeout": 2}, "health_check.timeout", "longer than the interval"),
        ({"type": "tcp", "rise": 0}, "health_check.rise", "less than the minimum"),
        ({"type": "tcp", "on_failure": "panic"}, "health_check.on_failure", "is not one of"),
    ],
)
def test_bad_checks_are_refused_with_their_path(check, path, words):
    rs = {"address": "10.20.0.11", "port": 80, "forward": "tun", "health_check": check}
    with pytest.raises(DocumentError) as caught:
        parse_document(director([rs]))
    assert any(where.endswith(path) and words in message for where, message in caught.value.problems), (
        caught.value.problems
    )


def test_a_tunnel_path_check_needs_a_tun_real_server_of_the_vips_family():
    rs = {"address": "10.20.0.11", "port": 80, "forward": "dr", "health_check": {"type": "tcp", "tunnel": True}}
    with pytest.raises(DocumentError, match="needs a real server in forward tun"):
        parse_document(director([rs]))
    mixed = {"address": "2001:db8::11", "port": 80, "forward": "tun", "health_check": {"type": "tcp", "tunnel": True}}
    with pytest.raises(DocumentError, match="in the VIP's address family"):
        parse_document(director([mixed]))
    for tunnel in ({"type": "gue", "port": 6080}, {"type": "gre", "checksum": "csum"}):
        gue = {**rs, "forward": "tun", "tunnel": tunnel}
        assert parse_document(director([gue])).director.services[0].real_servers[0].health.tunnel


def test_the_sorry_server_must_be_another_server():
    quorum = {"min_up": 1, "sorry_server": {"address": "10.20.0.11", "port": 80, "forward": "tun"}}
    with pytest.raises(DocumentError, match="the sorry server must be another one"):
        parse_document(director([checked("10.20.0.11")], quorum))


HEALTH_DOCUMENT = director(
    [
        {
            "address": "10.20.0.11",
            "port": 80,
            "forward": "tun",
            "health_check": {
                "type": "http",
                "port": 8080,
                "path": "/healthz",
                "host": "shop.example.net",
                "expect": [200, 299],
                "body": "ok",
                "interval": 2.5,
                "timeout": 1,
                "rise": 2,
                "fall": 3,
                "on_failure": "remove",
                "tunnel": True,
            },
        },
        checked("10.20.0.12"),
    ],
    {"min_up": 1, "sorry_server": {"address": "10.10.0.21", "port": 80, "forward": "dr"}},
)


@st.composite
def mutated_health_documents(draw):
    doc = json.loads(json.dumps(HEALTH_DOCUMENT))
    candidates = [p for p in paths(doc) if p]
    for _ in range(draw(st.integers(1, 3))):
        where = draw(st.sampled_from(candidates))
        parent = doc
        try:
            for key in where[:-1]:
                parent = parent[key]
            if isinstance(parent, dict) and draw(st.booleans()):
                parent.pop(where[-1], None)
            else:
                parent[where[-1]] = draw(
                    st.one_of(ODD_VALUES, st.sampled_from(["/a b", "/x\n", 0, 3601, 0.5, "remove"]))
                )
        except (KeyError, IndexError, TypeError):
            continue
    return doc


@settings(max_examples=300, deadline=None)
@given(mutated_health_documents())
def test_the_fast_check_never_accepts_a_health_check_the_schema_refuses(doc):
    if conforms(doc):
        assert not list(VALIDATOR.iter_errors(doc))


def test_the_fast_check_accepts_valid_health_checks():
    assert conforms(HEALTH_DOCUMENT)
    parse_document(HEALTH_DOCUMENT)
