"""A host taken out of a cluster, on the real kernel: the document the console then sends it (pinned by
tests/dispatch/test_host_removal.py) makes its agent remove what it set up for the cluster, and nothing else."""

import labdocs
import pytest
from labnet import VIP, Lab

pytestmark = pytest.mark.lab

SERVICE = f"TCP {VIP}:80"
NOT_OURS = "TCP 10.10.0.99:80"


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


def taken_out(host: str, director: dict | None = None) -> dict:
    """The console's document for a host with no part left in any cluster (a former director: an empty part)."""
    return {"version": 1, "host": host, "revision": 2, "director": director, "real_server": None}


def test_a_real_server_taken_out_loses_the_vip_on_tunl0_and_the_files_the_agent_wrote(tun: Lab, agent_on, agent_cli):
    rs1, rs2 = tun["rs1"], tun["rs2"]
    root = agent_cli.root("rs2")
    assert (root / "etc/sysctl.d/90-lvsweb.conf").exists()

    result = agent_on("rs2").apply(taken_out("rs2"))

    assert result.ok, result.error
    assert sorted(op.kind for op in result.applied) == ["del-address", "remove-file", "remove-file"]
    assert rs2.addresses("tunl0")["tunl0"] == []
    assert not (root / "etc/sysctl.d/90-lvsweb.conf").exists()
    assert not (root / "etc/modules-load.d/lvsweb.conf").exists()
    assert agent_on("rs2").plan(taken_out("rs2")).empty
    assert rs1.addresses("tunl0")["tunl0"] == [f"{VIP}/32"]  # the real server still in the cluster keeps it


def test_a_director_taken_out_drains_and_deletes_the_services_it_created_and_leaves_the_others(tun: Lab, agent_on):
    director = tun["director"]
    director.run("ipvsadm", "-A", "-t", "10.10.0.99:80", "-s", "wlc")  # an operator's own service
    document = taken_out(
        "director",
        {"owns_ipvs_table": False, "drain_timeout": 30, "ip_forward": False, "vips": [], "services": []},
    )
    agent = agent_on("director")

    result = agent.apply(document)

    assert result.ok, result.error
    assert sorted(op.kind for op in result.applied) == ["del-address", "drain-dest", "drain-dest", "remove-file"]
    assert f"{VIP}/32" not in director.addresses("eth0")["eth0"]
    assert {row.weight for row in director.ipvs_table()[SERVICE].values()} == {0}
    assert any(NOT_OURS.lower() in note for note in result.plan.notes), result.plan.notes

    # No connections left: the next pass (the heartbeat's) deletes the drained service.
    finished = agent.reconcile()

    assert finished.ok, finished.error
    assert [op.kind for op in finished.applied] == ["del-service"]
    assert list(director.ipvs_table()) == [NOT_OURS]
