"""Reconciling: idempotent applies, drift repaired, weight changes, graceful removal of a real server."""

import json
import time

import labdocs
import pytest
from labnet import VIP, Lab

pytestmark = pytest.mark.lab

SERVICE = f"TCP {VIP}:80"


@pytest.fixture
def tun(network: Lab, apply_all) -> Lab:
    """The TUN setup applied by the agent on the director, rs1 and rs2."""
    apply_all(
        {
            "director": labdocs.tun_director(),
            "rs1": labdocs.tun_real_server("rs1"),
            "rs2": labdocs.tun_real_server("rs2"),
        }
    )
    return network


def test_the_second_apply_of_the_same_document_plans_nothing(tun: Lab, agent_on, agent_cli):
    director = tun["director"]
    table = director.ipvs_save()
    addresses = director.addresses()

    result = agent_cli("director", "apply", "DOCUMENT", "--dry-run", "--json", document=labdocs.tun_director())

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["plan"]["operations"] == []
    assert agent_on("director").apply(labdocs.tun_director()).applied == []
    assert agent_on("rs1").apply(labdocs.tun_real_server("rs1")).applied == []
    assert director.ipvs_save() == table
    assert director.addresses() == addresses


def test_a_service_deleted_behind_the_agents_back_shows_in_the_plan_and_apply_restores_it(tun: Lab, agent_on):
    director, client = tun["director"], tun["client"]
    table = director.ipvs_save()
    director.run("ipvsadm", "-D", "-t", f"{VIP}:80")
    assert client.http_get(VIP, timeout=2) == ""

    plan = agent_on("director").plan(labdocs.tun_director())

    assert [op.kind for op in plan.operations] == ["add-service", "add-dest", "add-dest"], [
        str(op) for op in plan.operations
    ]
    assert f"{VIP}:80" in str(plan.operations[0])
    assert agent_on("director").apply(labdocs.tun_director()).ok
    assert director.ipvs_save() == table
    assert sorted(client.fetch(2)) == ["rs1", "rs2"]


def test_a_weight_change_is_one_operation_and_weight_0_takes_no_new_connections(tun: Lab, agent_on):
    director, client = tun["director"], tun["client"]
    document = labdocs.changed(
        labdocs.tun_director(), lambda d: d["director"]["services"][0]["real_servers"][1].update(weight=0)
    )
    # Compare differences: the counters are cumulative and lag by up to ~2 s, so start from settled ones.
    before = director.settled_stats()

    plan = agent_on("director").plan(document)

    assert len(plan.operations) == 1, [str(op) for op in plan.operations]
    assert "10.20.0.12:80" in str(plan.operations[0])
    assert agent_on("director").apply(document).ok
    assert director.ipvs_table()[SERVICE]["10.20.0.12:80"].weight == 0
    assert client.fetch(4) == ["rs1"] * 4
    rs1_conns = before["10.20.0.11:80"]["conns"] + 4
    assert director.wait_for_counters("10.20.0.11:80", conns=rs1_conns)["conns"] >= rs1_conns  # refreshed...
    assert director.ipvs_stats()["10.20.0.12:80"]["conns"] == before["10.20.0.12:80"]["conns"]  # ...rs2 got none


def test_a_removed_real_server_drains_while_its_connection_is_open_then_goes(tun: Lab, agent_on):
    director, client = tun["director"], tun["client"]
    director.run("ipvsadm", "--set", "900", "2", "300")  # FIN_WAIT: a closed connection is gone 2 s later
    document = labdocs.changed(
        labdocs.tun_director(drain_timeout=600),
        lambda d: d["director"]["services"][0]["real_servers"].pop(1),
    )
    agent = agent_on("director")
    held = []
    try:
        # rr: the first or the second new connection lands on rs2; keep them open.
        while director.ipvs_table()[SERVICE]["10.20.0.12:80"].active == 0:
            assert len(held) < 2, "rr did not send either of two connections to rs2"
            held.append(client.connect())
            time.sleep(0.3)

        result = agent.apply(document)

        assert result.ok, result.error
        assert [op.kind for op in result.applied] == ["drain-dest"]
        rs2 = director.ipvs_table()[SERVICE]["10.20.0.12:80"]
        assert (rs2.weight, rs2.active) == (0, 1)
        assert client.fetch(2) == ["rs1", "rs1"]
        assert agent.reconcile().applied == []
        assert "10.20.0.12:80" in director.ipvs_table()[SERVICE]
    finally:
        for connection in held:
            connection.close()

    deadline = time.monotonic() + 20
    while "10.20.0.12:80" in director.ipvs_table()[SERVICE] and time.monotonic() < deadline:
        time.sleep(1)
        result = agent.reconcile()
        assert result.ok, result.error
    assert list(director.ipvs_table()[SERVICE]) == ["10.20.0.11:80"]
    assert client.fetch(2) == ["rs1", "rs1"]
