"""The planner decides what the operator sees in `apply --dry-run` and what the kernel is asked to do."""

from __future__ import annotations

from lvsweb_agent.agent import Agent
from lvsweb_agent.document import parse_document
from lvsweb_agent.ledger import Ledger
from lvsweb_agent.model import ServiceKey
from lvsweb_agent.planner import plan

from .docs import changed, director_doc, example, tun_dest, web_service
from .simkernel import SimulatedKernel

WEB = ServiceKey.for_address("tcp", "10.10.0.100", 80)
NOW = 1_800_000_000.0


def agent_with(tmp_path, **kernel) -> tuple[Agent, SimulatedKernel]:
    sim = SimulatedKernel(**kernel)
    return Agent(root=tmp_path, kernel=sim), sim


def lines(plan_) -> list[str]:
    return [str(op) for op in plan_.operations]


def test_first_apply_plans_services_before_their_real_servers_with_reasons(tmp_path):
    agent, _ = agent_with(tmp_path)
    planned = lines(agent.plan(example("tun-director"), now=NOW))
    assert planned == [
        "add-address 10.10.0.100/32 on eth0  (the director must hold the VIP; not there yet)",
        "add-service tcp 10.10.0.100:80 sched rr  (not in the kernel)",
        "add-service fwmark 5 sched wlc persistent 300s mask 255.255.255.255  (not in the kernel)",
        "add-dest tcp 10.10.0.100:80 -> 10.20.0.11:80 tun ipip weight 1  (not in the kernel)",
        "add-dest tcp 10.10.0.100:80 -> 10.20.0.12:80 tun ipip weight 1  (not in the kernel)",
        "write-file etc/modules-load.d/lvsweb.conf  (keeps the settings across a reboot; missing)",
    ]


def test_applying_the_same_document_twice_does_nothing_the_second_time(tmp_path):
    agent, _sim = agent_with(tmp_path)
    assert agent.apply(example("tun-director"), now=NOW).ok
    second = agent.plan(example("tun-director"), now=NOW + 1)
    assert second.empty
    assert str(second) == "nothing to do: the kernel matches the document"


def test_a_weight_change_is_one_edit_never_delete_and_add(tmp_path):
    agent, _sim = agent_with(tmp_path)
    doc = example("tun-director")
    agent.apply(doc, now=NOW)
    heavier = changed(doc, lambda d: d["director"]["services"][0]["real_servers"][0].update(weight=5))
    assert lines(agent.plan(heavier, now=NOW)) == [
        "edit-dest tcp 10.10.0.100:80 -> 10.20.0.11:80 tun ipip weight 5  (weight 1 -> 5)"
    ]


def test_scheduler_and_persistence_changes_edit_the_service_in_place(tmp_path):
    agent, _sim = agent_with(tmp_path)
    doc = example("tun-director")
    agent.apply(doc, now=NOW)
    sticky = changed(
        doc,
        lambda d: d["director"]["services"][0].update(scheduler="sh", flags=["sh-port"], persistence={"timeout": 60}),
    )
    assert lines(agent.plan(sticky, now=NOW)) == [
        "edit-service tcp 10.10.0.100:80 sched sh flags sh-port persistent 60s mask 255.255.255.255  "
        "(scheduler rr -> sh, flags none -> sh-port, persistence none -> 60s mask 255.255.255.255)"
    ]


def test_a_forwarding_change_is_an_edit_too(tmp_path):
    agent, _sim = agent_with(tmp_path)
    doc = example("tun-director")
    agent.apply(doc, now=NOW)
    gue = changed(
        doc,
        lambda d: d["director"]["services"][0]["real_servers"][1].update(
            tunnel={"type": "gue", "port": 6080, "checksum": "csum"}
        ),
    )
    assert lines(agent.plan(gue, now=NOW)) == [
        "edit-dest tcp 10.10.0.100:80 -> 10.20.0.12:80 tun gue port 6080 checksum csum weight 1  "
        "(tunnel ipip -> gue port 6080 checksum csum)"
    ]


def without_rs2(doc: dict) -> dict:
    return changed(doc, lambda d: d["director"]["services"][0]["real_servers"].pop(1))


def test_a_removed_real_server_drains_then_goes_when_its_connections_end(tmp_path):
    agent, sim = agent_with(tmp_path)
    doc = example("tun-director")
    agent.apply(doc, now=NOW)
    sim.set_connections(WEB, "10.20.0.12", 80, active=3, inactive=2)

    first = agent.apply(without_rs2(doc), now=NOW)
    assert lines(first.plan) == [
        "drain-dest tcp 10.10.0.100:80 -> 10.20.0.12:80 weight 0  (no longer in the document: no new "
        "connections; deleted once it has no connections (now 5), at the latest 2027-01-15 08:05:00 UTC)"
    ]
    assert [d.weight for d in sim.services[WEB].real_servers] == [1, 0]
    assert agent.ledger().draining_dests == {(WEB, "10.20.0.12", 80): NOW + 300}

    still = agent.plan(without_rs2(doc), now=NOW + 10)
    assert still.empty
    assert still.notes == [
        "draining: tcp 10.10.0.100:80 -> 10.20.0.12:80 has 5 connections; deleted at the latest 2027-01-15 08:05:00 UTC"
    ]

    sim.set_connections(WEB, "10.20.0.12", 80, active=0, inactive=0)
    done = agent.reconcile(now=NOW + 20)
    assert lines(done.plan) == ["del-dest tcp 10.10.0.100:80 -> 10.20.0.12:80  (drained: no connections left)"]
    assert [d.address for d in sim.services[WEB].real_servers] == ["10.20.0.11"]
    assert agent.ledger().draining_dests == {}
    assert agent.plan(without_rs2(doc), now=NOW + 30).empty


def test_a_draining_real_server_goes_at_the_deadline_even_with_connections(tmp_path):
    agent, sim = agent_with(tmp_path)
    doc = example("tun-director")
    agent.apply(doc, now=NOW)
    sim.set_connections(WEB, "10.20.0.12", 80, active=7)
    agent.apply(without_rs2(doc), now=NOW)
    assert agent.plan(without_rs2(doc), now=NOW + 299).empty
    assert lines(agent.plan(without_rs2(doc), now=NOW + 300)) == [
        "del-dest tcp 10.10.0.100:80 -> 10.20.0.12:80  (drain deadline passed with 7 connections left)"
    ]


def test_a_real_server_back_in_the_document_stops_draining(tmp_path):
    agent, sim = agent_with(tmp_path)
    doc = example("tun-director")
    agent.apply(doc, now=NOW)
    sim.set_connections(WEB, "10.20.0.12", 80, active=1)
    agent.apply(without_rs2(doc), now=NOW)
    back = agent.apply(doc, now=NOW + 5)
    assert lines(back.plan) == [
        "edit-dest tcp 10.10.0.100:80 -> 10.20.0.12:80 tun ipip weight 1  "
        "(weight 0 -> 1; back in the document, drain cancelled)"
    ]
    assert agent.ledger().draining_dests == {}


def test_a_removed_service_drains_its_real_servers_then_is_deleted_as_a_whole(tmp_path):
    agent, sim = agent_with(tmp_path)
    doc = example("tun-director")
    agent.apply(doc, now=NOW)
    sim.set_connections(WEB, "10.20.0.11", 80, active=1)
    gone = changed(doc, lambda d: d["director"]["services"].pop(0))
    first = agent.apply(gone, now=NOW)
    assert [op.kind for op in first.plan.operations] == ["drain-dest", "drain-dest"]
    assert WEB in sim.services
    # One real server still has a connection: only the idle one goes.
    second = agent.apply(gone, now=NOW + 1)
    assert lines(second.plan) == ["del-dest tcp 10.10.0.100:80 -> 10.20.0.12:80  (drained: no connections left)"]
    sim.set_connections(WEB, "10.20.0.11", 80, active=0)
    third = agent.apply(gone, now=NOW + 2)
    assert lines(third.plan) == [
        "del-service tcp 10.10.0.100:80  (no longer in the document; all real servers drained)"
    ]
    assert WEB not in sim.services


def test_drain_timeout_zero_deletes_at_once_real_servers_before_services(tmp_path):
    agent, _sim = agent_with(tmp_path)
    doc = director_doc(
        [web_service([tun_dest("10.20.0.11")]), web_service([tun_dest("10.20.0.12", port=443)], port=443)],
        drain_timeout=0,
    )
    agent.apply(doc, now=NOW)
    smaller = changed(
        doc, lambda d: (d["director"]["services"].pop(1), d["director"]["services"][0].update(real_servers=[]))
    )
    assert [op.kind for op in agent.plan(smaller, now=NOW).operations] == ["del-dest", "del-service"]


def test_only_what_the_agent_created_is_removed(tmp_path):
    agent, sim = agent_with(tmp_path)
    doc = example("tun-director")
    agent.apply(doc, now=NOW)
    by_hand = ServiceKey.for_address("udp", "10.10.0.100", 53)
    sim.services[by_hand] = parse_document(
        director_doc([{"protocol": "udp", "address": "10.10.0.100", "port": 53, "scheduler": "rr"}])
    ).director.services[0]
    result = agent.plan(doc, now=NOW)
    assert result.empty
    assert result.notes == ["left alone: udp 10.10.0.100:53 is not in the document and was not created by lvsweb-agent"]
    owning = changed(doc, lambda d: d["director"].update(owns_ipvs_table=True))
    assert lines(agent.plan(owning, now=NOW)) == [
        "del-service udp 10.10.0.100:53  (no longer in the document; no real servers left)"
    ]


def test_a_host_that_stops_being_a_director_drains_what_it_created(tmp_path):
    agent, _sim = agent_with(tmp_path)
    agent.apply(example("tun-director"), now=NOW)
    planned = agent.plan(example("tun-real-server"), now=NOW)
    kinds = [op.kind for op in planned.operations]
    assert kinds.count("drain-dest") == 2 and "del-service" in kinds  # fwmark 5 has no real servers
    assert "del-address" in kinds


def test_kernel_errors_stop_the_apply_and_name_the_real_server(tmp_path):
    agent, sim = agent_with(tmp_path, unroutable=frozenset({"10.20.0.11"}))
    result = agent.apply(example("tun-director"), now=NOW)
    assert not result.ok
    assert result.error == (
        "the kernel refused real server 10.20.0.11:80: address not unicast or no route to it in this namespace (EINVAL)"
    )
    assert [op.kind for op in result.applied] == ["add-address", "add-service", "add-service"]
    assert [op.kind for op in result.not_attempted] == ["add-dest", "write-file"]
    sim.unroutable = frozenset()
    rest = agent.reconcile(now=NOW)
    assert [op.kind for op in rest.plan.operations] == ["add-dest", "add-dest", "write-file"]
    assert rest.ok and agent.plan(example("tun-director"), now=NOW).empty


def test_tun_real_server_recipe(tmp_path):
    agent, sim = agent_with(tmp_path)
    planned = lines(agent.plan(example("tun-real-server"), now=NOW))
    assert planned[:2] == [
        "load-module ipip  (tunl0 does not exist: the ipip module creates it)",
        "link-up tunl0  (TUN: decapsulated packets arrive on tunl0)",
    ]
    sysctls = [line.split("  (")[0] for line in planned if line.startswith("set-sysctl")]
    assert sysctls == [
        "set-sysctl net.ipv4.conf.all.rp_filter = 0",
        "set-sysctl net.ipv4.conf.default.rp_filter = 0",
        "set-sysctl net.ipv4.conf.lo.rp_filter = 0",
        "set-sysctl net.ipv4.conf.tunl0.rp_filter = 0",
        "set-sysctl net.ipv4.conf.eth0.rp_filter = 0",
    ]
    assert (
        "add-address 10.10.0.100/32 on tunl0  (TUN: the real server accepts VIP traffic on tunl0; not there yet)"
        in planned
    )
    assert agent.apply(example("tun-real-server"), now=NOW).ok
    assert sim.links["tunl0"].up
    assert agent.plan(example("tun-real-server"), now=NOW).empty


def test_ledger_survives_a_restart(tmp_path):
    sim = SimulatedKernel()
    Agent(root=tmp_path, kernel=sim).apply(example("tun-director"), now=NOW)
    restarted = Agent(root=tmp_path, kernel=sim).ledger()
    assert WEB in restarted.services
    assert (WEB, "10.20.0.11", 80) in restarted.dests
    assert Ledger.from_json(restarted.to_json(), document=restarted.document) == restarted
    assert restarted.document == example("tun-director")


def test_plan_is_pure(tmp_path):
    desired = parse_document(example("tun-director"))
    sim = SimulatedKernel()
    actual = sim.read(desired)
    assert lines(plan(desired, actual, Ledger(), NOW)) == lines(plan(desired, actual, Ledger(), NOW))
    assert sim.services == {}
