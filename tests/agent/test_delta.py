"""Delta apply (agents/lvsweb_agent/delta.py): a change of a few services is applied without reading the
kernel, and whatever the two documents, the kernel ends matching the second. The kernel here is
SimulatedKernel; tests/lab/test_lab_delta.py runs the same against the real one."""

from __future__ import annotations

import copy
import errno
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lvsweb_agent.agent import Agent
from lvsweb_agent.delta import delta_is_valid, diff_documents
from lvsweb_agent.document import DocumentError, parse_document
from lvsweb_agent.ipvsadm import render_save
from lvsweb_agent.ledger import DOCUMENT_FILE
from lvsweb_agent.model import ServiceKey

from .simkernel import SimulatedKernel
from .test_properties import documents


class CountingKernel(SimulatedKernel):
    """Counts full reads of the table (a delta apply makes none)."""

    def __init__(self) -> None:
        super().__init__()
        self.reads = 0

    def read(self, desired):
        self.reads += 1
        return super().read(desired)


def without_nat(doc: dict) -> dict:
    """The document with its NAT real servers turned into DR ones (NAT ones decide sysctls: never a delta)."""
    doc = copy.deepcopy(doc)
    for service in doc["director"]["services"]:
        for dest in service["real_servers"]:
            if dest["forward"] == "nat":
                dest["forward"], dest["port"] = "dr", service.get("port", 0)
    return doc


@st.composite
def edited(draw, doc: dict) -> dict:
    """`doc` after a few edits a console makes: weights changed, real servers removed or added."""
    doc = copy.deepcopy(doc)
    doc["revision"] += 1
    for service in doc["director"]["services"]:
        dests = service["real_servers"]
        for dest in dests:
            if draw(st.integers(0, 3)) == 0:
                dest["weight"] = draw(st.integers(0, 5))
        if dests and draw(st.booleans()):
            del dests[draw(st.integers(0, len(dests) - 1))]
        if draw(st.booleans()) and not (":" in service.get("address", "") or service.get("family") == "ipv6"):
            taken = {dest["address"] for dest in dests}
            extra = next((f"10.40.0.{n}" for n in range(1, 9) if f"10.40.0.{n}" not in taken), None)
            if extra:
                dests.append({"address": extra, "port": service.get("port", 0), "forward": "tun", "weight": 2})
    return doc


SETTINGS = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def matches(sim: SimulatedKernel, doc: dict) -> bool:
    return render_save(sim.services.values()) == render_save(parse_document(doc).director.services)


@SETTINGS
@given(before=documents(), after=documents())
def test_for_any_two_documents_the_kernel_ends_matching_the_second(tmp_path_factory, before, after):
    before, after = without_nat(before), without_nat(after)
    after["revision"] = 2
    sim = CountingKernel()
    agent = Agent(root=tmp_path_factory.mktemp("root"), kernel=sim)
    assert agent.apply(before, now=0).ok
    reads = sim.reads
    result = agent.apply(after, now=1)
    assert result.ok, result.error
    if agent.last_mode == "delta":
        assert sim.reads == reads  # the delta never read the table
    assert matches(sim, after)
    assert agent.plan(after, now=2).empty


@SETTINGS
@given(data=st.data(), before=documents())
def test_a_few_edits_go_as_a_delta_and_leave_the_kernel_matching(tmp_path_factory, data, before):
    before = without_nat(before)
    after = data.draw(edited(before))
    sim = CountingKernel()
    root = tmp_path_factory.mktemp("root")
    agent = Agent(root=root, kernel=sim)
    assert agent.apply(before, now=0).ok
    reads = sim.reads
    result = agent.apply(after, now=1)
    assert result.ok, result.error
    assert matches(sim, after)
    if diff_documents(before, after).changed:
        assert agent.last_mode == "delta" and sim.reads == reads
    # The stored document is the new one, byte for byte (a delta splices the changed services' text in).
    canonical = json.dumps(after, sort_keys=True, separators=(",", ":"))
    assert (root / DOCUMENT_FILE).read_text() == canonical
    again = data.draw(edited(after))
    assert agent.apply(again, now=1.5).ok
    assert (root / DOCUMENT_FILE).read_text() == json.dumps(again, sort_keys=True, separators=(",", ":"))
    assert matches(sim, again)
    # The parsed document the agent keeps for reconcile() is the new one: a reconcile finds nothing to do.
    assert agent.reconcile(now=2).plan.empty


@SETTINGS
@given(data=st.data(), before=documents())
def test_a_table_changed_behind_the_agents_back_still_ends_matching(tmp_path_factory, data, before):
    """A delta over a table someone else changed: refused and redone in full, or (drift in services the
    delta did not touch) left to the reconcile, which repairs it."""
    before = without_nat(before)
    after = data.draw(edited(before))
    sim = SimulatedKernel()
    agent = Agent(root=tmp_path_factory.mktemp("root"), kernel=sim)
    assert agent.apply(before, now=0).ok
    keys = sorted(sim.services)
    if keys:  # someone deletes a real server or a whole service with ipvsadm
        key = data.draw(st.sampled_from(keys))
        service = sim.services[key]
        if service.real_servers and data.draw(st.booleans()):
            gone = data.draw(st.sampled_from(service.real_servers))
            sim.services[key] = type(service)(**{**service.__dict__, "real_servers": tuple(
                dest for dest in service.real_servers if dest.key != gone.key)})  # fmt: skip
        else:
            del sim.services[key]
    result = agent.apply(after, now=1)
    assert result.ok, result.error
    if agent.last_mode == "delta+full":
        assert "read the kernel and planned in full" in result.plan.notes[0]
        assert matches(sim, after)
    agent.reconcile(now=2)
    assert matches(sim, after)


def weighted(doc: dict, weight: int, revision: int) -> dict:
    doc = copy.deepcopy(doc)
    doc["revision"] = revision
    doc["director"]["services"][1]["real_servers"][0]["weight"] = weight
    return doc


def big_document(services: int = 50) -> dict:
    return {
        "version": 1,
        "host": "director1",
        "revision": 1,
        "director": {
            "owns_ipvs_table": False,
            "drain_timeout": 0,
            "services": [
                {
                    "protocol": "tcp",
                    "address": f"10.100.0.{i + 1}",
                    "port": 80,
                    "scheduler": "wlc",
                    "real_servers": [
                        {"address": f"10.20.{j}.{i + 1}", "port": 80, "weight": 1, "forward": "tun"} for j in range(3)
                    ],
                }
                for i in range(services)
            ],
        },
    }


def test_one_weight_change_is_one_request_without_reading_the_kernel(tmp_path):
    sim = CountingKernel()
    agent = Agent(root=tmp_path, kernel=sim)
    doc = big_document()
    assert agent.apply(doc, now=0).ok
    reads, executed = sim.reads, len(sim.executed)
    result = agent.apply(weighted(doc, 7, 2), now=1)
    assert result.ok and agent.last_mode == "delta" and sim.reads == reads
    assert [str(op) for op in result.applied] == [
        "edit-dest tcp 10.100.0.2:80 -> 10.20.0.2:80 tun ipip weight 7  (weight 1 -> 7)"
    ]
    assert len(sim.executed) == executed + 1
    # The report keeps its format and its state: a later process (a fresh Agent) sees the new document.
    assert result.to_json()["applied"][0]["op"] == "edit-dest"
    fresh = Agent(root=tmp_path, kernel=sim)
    assert fresh.last_document()["revision"] == 2 and fresh.plan(weighted(doc, 7, 2), now=2).empty
    # ...and can apply the next change as a delta too (from the stored document).
    assert fresh.apply(weighted(doc, 3, 3), now=3).ok and fresh.last_mode == "delta"
    assert sim.services[ServiceKey.for_address("tcp", "10.100.0.2", 80)].real_servers[0].weight == 3


def test_a_refused_delta_is_redone_in_full_and_the_report_says_what_happened(tmp_path):
    sim = CountingKernel()
    agent = Agent(root=tmp_path, kernel=sim)
    doc = big_document()
    assert agent.apply(doc, now=0).ok
    key = ServiceKey.for_address("tcp", "10.100.0.2", 80)
    service = sim.services[key]
    # Behind the agent's back: `ipvsadm -d` of the real server the next document re-weights.
    sim.services[key] = type(service)(**{**service.__dict__, "real_servers": service.real_servers[1:]})
    result = agent.apply(weighted(doc, 7, 2), now=1)
    assert result.ok and agent.last_mode == "delta+full"
    note = result.plan.notes[0]
    assert note.startswith("the kernel's table no longer matched the last applied document (the kernel refused")
    assert "no such real server in service tcp 10.100.0.2:80" in note
    assert note.endswith("read the kernel and planned in full")
    assert [op.kind for op in result.plan.operations] == ["edit-dest", "add-dest"]  # the delta's, the full plan's
    assert [op.kind for op in result.applied] == ["add-dest"]  # what was done: the full plan's add
    assert sim.services[key].real_servers[-1].weight == 7 and matches(sim, weighted(doc, 7, 2))
    # The next small change goes as a delta again.
    assert agent.apply(weighted(doc, 2, 3), now=2).ok and agent.last_mode == "delta"


def test_what_a_delta_cannot_decide_goes_the_full_way(tmp_path):
    sim = CountingKernel()
    agent = Agent(root=tmp_path, kernel=sim)
    doc = big_document()
    assert agent.apply(doc, now=0).ok
    # The same services again (an "apply again" repairs drift): full.
    again = copy.deepcopy(doc)
    again["revision"] = 2
    assert agent.apply(again, now=1).ok and agent.last_mode == "full"
    # A service added: its key is checked against all the others.
    added = copy.deepcopy(again)
    added["revision"] = 3
    added["director"]["services"].append({**copy.deepcopy(doc["director"]["services"][0]), "address": "10.100.9.9"})
    assert agent.apply(added, now=2).ok and agent.last_mode == "full"
    # A real server leaving with a drain: the drain needs the kernel's connection counts.
    draining = copy.deepcopy(added)
    draining["revision"], draining["director"]["drain_timeout"] = 4, 300
    assert agent.apply(draining, now=3).ok and agent.last_mode == "full"
    draining = copy.deepcopy(draining)
    draining["revision"] = 5
    del draining["director"]["services"][0]["real_servers"][0]
    result = agent.apply(draining, now=4)
    assert result.ok and agent.last_mode == "full" and [op.kind for op in result.applied] == ["drain-dest"]


def test_a_bad_change_is_refused_with_the_full_documents_words(tmp_path):
    agent = Agent(root=tmp_path, kernel=SimulatedKernel())
    doc = big_document()
    assert agent.apply(doc, now=0).ok
    bad = weighted(doc, 7, 2)
    bad["director"]["services"][1]["real_servers"][0]["weight"] = -1
    assert not delta_is_valid(doc, bad)
    with pytest.raises(DocumentError) as caught:
        agent.apply(bad, now=1)
    assert caught.value.problems[0][0] == "$.director.services[1].real_servers[0].weight"
    duplicate = weighted(doc, 7, 2)
    duplicate["director"]["services"][1]["real_servers"].append(dict(doc["director"]["services"][1]["real_servers"][0]))
    assert not delta_is_valid(doc, duplicate)
    with pytest.raises(DocumentError, match=r"duplicate real server 10\.20\.0\.2:80"):
        agent.apply(duplicate, now=1)
    assert delta_is_valid(doc, weighted(doc, 7, 2))


def test_a_kernel_error_that_is_no_mismatch_is_reported_and_the_next_apply_is_full(tmp_path):
    sim = SimulatedKernel(unroutable=frozenset({"192.0.2.9"}))
    agent = Agent(root=tmp_path, kernel=sim)
    doc = big_document()
    assert agent.apply(doc, now=0).ok
    bad = weighted(doc, 1, 2)
    bad["director"]["services"][1]["real_servers"].append({"address": "192.0.2.9", "port": 80, "forward": "tun"})
    result = agent.apply(bad, now=1)
    assert not result.ok and result.errno == errno.EINVAL and agent.last_mode == "delta"
    assert "192.0.2.9" in result.error
    assert not agent.ledger().complete
    good = weighted(doc, 4, 3)
    assert agent.apply(good, now=2).ok and agent.last_mode == "full" and matches(sim, good)


# -- the ownership records a delta writes ------------------------------------------------------------------
_KEYS = [ServiceKey.for_address("tcp", f"10.10.0.{i}", 80) for i in (1, 2)]
_RECORD_OPS = st.lists(
    st.tuples(
        st.sampled_from(["add-dest", "edit-dest", "del-dest", "drain-dest", "add-service", "del-service"]),
        st.sampled_from(_KEYS),
        st.sampled_from(["10.20.0.1", "10.20.0.2", "10.20.0.3"]),
    ),
    max_size=30,
)


@settings(max_examples=200, deadline=None)
@given(ops=_RECORD_OPS)
def test_the_state_files_records_stay_those_of_the_ledger_as_real_servers_come_and_go(ops):
    """A real server added or deleted updates the formatted records in place (a delta on a large table
    must not format them all again): they are always what formatting the ledger afresh gives."""
    from lvsweb_agent.ledger import Ledger
    from lvsweb_agent.model import RealServer, Service
    from lvsweb_agent.planner import Operation

    def normal(data):
        owned = data["owned"]
        return {**data, "owned": {**owned, "real_servers": {k: sorted(v) for k, v in owned["real_servers"].items()}}}

    ledger = Ledger()
    for kind, key, address in ops:
        ledger.to_json()  # the caches are there when the operation is recorded
        ledger.to_text()
        service, dest = Service(key), RealServer(address, 80)
        ledger.record(
            Operation(kind, None, None, "", service, None if kind.endswith("service") else dest, deadline=9.0)
        )
        fresh = Ledger(**{name: getattr(ledger, name) for name in ("revision", "services", "dests", "addresses")})
        fresh.draining_services, fresh.draining_dests = ledger.draining_services, ledger.draining_dests
        assert normal(ledger.to_json()) == normal(fresh.to_json())
        # The state file's text (its records' part kept while they are unchanged) is the records of now.
        assert normal(json.loads(ledger.to_text())) == normal(fresh.to_json())
        assert ledger.to_text() == json.dumps(ledger.to_json(), separators=(",", ":"))


def _matched_by_key(old: dict, new: dict):
    """What diff_documents answers, the obvious way: every service matched by its key (the way it was before
    services found in place were compared without their keys). None: duplicates, or not a list of dicts."""
    old_services, new_services = old["director"]["services"], new["director"]["services"]
    by_key = {_key(service): index for index, service in enumerate(old_services)}
    if len(by_key) != len(old_services):
        return None
    changed, old_changed, unchanged_from, seen = [], [], [], set()
    for index, service in enumerate(new_services):
        key = _key(service)
        if key in seen:
            return None
        seen.add(key)
        old_index = by_key.get(key)
        if old_index is not None and old_services[old_index] == service:
            unchanged_from.append(old_index)
            continue
        unchanged_from.append(None)
        changed.append((index, service))
        if old_index is not None:
            old_changed.append((old_index, old_services[old_index]))
    removed = by_key.keys() - seen
    old_changed += [(by_key[key], old_services[by_key[key]]) for key in removed]
    return changed, sorted(old_changed, key=lambda pair: pair[0]), removed, unchanged_from


def _key(service: dict) -> tuple:
    return tuple(service.get(name) for name in ("fwmark", "family", "protocol", "address", "port"))


@given(data=st.data(), before=documents())
def test_services_compared_in_place_give_what_matching_every_key_gives(data, before):
    """Services found unchanged in place are not matched by key; the delta is the same as matching them all,
    whatever the edits, moves, additions, removals and duplicates."""
    before = without_nat(before)
    after = data.draw(edited(before))
    services = after["director"]["services"]
    if services and data.draw(st.booleans()):  # moved: the same services in another order
        order = data.draw(st.permutations(range(len(services))))
        after["director"]["services"] = [services[index] for index in order]
    if services and data.draw(st.booleans()):  # a duplicate of a service, unchanged or changed
        after["director"]["services"].append(copy.deepcopy(data.draw(st.sampled_from(services))))
    delta = diff_documents(before, after)
    expected = _matched_by_key(before, after)
    if expected is None:
        assert delta is None
        return
    assert delta is not None
    changed, old_changed, removed, unchanged_from = expected
    assert delta.changed == changed
    assert sorted(delta.old, key=lambda pair: pair[0]) == old_changed
    assert delta.removed == removed
    assert delta.unchanged_from == unchanged_from
