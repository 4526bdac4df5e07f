"""Delta apply and housekeeping on the real kernel (agents/lvsweb_agent/delta.py, broker_commands.py).

A weight change is sent as one request without reading the table; a table changed behind the agent's
back makes the kernel refuse the delta, and the agent then reads it, plans in full and says so; a
heartbeat held inside its read of the kernel does not hold up an apply.
"""

import copy
import threading

import labdocs
import pytest
from labnet import VIP, Lab

pytestmark = pytest.mark.lab

SERVICE = f"TCP {VIP}:80"


def weighted(doc: dict, weight: int, revision: int, address: str = "10.20.0.12") -> dict:
    doc = copy.deepcopy(doc)
    doc["revision"] = revision
    for dest in doc["director"]["services"][0]["real_servers"]:
        if dest["address"] == address:
            dest["weight"] = weight
    return doc


def test_a_weight_change_is_a_delta_and_a_table_changed_behind_its_back_is_planned_in_full(network: Lab, agent_on):
    agent = agent_on("director")
    doc = labdocs.tun_director(drain_timeout=0)
    assert agent.apply(doc).ok
    result = agent.apply(weighted(doc, 5, 2))
    assert result.ok, result.error
    assert agent.last_mode == "delta"
    assert [op.kind for op in result.applied] == ["edit-dest"]
    assert network["director"].ipvs_table()[SERVICE]["10.20.0.12:80"].weight == 5

    # Behind the agent's back: the real server the next document re-weights is deleted with ipvsadm.
    network["director"].run("ipvsadm", "-d", "-t", f"{VIP}:80", "-r", "10.20.0.12:80")
    result = agent.apply(weighted(doc, 7, 3))
    assert result.ok, result.error
    assert agent.last_mode == "delta+full"
    # The report tells what happened: the delta's edit was refused (ENOENT), the full plan added it back.
    assert [op.kind for op in result.plan.operations] == ["edit-dest", "add-dest"]
    assert [op.kind for op in result.applied] == ["add-dest"]
    assert result.plan.notes[0].startswith("the kernel's table no longer matched the last applied document")
    assert "(ENOENT)" in result.plan.notes[0]
    table = network["director"].ipvs_table()[SERVICE]
    assert table["10.20.0.12:80"].weight == 7 and table["10.20.0.11:80"].weight == 1
    assert agent.plan(weighted(doc, 7, 3)).empty


def test_adding_and_removing_a_real_server_are_deltas(network: Lab, agent_on):
    agent = agent_on("director")
    doc = labdocs.tun_director(drain_timeout=0)
    assert agent.apply(doc).ok
    more = copy.deepcopy(doc)
    more["revision"] = 2
    more["director"]["services"][0]["real_servers"].append(labdocs.real_server("10.20.0.13"))
    result = agent.apply(more)
    assert result.ok and agent.last_mode == "delta" and [op.kind for op in result.applied] == ["add-dest"]
    assert "10.20.0.13:80" in network["director"].ipvs_table()[SERVICE]
    fewer = copy.deepcopy(doc)
    fewer["revision"] = 3
    result = agent.apply(fewer)
    assert result.ok and agent.last_mode == "delta" and [op.kind for op in result.applied] == ["del-dest"]
    assert set(network["director"].ipvs_table()[SERVICE]) == {"10.20.0.11:80", "10.20.0.12:80"}


DRIFTS = {
    "weight": (["-i", "-w", "3"], ["edit-dest"], "weight 3 -> 1"),
    "forwarding": (["-g", "-w", "1"], ["edit-dest"], "forward dr -> tun"),
    "tunnel type and port": (["-i", "--tun-type", "gue", "--tun-port", "6080", "-w", "1"], ["edit-dest"], "gue"),
    "upper threshold": (["-i", "-w", "1", "-x", "100"], ["edit-dest"], "upper threshold 100 -> 0"),
}


def test_a_no_op_reconcile_still_finds_every_change_made_behind_its_back(network: Lab, agent_on):
    """The reconcile does not decode real servers whose configuration bytes are the document's
    (netlink.DestMatcher): each change made with ipvsadm is still planned, and repaired."""
    agent = agent_on("director")
    doc = labdocs.tun_director(drain_timeout=0)
    assert agent.apply(doc).ok
    table = network["director"].ipvs_save()
    assert agent.reconcile().plan.empty  # the matcher has learned the layout and built its keys
    for name, (options, kinds, reason) in DRIFTS.items():
        network["director"].run("ipvsadm", "-e", "-t", f"{VIP}:80", "-r", "10.20.0.12:80", *options)
        result = agent.reconcile()
        assert [op.kind for op in result.applied] == kinds, (name, str(result.plan))
        assert reason in result.plan.operations[0].reason, (name, result.plan.operations[0].reason)
        assert network["director"].ipvs_save() == table, name
        assert agent.reconcile().plan.empty, name
    # A real server replaced by another (not one on another port: ipvsadm gives a TUN real server the
    # service's port, which is the same one again): the document's is added back, the stranger (not the
    # agent's: the document does not own the table) is left alone and named.
    network["director"].run("ipvsadm", "-d", "-t", f"{VIP}:80", "-r", "10.20.0.12:80")
    network["director"].run("ipvsadm", "-a", "-t", f"{VIP}:80", "-r", "10.20.0.13:80", "-i", "-w", "1")
    result = agent.reconcile()
    assert [op.kind for op in result.applied] == ["add-dest"], str(result.plan)
    assert "10.20.0.12:80" in str(result.applied[0])
    assert any("10.20.0.13:80 is not in the document" in note for note in result.plan.notes), result.plan.notes
    assert agent.reconcile().plan.empty


def test_an_apply_completes_while_a_heartbeat_is_still_reading_the_kernel(network: Lab, tmp_path):
    from lvsweb_agent.agent import Agent
    from lvsweb_agent.broker_commands import CommandHandler
    from lvsweb_agent.envelope import generate_private_key, seal
    from lvsweb_agent.kernel import LinuxKernel

    reading, release = threading.Event(), threading.Event()

    class SlowKernel(LinuxKernel):
        """The heartbeat's kernel: its read of the table waits until the test releases it."""

        def read_ipvs(self, wanted=None):
            reading.set()
            assert release.wait(120), "never released"
            return super().read_ipvs(wanted)

    def make_agent():
        if threading.current_thread().name == "slow-housekeeping":
            return Agent(root=tmp_path, kernel=SlowKernel(root=tmp_path, netns="director"))
        return Agent(root=tmp_path, netns="director")

    control, reports, now = generate_private_key(), [], 1_800_000_000.0
    handler = CommandHandler(
        host="director",
        root=tmp_path,
        control_key=control.public_key(),
        report=reports.append,
        agent_factory=make_agent,
        netns="director",
        clock=lambda: now,
    )
    doc = labdocs.tun_director(drain_timeout=0)

    def apply(serial: int, weight: int) -> None:
        payload = {"kind": "apply", "host": "director", "serial": serial, "deployment": serial,
                   "issued_at": now, "expires_at": now + 60, "document": weighted(doc, weight, serial)}  # fmt: skip
        handler.handle(seal(payload, control, "control"))

    try:
        apply(1, weight=1)
        assert reports[-1]["status"] == "applied", reports[-1]
        heartbeat = threading.Thread(target=handler.heartbeat, name="slow-housekeeping")
        heartbeat.start()
        assert reading.wait(120), "the heartbeat never read the kernel"
        applied = threading.Event()
        applier = threading.Thread(target=lambda: (apply(2, weight=5), applied.set()))
        applier.start()
        finished = applied.wait(120)
        still_reading = heartbeat.is_alive()
        release.set()
        applier.join(120)
        heartbeat.join(120)
    finally:
        release.set()
        handler.close()

    assert finished, "the apply waited for the heartbeat's read"
    assert still_reading
    kinds = [(report["kind"], report.get("status")) for report in reports]
    assert kinds[2:] == [("deployment", "applying"), ("deployment", "applied"), ("heartbeat", None)]
    assert network["director"].ipvs_table()[SERVICE]["10.20.0.12:80"].weight == 5
    assert reports[-1]["facts"]["drift"] == [] and reports[-1]["facts"]["applied_serial"] == 2
