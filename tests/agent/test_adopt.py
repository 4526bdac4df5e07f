"""Adopting a live host (lvsweb_agent.adopt): read, check, propose; then the first apply changes nothing in the
kernel and the ledger owns what was adopted. The kernel here is SimulatedKernel; tests/lab/test_lab_adopt.py
runs the same steps on a real one, with traffic."""

from __future__ import annotations

import copy
import json

import pytest
from hypothesis import given
from lvsweb_agent.adopt import (
    MAX_SERVICES,
    ReadingError,
    ReadingTooLarge,
    parse_reading,
    propose_document,
    read_host,
)
from lvsweb_agent.agent import Agent
from lvsweb_agent.model import Address, RealServer, Service, ServiceKey
from lvsweb_agent.planner import IPVS_KINDS

from .simkernel import SimulatedKernel
from .test_properties import SETTINGS, documents

KERNEL_KINDS = IPVS_KINDS | {"add-address", "del-address", "set-sysctl", "load-module", "link-up"}


def hand_configured(tmp_path, document: dict) -> SimulatedKernel:
    """A kernel configured by someone else: `document` applied by another agent whose ledger is then lost."""
    kernel = SimulatedKernel()
    kernel.read_sysctl = kernel.sysctls.get  # what LinuxKernel reads from /proc/sys
    document = copy.deepcopy(document)
    addresses = {service["address"] for service in document["director"]["services"] if "address" in service}
    document["director"]["vips"] = [{"address": address, "interface": "eth0"} for address in sorted(addresses)]
    with Agent(root=tmp_path / "by-hand", kernel=kernel) as agent:
        assert agent.apply(document).ok
    return kernel


def adopt(tmp_path, kernel: SimulatedKernel, **options) -> tuple[Agent, dict]:
    """Read the kernel, send the reading through JSON (as the broker does), check it, propose, apply."""
    agent = Agent(root=tmp_path / "adopting", kernel=kernel)
    reading = parse_reading(json.loads(json.dumps(read_host(agent))))
    document = propose_document(reading, host="director1", revision=1, drain_timeout=0, **options)
    return agent, document


@SETTINGS
@given(doc=documents())
def test_the_adopting_apply_changes_nothing_in_the_kernel_and_the_ledger_owns_it_all(tmp_path_factory, doc):
    tmp_path = tmp_path_factory.mktemp("adopt")
    kernel = hand_configured(tmp_path, doc)
    before = dict(kernel.services)
    agent, document = adopt(tmp_path, kernel)
    result = agent.apply(document)
    assert result.ok
    assert [str(op) for op in result.plan.operations if op.kind in KERNEL_KINDS] == []
    assert kernel.services == before
    assert agent.plan(document).empty
    assert agent.ledger().services == set(before)
    assert agent.ledger().dests == {(key, *dest.key) for key, s in before.items() for dest in s.real_servers}


def test_after_adopting_a_removal_removes_and_what_was_left_out_stays(tmp_path):
    kept = {"protocol": "tcp", "address": "10.10.0.100", "port": 80, "scheduler": "rr", "real_servers": []}
    other = {**kept, "port": 8080}
    for service in (kept, other):
        service["real_servers"] = [
            {"address": a, "port": service["port"], "forward": "tun", "weight": 1} for a in ("10.20.0.11", "10.20.0.12")
        ]
    doc = {"version": 1, "host": "director1", "revision": 1, "director": {"services": [kept, other], "vips": []}}
    kernel = hand_configured(tmp_path, doc)
    agent, document = adopt(tmp_path, kernel, exclude=frozenset({"tcp 10.10.0.100:8080"}))
    assert [s["port"] for s in document["director"]["services"]] == [80]
    assert document["director"]["vips"] == [{"address": "10.10.0.100", "prefix": 32, "interface": "eth0"}]
    assert agent.apply(document).ok
    # One weight changed: one edit, nothing else.
    changed = copy.deepcopy(document)
    changed["revision"] = 2
    changed["director"]["services"][0]["real_servers"][0]["weight"] = 5
    result = agent.apply(changed)
    assert [op.kind for op in result.plan.operations] == ["edit-dest"]
    # The adopted real server removed in the console: removed from the kernel; the service left out stays.
    removed = copy.deepcopy(changed)
    removed["revision"] = 3
    del removed["director"]["services"][0]["real_servers"][1]
    result = agent.apply(removed)
    assert [op.kind for op in result.plan.operations] == ["del-dest"]
    assert any("left alone: tcp 10.10.0.100:8080" in note for note in result.plan.notes)
    assert ServiceKey.for_address("tcp", "10.10.0.100", 8080) in kernel.services


def test_a_real_server_gets_its_recipe_from_the_vips_on_tunl0_and_lo(tmp_path):
    kernel = SimulatedKernel()
    kernel.addresses = [
        Address("eth0", "10.20.0.11", 24),
        Address("tunl0", "10.10.0.100", 32),
        Address("lo", "127.0.0.1", 8),
        Address("lo", "10.10.0.101", 32),
    ]
    agent = Agent(root=tmp_path, kernel=kernel)
    reading = parse_reading(read_host(agent))
    document = propose_document(reading, host="rs1", revision=1)
    assert document["director"] is None
    assert document["real_server"] == {
        "tun": {"vips": ["10.10.0.100"], "uplinks": ["eth0"]},
        "dr": {"vips": ["10.10.0.101"], "uplinks": ["eth0"]},
    }


def test_a_directors_own_vip_on_lo_is_no_real_server_recipe(tmp_path):
    doc = {"version": 1, "host": "d", "revision": 1, "director": {"services": [
        {"protocol": "tcp", "address": "10.10.0.100", "port": 80, "scheduler": "rr", "real_servers": []}
    ]}}  # fmt: skip
    kernel = hand_configured(tmp_path, doc)
    kernel.addresses = [Address("lo", "10.10.0.100", 32)]
    kernel.files.clear()  # no lvsweb-agent ever ran there
    agent, document = adopt(tmp_path, kernel)
    assert document["real_server"] is None
    assert document["director"]["vips"] == [{"address": "10.10.0.100", "prefix": 32, "interface": "lo"}]
    assert [op.kind for op in agent.apply(document).plan.operations] == ["write-file"]


def test_a_table_above_the_limits_is_not_read(tmp_path):
    kernel = SimulatedKernel()
    for port in range(MAX_SERVICES + 1):
        key = ServiceKey.for_address("tcp", "10.10.0.100", port + 1)
        kernel.services[key] = Service(key=key, real_servers=(RealServer("10.20.0.11", port + 1),))
    with pytest.raises(ReadingTooLarge, match="2001 services"):
        read_host(Agent(root=tmp_path, kernel=kernel))


GOOD = {"format": 1, "services": [], "links": [], "addresses": [], "sysctls": {}, "files": {}}


@pytest.mark.parametrize(
    ("junk", "message"),
    [
        ([], "must be an object, not list"),
        ({**GOOD, "format": 9}, "unknown reading format 9"),
        ({**GOOD, "services": "x"}, "services: must be a list"),
        ({**GOOD, "services": [{"protocol": "tcp"}] * (MAX_SERVICES + 1)}, "more than the 2000"),
        ({**GOOD, "services": [{"protocol": "tcp", "address": "10.0.0.1", "port": 99999}]}, "services[0]"),
        ({**GOOD, "links": [{"name": "a b", "up": True}]}, "links[0]: needs a name"),
        ({**GOOD, "addresses": [{"interface": "eth0", "address": "10.0.0.1", "prefix": 33}]}, "addresses[0]"),
        ({**GOOD, "sysctls": {"kernel.panic": "1"}}, "'kernel.panic' is not a network sysctl"),
        ({**GOOD, "files": {"/etc/passwd": "x"}}, "'/etc/passwd' is not one of"),
    ],
)
def test_junk_readings_are_refused_saying_what_is_wrong(junk, message):
    with pytest.raises(ReadingError) as caught:
        parse_reading(junk)
    assert message in str(caught.value)


def test_the_read_command_answers_with_a_reading_and_changes_nothing(tmp_path):
    from .test_broker_commands import Host

    host = Host(
        tmp_path,
        kernel=hand_configured(
            tmp_path,
            {
                "version": 1,
                "host": "d",
                "revision": 1,
                "director": {
                    "services": [
                        {"protocol": "tcp", "address": "10.10.0.100", "port": 80, "scheduler": "rr", "real_servers": []}
                    ]
                },
            },
        ),
    )
    [report] = host.command(kind="read", deployment=None, document=None, reading=7)
    assert report["kind"] == "reading" and report["reading"] == 7 and report["error"] == ""
    assert [s["port"] for s in parse_reading(report["table"]).service_documents] == [80]
    assert host.handler.applied_serial() is None
