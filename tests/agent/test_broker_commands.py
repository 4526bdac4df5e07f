"""CommandHandler without Celery, on the simulated kernel: the paths this machine's kernel cannot take.

test_worker.py runs the same handler inside a real `lvsweb-agent run` process against the real Redis; here
the agent applies successfully (SimulatedKernel), so what an `applied` report, the recorded serial and an
in-sync heartbeat look like is pinned down too. The last test runs the console's own plan and apply
commands (taken from their real queues) and hands the reports to the console's own report handler. The
real kernel path is the lab's.
"""

import time

import pytest
from lvsweb_agent.agent import Agent
from lvsweb_agent.broker_commands import CommandHandler
from lvsweb_agent.envelope import generate_private_key, seal
from lvsweb_agent.sequence import ReportSequence
from lvsweb_agent.serial import load_applied_serial

from .docs import director_doc, tun_dest
from .simkernel import SimulatedKernel, director_handler

CONTROL = generate_private_key()


class Host:
    """A handler on a simulated kernel, and the reports it sent."""

    def __init__(self, root, kernel=None):
        self.kernel = kernel or SimulatedKernel()
        self.reports: list[dict] = []
        self.now = 1_800_000_000.0
        self.handler = director_handler(
            root, self.kernel, CONTROL.public_key(), self.reports.append, clock=lambda: self.now
        )

    def command(self, kind="apply", serial=1, deployment=1, document=None, **fields):
        payload = {"kind": kind, "host": "director1", "serial": serial, "deployment": deployment}
        payload.update(issued_at=self.now, expires_at=self.now + 60)
        if kind != "reconcile":
            payload["document"] = document if document is not None else doc(serial)
        payload.update(fields)
        self.reports.clear()
        self.handler.handle(seal(payload, CONTROL, "control"))
        return self.reports


def doc(revision: int, *addresses: str) -> dict:
    dests = [tun_dest(address) for address in addresses or ("10.20.0.11", "10.20.0.12")]
    service = {"protocol": "tcp", "address": "10.10.0.100", "port": 80, "scheduler": "rr", "real_servers": dests}
    return director_doc([service], revision=revision, drain_timeout=0)


@pytest.fixture
def host(tmp_path):
    return Host(tmp_path)


def test_an_apply_reports_applying_then_applied_with_every_operation_done(host, tmp_path):
    applying, applied = host.command(serial=3, deployment=41)
    assert applying == {"kind": "deployment", "host": "director1", "sent_at": host.now, "deployment": 41,
                        "status": "applying", "serial": None}  # fmt: skip
    assert applied["status"] == "applied" and applied["error"] == ""
    assert applied["serial"] == 3 and load_applied_serial(tmp_path) == 3
    assert all(op["done"] for op in applied["operations"])
    assert {"op": "add-service", "target": "tcp 10.10.0.100:80", "detail": "sched rr",
            "reason": "not in the kernel", "done": True} in applied["operations"]  # fmt: skip


def test_the_same_serial_again_changes_nothing_and_an_older_one_is_refused(host):
    host.command(serial=3)
    _, again = host.command(serial=3, deployment=2)
    assert again["status"] == "applied" and again["operations"] == []
    (refusal,) = host.command(serial=2, deployment=3, document=doc(2, "10.20.0.11"))
    assert refusal["kind"] == "refusal" and refusal["deployment"] == 3 and refusal["serial"] == 3
    assert refusal["error"].startswith("stale serial: the command carries serial 2")
    assert len(host.kernel.services[next(iter(host.kernel.services))].real_servers) == 2  # untouched


def test_a_kernel_refusal_is_a_failed_report_with_the_operation_that_failed(tmp_path):
    host = Host(tmp_path, SimulatedKernel(unroutable=frozenset({"10.20.0.12"})))
    _, failed = host.command(serial=4)
    assert failed["status"] == "failed"
    assert failed["error"].startswith("the kernel refused real server 10.20.0.12:80: address not unicast")
    refused = [op for op in failed["operations"] if "error" in op]
    assert [op["target"] for op in refused] == ["tcp 10.10.0.100:80 -> 10.20.0.12:80"]
    assert not refused[0]["done"]
    assert any(op["done"] for op in failed["operations"])
    assert failed["serial"] == 4  # the document is held: reconcile completes it


def test_reconcile_completes_a_failed_apply(tmp_path):
    kernel = SimulatedKernel(unroutable=frozenset({"10.20.0.12"}))
    host = Host(tmp_path, kernel)
    host.command(serial=4)
    kernel.unroutable = frozenset()
    _, done = host.command("reconcile", deployment=5, serial=None)
    assert done["status"] == "applied" and done["serial"] == 4
    targets = [op["target"] for op in done["operations"]]
    assert targets == ["tcp 10.10.0.100:80 -> 10.20.0.12:80", "etc/modules-load.d/lvsweb.conf"]


def test_a_plan_changes_nothing_and_records_no_serial(host, tmp_path):
    (plan,) = host.command("plan", serial=6, deployment=7)
    assert plan["kind"] == "plan" and plan["deployment"] == 7
    assert [op["op"] for op in plan["operations"]][:2] == ["add-address", "add-service"]
    assert not any(op["done"] for op in plan["operations"])
    assert host.kernel.services == {} and load_applied_serial(tmp_path) is None


def test_heartbeat_drift_is_empty_in_sync_and_lists_what_changed_behind_the_agents_back(host):
    assert host.handler.heartbeat()["facts"]["drift"] == []
    host.command(serial=3)
    beat = host.handler.heartbeat()
    assert beat["facts"]["drift"] == [] and beat["facts"]["applied_serial"] == 3
    host.kernel.services.clear()  # someone ran `ipvsadm -C`
    facts = host.handler.heartbeat()["facts"]
    assert [op["op"] for op in facts["drift"]] == ["add-service", "add-dest", "add-dest"]
    assert host.kernel.services == {} and "drains_finished" not in facts  # reported, not repaired


def test_a_kernel_read_error_makes_the_drift_unknown_not_empty(host):
    host.command(serial=3)

    def broken(desired):
        raise OSError(105, "No buffer space available")

    host.kernel.read = broken
    facts = host.handler.heartbeat()["facts"]
    assert facts["drift"] is None
    assert facts["drift_error"] == "cannot compute the drift: No buffer space available"
    (plan,) = host.command("plan", serial=3, deployment=9)
    assert plan["error"] == "could not plan: No buffer space available" and plan["operations"] == []


def test_an_expired_command_is_refused_even_with_a_good_signature(host):
    host.now = time.time()
    (refusal,) = host.command(expires_at=host.now - 1)
    assert refusal["kind"] == "refusal" and refusal["error"].startswith("expired: ")
    assert host.kernel.services == {}


def test_a_heartbeat_finishes_a_drain_once_its_connections_are_gone(tmp_path):
    host = Host(tmp_path)
    host.command(serial=1, document=director_doc([_service("10.20.0.11", "10.20.0.12")], revision=1))
    host.command(serial=2, document=director_doc([_service("10.20.0.11")], revision=2))
    key = next(iter(host.kernel.services))
    host.kernel.set_connections(key, "10.20.0.12", 80, active=3)
    beat = host.handler.heartbeat()["facts"]
    assert beat["drift"] == [] and "drains_finished" not in beat  # still draining: nothing due
    host.kernel.set_connections(key, "10.20.0.12", 80, active=0)
    beat = host.handler.heartbeat()["facts"]
    assert [(op["op"], op["target"], op["done"]) for op in beat["drains_finished"]["operations"]] == [
        ("del-dest", "tcp 10.10.0.100:80 -> 10.20.0.12:80", True)
    ]
    assert beat["drains_finished"]["error"] == "" and beat["drift"] == []
    assert [d.address for d in host.kernel.services[key].real_servers] == ["10.20.0.11"]


def _service(*addresses: str) -> dict:
    dests = [tun_dest(address) for address in addresses]
    return {"protocol": "tcp", "address": "10.10.0.100", "port": 80, "scheduler": "rr", "real_servers": dests}


# -- the console's own commands, and the console's judgement of the reports ------------------------------------
class ConsoleHost:
    """A host of the console's inventory with its agent's handler (simulated kernel) and signing key."""

    def __init__(self, hostname: str, root, **fields):
        from lvsweb_agent.envelope import load_public_key, public_key_text

        from dispatch.signing import control_public_key_text
        from tests.factories import make_host

        self.key = generate_private_key()
        self.host = make_host(hostname=hostname, public_key=public_key_text(self.key), **fields)
        self.kernel = SimulatedKernel()
        self.reports: list[dict] = []
        self.sequence = ReportSequence(root)  # stamps each report as the agent's Reporter does
        self.handler = CommandHandler(
            host=hostname,
            root=root,
            control_key=load_public_key(control_public_key_text()),
            report=self.reports.append,
            agent_factory=lambda: Agent(root=root, kernel=self.kernel),
        )

    def take_and_run(self) -> list[str]:
        """Run the command the console queued for this host; the console's verdict on each report."""
        from tests.dispatch.broker import take_commands

        [envelope] = take_commands(f"lvsweb.host.{self.host.hostname}")
        self.reports.clear()
        self.handler.handle(envelope)
        return [self.send(report) for report in self.reports]

    def send(self, report: dict) -> str:
        """The console's verdict on one report, sealed as the agent's Reporter seals it."""
        from dispatch.actions import handle_report

        return handle_report(seal(self.sequence.stamp(report), self.key, self.host.hostname))

    def heartbeat(self) -> str:
        return self.send(self.handler.heartbeat())


@pytest.mark.django_db(transaction=True)
def test_the_consoles_apply_is_applied_and_its_reports_accepted(tmp_path):
    from clusters.choices import HostRole
    from clusters.models import sync_state
    from dispatch import actions
    from dispatch.models import Deployment
    from tests.dispatch.broker import purge
    from tests.factories import make_cluster, make_cluster_host, make_real_server, make_virtual_service

    queues = ("lvsweb.host.h5-director", "lvsweb.host.h5-rs")
    purge(*queues)
    cluster = make_cluster(name="h5 contract", slug="h5-contract", drain_timeout=30)
    director = ConsoleHost("h5-director", tmp_path / "director", vip_interface="eth0")
    rs = ConsoleHost("h5-rs", tmp_path / "rs", uplinks="eth0")
    make_cluster_host(cluster=cluster, host=director.host, role=HostRole.DIRECTOR)
    make_cluster_host(cluster=cluster, host=rs.host, role=HostRole.REAL_SERVER)
    service = make_virtual_service(cluster=cluster, address="10.10.0.100", port=80, scheduler="rr")
    make_real_server(virtual_service=service, address="10.20.0.11", host=rs.host)
    try:
        plans = actions.plan_cluster(acting_user=None, cluster=cluster)
        assert director.take_and_run() == ["applied"]  # the console's word for a finished plan
        assert rs.take_and_run() == ["applied"]
        plan = Deployment.objects.get(pk=plans[0].pk)
        assert any(op["op"] == "add-service" for op in plan.operations) and director.kernel.services == {}

        actions.apply_cluster(acting_user=None, cluster=cluster)
        assert director.take_and_run() == ["applying", "applied"]
        assert rs.take_and_run() == ["applying", "applied"]
        deployment = Deployment.objects.filter(host=director.host, kind="apply").get()
        assert deployment.status == "applied" and deployment.error == ""
        assert all(op["done"] for op in deployment.operations)
        assert [s.key.address for s in director.kernel.services.values()] == ["10.10.0.100"]
        assert director.heartbeat() == "heartbeat" and rs.heartbeat() == "heartbeat"
        for host in (director.host, rs.host):
            host.refresh_from_db()
            assert host.applied_serial == 1 and host.drift == []
            assert sync_state(host) == "in_sync"
    finally:
        purge(*queues)
