"""`lvsweb-agent run` as a real process on the real Redis: what it refuses, what it reports, its heartbeats.

Commands go in with a Celery app's `send_task`, exactly as the console sends them; reports come out of the
`control` queue through a kombu consumer and are verified with the host's public key. This machine's
kernel has no IPVS, so applies fail here (cleanly, with a report); the real apply path runs in the lab VM.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis
from celery import Celery
from kombu import Connection
from lvsweb_agent.check import check_kernel
from lvsweb_agent.config import AgentConfig, write_config
from lvsweb_agent.document import DOCUMENT_VERSION
from lvsweb_agent.envelope import generate_private_key, open_envelope, private_key_pem, public_key_text, seal
from lvsweb_agent.sequence import SEQUENCE_FILE
from lvsweb_agent.serial import SERIAL_FILE, save_applied_serial
from lvsweb_agent.worker import COMMAND_TASK, DROP_FILE, REPORT_TASK

from .redisdb import claimed_redis_db

pytestmark = pytest.mark.timeout(90)

HOST = "rs1"
QUEUE = f"lvsweb.host.{HOST}"
REPO = Path(__file__).resolve().parents[2]
HEARTBEAT_KEYS = {"agent_version", "document_version", "kernel", "check", "applied_serial", "drift"}

needs_a_kernel_without_ipvs = pytest.mark.skipif(
    check_kernel(None).ip_vs != "missing",
    reason="this kernel has IPVS: an apply here would change the machine's own IPVS table (the lab tests cover it)",
)


def director_doc(revision: int) -> dict:
    """One TUN service and no VIP: the first operation is loading ip_vs, which this kernel cannot."""
    return {
        "version": 1,
        "host": HOST,
        "revision": revision,
        "director": {
            "services": [
                {
                    "protocol": "tcp",
                    "address": "10.10.0.100",
                    "port": 80,
                    "scheduler": "rr",
                    "real_servers": [{"address": "10.20.0.11", "port": 80, "forward": "tun"}],
                }
            ]
        },
        "real_server": None,
    }


@pytest.fixture
def broker_url():
    """A Redis database nobody else is using, claimed for this test and flushed afterwards."""
    with claimed_redis_db() as url:
        yield url


class AgentProcess:
    """A `lvsweb-agent run` process with its own keys, configuration and root, and the console's view of it."""

    def __init__(self, tmp_path: Path, broker_url: str, heartbeat_interval: float):
        self.broker_url = broker_url
        self.control_key = generate_private_key()
        self.host_key = generate_private_key()
        self.root = tmp_path / "root"
        self.root.mkdir()
        etc = tmp_path / "etc"
        etc.mkdir()
        key_file = etc / "host-key.pem"
        key_file.write_bytes(private_key_pem(self.host_key))
        key_file.chmod(0o600)
        self.config = AgentConfig(
            broker_url=broker_url,
            host=HOST,
            queue=QUEUE,
            control_public_key=public_key_text(self.control_key),
            private_key_file=str(key_file),
            heartbeat_interval=heartbeat_interval,
            root=str(self.root),
        )
        self.config_file = write_config(self.config, etc / "agent.json")
        self.log_file = tmp_path / "agent.log"
        self.process: subprocess.Popen | None = None
        self.console = Celery("console-under-test", broker=broker_url, set_as_current=False)
        self.console.conf.update(task_serializer="json", accept_content=["json"])
        self.connection = Connection(broker_url)
        # Declared before the agent starts, as the console's control worker would have it.
        self.control_queue = self.connection.SimpleQueue("control")
        self.reports: list[dict] = []
        self.deployments = iter(range(1000, 10**6))

    def start(self, *options: str) -> AgentProcess:
        script = Path(sys.executable).with_name("lvsweb-agent")
        argv = [str(script)] if script.exists() else [sys.executable, "-m", "lvsweb_agent.cli"]
        argv += options
        env = {key: value for key, value in os.environ.items() if not key.startswith(("DJANGO", "LVSWEB_AGENT"))}
        with self.log_file.open("wb") as log:
            self.process = subprocess.Popen(
                [*argv, "run", "--config", str(self.config_file)], cwd=REPO, env=env, stdout=log, stderr=log
            )
        return self

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        self.control_queue.close()
        self.connection.release()

    def log(self) -> str:
        return self.log_file.read_text(errors="replace")

    # -- the console's side ------------------------------------------------------------------------------
    def command(self, kind: str = "plan", *, key=None, signer: str = "control", **fields) -> dict:
        """Seal and send a command; returns its payload (with the deployment id reports will echo)."""
        now = time.time()
        payload = {
            "kind": kind,
            "host": HOST,
            "serial": 1,
            "cluster": "edge",
            "cluster_revision": 1,
            "deployment": next(self.deployments),
            "issued_at": now,
            "expires_at": now + 60,
        }
        if kind != "reconcile":
            payload["document"] = director_doc(fields.get("serial", payload["serial"]))
        payload.update(fields)
        self.send(seal(payload, key or self.control_key, signer))
        return payload

    def send(self, *args) -> None:
        self.console.send_task(COMMAND_TASK, args=list(args), queue=QUEUE)

    def report(self, timeout: float = 20, **match) -> dict:
        """The first report whose payload has all the `match` fields (waiting for it if need be)."""
        deadline = time.monotonic() + timeout
        seen = 0
        while True:
            for payload in self.reports[seen:]:
                if all(payload.get(name) == value for name, value in match.items()):
                    self.reports.remove(payload)
                    return payload
            seen = len(self.reports)
            if time.monotonic() > deadline:
                break
            self._receive(0.5)
        kinds = [(p["kind"], p.get("deployment"), p.get("status")) for p in self.reports]
        alive = "running" if self.process and self.process.poll() is None else "exited"
        pytest.fail(f"no report matching {match} within {timeout} s; got {kinds}; agent {alive}:\n{self.log()}")

    def _receive(self, timeout: float) -> None:
        try:
            message = self.control_queue.get(timeout=timeout)
        except self.control_queue.Empty:
            return
        message.ack()
        assert message.headers["task"] == REPORT_TASK
        args, kwargs, _ = message.decode()
        assert kwargs == {} and len(args) == 1
        envelope = args[0]
        assert envelope["signer"] == HOST
        payload = open_envelope(envelope, self.host_key.public_key())  # raises unless the host signed it
        assert payload["host"] == HOST
        self.reports.append(payload)

    def reports_for(self, deployment, settle: float = 1.0) -> list[dict]:
        """Every report about `deployment` that arrived within `settle` seconds."""
        deadline = time.monotonic() + settle
        while time.monotonic() < deadline:
            self._receive(0.2)
        return [p for p in self.reports if p.get("deployment") == deployment]

    def nothing_applied(self) -> bool:
        """No serial recorded and no ledger written: the agent has not touched anything."""
        own = {(self.root / SEQUENCE_FILE), (self.root / DROP_FILE)}  # the worker's, not an apply's
        written = [path for path in self.root.rglob("*.json") if path not in own]
        return not (self.root / SERIAL_FILE).exists() and not written


@pytest.fixture
def agent(tmp_path, broker_url):
    """A running agent with a long heartbeat interval (command tests ignore heartbeats)."""
    process = AgentProcess(tmp_path, broker_url, heartbeat_interval=30).start()
    yield process
    process.stop()


@pytest.fixture
def make_agent(tmp_path, broker_url):
    """An agent not yet started (to prepare its root first), with a chosen heartbeat interval."""
    made = []

    def make(heartbeat_interval: float = 30) -> AgentProcess:
        made.append(AgentProcess(tmp_path, broker_url, heartbeat_interval))
        return made[-1]

    yield make
    for process in made:
        process.stop()


def tampered(envelope: dict, **changes) -> dict:
    payload = json.loads(base64.b64decode(envelope["payload"]))
    payload.update(changes)
    data = json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()
    return dict(envelope, payload=base64.b64encode(data).decode())


# -- refusals --------------------------------------------------------------------------------------------
def test_a_tampered_command_is_refused_as_a_bad_signature_and_nothing_is_applied(agent):
    now = time.time()
    genuine = seal(
        {"kind": "plan", "host": "rs9", "serial": 1, "deployment": 1, "expires_at": now + 60, "document": {}},
        agent.control_key,
        "control",
    )
    agent.send(tampered(genuine, host=HOST, kind="apply", document=director_doc(1)))
    refusal = agent.report(kind="refusal")
    assert refusal["error"].startswith("bad signature")
    assert refusal["deployment"] is None  # an unverified payload is not even read
    assert refusal["serial"] is None
    assert agent.nothing_applied()
    assert not [p for p in agent.reports if p["kind"] != "heartbeat"]


def test_a_command_signed_with_another_key_is_refused(agent):
    agent.command("apply", key=generate_private_key(), serial=3)
    refusal = agent.report(kind="refusal")
    assert "bad signature" in refusal["error"]
    assert agent.nothing_applied()


def test_a_command_signed_by_a_host_is_refused(agent):
    agent.command("apply", key=agent.host_key, signer=HOST)
    refusal = agent.report(kind="refusal")
    assert refusal["error"].startswith("unknown signer 'rs1'")
    assert agent.nothing_applied()


def test_a_command_for_another_host_is_refused(agent):
    command = agent.command("apply", host="rs2")
    refusal = agent.report(kind="refusal", deployment=command["deployment"])
    assert refusal["error"] == "wrong host: the command is for 'rs2', this agent serves 'rs1'"
    assert [p["kind"] for p in agent.reports_for(command["deployment"])] == []
    assert agent.nothing_applied()


def test_an_expired_command_is_refused(agent):
    command = agent.command("apply", issued_at=time.time() - 600, expires_at=time.time() - 300)
    refusal = agent.report(kind="refusal", deployment=command["deployment"])
    assert refusal["error"].startswith("expired: the command expired at ")
    late = re.search(r", (\d+) s before it arrived$", refusal["error"])
    assert late and 300 <= int(late.group(1)) <= 360, refusal["error"]
    assert agent.nothing_applied()


def test_a_command_without_a_lifetime_is_refused(agent):
    command = agent.command("apply", expires_at=None)
    refusal = agent.report(kind="refusal", deployment=command["deployment"])
    assert "no expires_at" in refusal["error"]


def test_a_bad_document_is_refused_and_nothing_is_applied(agent):
    document = director_doc(2)
    document["director"]["services"][0]["real_servers"][0]["port"] = 8080
    command = agent.command("apply", serial=2, document=document)
    refusal = agent.report(kind="refusal", deployment=command["deployment"])
    assert refusal["error"].startswith("bad document, nothing applied: $.director.services[0].real_servers[0].port")
    assert "cannot map ports" in refusal["error"]
    assert agent.nothing_applied()


def test_a_document_whose_revision_is_not_the_serial_is_refused(agent):
    command = agent.command("apply", serial=5, document=director_doc(4))
    refusal = agent.report(kind="refusal", deployment=command["deployment"])
    assert refusal["error"] == "bad document: its revision 4 differs from the command's serial 5"


@needs_a_kernel_without_ipvs
def test_a_stale_serial_is_refused_and_an_equal_one_is_a_reapply(make_agent):
    agent = make_agent()
    save_applied_serial(agent.root, 7)
    agent.start()
    stale = agent.command("apply", serial=6)
    refusal = agent.report(kind="refusal", deployment=stale["deployment"])
    assert refusal["error"].startswith(
        "stale serial: the command carries serial 6, this host has already applied serial 7"
    )
    assert refusal["serial"] == 7
    assert not (agent.root / "var/lib/lvsweb-agent/state.json").exists()
    again = agent.command("apply", serial=7)
    assert agent.report(kind="deployment", deployment=again["deployment"], status="applying")
    assert agent.report(kind="deployment", deployment=again["deployment"], status="failed")["serial"] == 7


def test_unknown_tasks_and_malformed_arguments_do_not_stop_the_agent(agent):
    agent.console.send_task("celery.accumulate", args=[1], queue=QUEUE)
    agent.console.send_task("celery.chain", args=[], queue=QUEUE)
    agent.send("not an envelope", "and a second argument")
    agent.send({"v": 1, "signer": "control", "payload": "!!", "signature": "!!"})
    first = agent.report(kind="refusal")
    second = agent.report(kind="refusal")
    assert "exactly one argument" in first["error"]
    assert second["error"] == "malformed envelope: payload or signature is not base64"
    command = agent.command("plan")
    assert agent.report(kind="plan", deployment=command["deployment"])
    assert "Received unregistered task of type 'celery.accumulate'" in agent.log()
    assert "Received unregistered task of type 'celery.chain'" in agent.log()


def test_junk_on_the_agents_queue_is_dropped_counted_and_the_agent_goes_on(make_agent):
    # Anyone with access to the broker can push anything onto the host's queue (Redis list) directly.
    agent = make_agent(heartbeat_interval=1).start()
    agent.report(kind="heartbeat")  # the worker is up
    envelope = {"delivery_info": {"exchange": "", "routing_key": QUEUE}, "delivery_tag": "t", "priority": 0}
    message = {
        "content-encoding": "utf-8",
        "headers": {"task": COMMAND_TASK, "id": "x"},
        "properties": {"body_encoding": "base64", **envelope},
    }
    junk = [
        b"not json at all",
        json.dumps({**message, "content-type": "application/json", "body": "!!! not base64"}),
        json.dumps({**message, "content-type": "application/x-python-serialize", "body": "gAN9cQAu"}),
        json.dumps(
            {**message, "content-type": "application/json", "body": base64.b64encode(b"[" * 17 * 2**20).decode()}
        ),
        json.dumps(
            {
                **message,
                "headers": {"task": COMMAND_TASK, "id": "y", "timelimit": [1]},  # Celery's strategy trips on it
                "content-type": "application/json",
                "body": base64.b64encode(b"[[{}], {}, {}]").decode(),
            }
        ),
    ]
    client = redis.Redis.from_url(agent.broker_url)
    for raw in junk:
        client.lpush(QUEUE, raw)
    command = agent.command("plan")
    assert agent.report(kind="plan", deployment=command["deployment"])
    assert agent.process.poll() is None
    assert client.llen(QUEUE) == 0
    counted = json.loads((agent.root / DROP_FILE).read_text())
    assert counted == {"not_json": 1, "bad_body": 1, "content_type": 1, "too_large": 1, "bad_task": 1}
    for _ in range(5):
        beat = agent.report(kind="heartbeat")
        if beat["facts"].get("dropped_messages") == counted:
            break
    assert beat["facts"]["dropped_messages"] == counted
    assert "Unrecoverable error" not in agent.log()
    assert "dropped a message from queue 'lvsweb.host.rs1' (not_json)" in agent.log()


# -- what an accepted command does on this kernel ------------------------------------------------------------
@needs_a_kernel_without_ipvs
def test_an_apply_on_a_kernel_without_ipvs_fails_with_the_reason_and_the_agent_goes_on(agent):
    command = agent.command("apply", serial=3)
    applying = agent.report(kind="deployment", deployment=command["deployment"], status="applying")
    assert applying["serial"] is None
    failed = agent.report(kind="deployment", deployment=command["deployment"], status="failed")
    assert failed["error"] == "cannot load-module ip_vs: Protocol not available (ENOPROTOOPT)"
    assert failed["serial"] == 3  # the agent holds serial 3's document now; reconcile would complete it
    first = failed["operations"][0]
    assert (first["op"], first["target"], first["done"], first["error"]) == (
        "load-module",
        "ip_vs",
        False,
        failed["error"],
    )
    assert [op["op"] for op in failed["operations"]] == ["load-module", "add-service", "add-dest", "write-file"]
    assert not any(op["done"] for op in failed["operations"])
    # Still serving: the next command is answered.
    plan = agent.command("plan", serial=3)
    answer = agent.report(kind="plan", deployment=plan["deployment"])
    assert answer["operations"][0]["op"] == "load-module"
    reconcile = agent.command("reconcile")
    assert (
        agent.report(kind="deployment", deployment=reconcile["deployment"], status="failed")["error"]
        == (failed["error"])
    )
    assert agent.process.poll() is None


def test_a_plan_reports_the_operations_and_changes_nothing(agent):
    command = agent.command("plan", serial=4)
    plan = agent.report(kind="plan", deployment=command["deployment"])
    assert plan["serial"] is None
    assert "error" not in plan
    assert plan["operations"][1] == {
        "op": "add-service",
        "target": "tcp 10.10.0.100:80",
        "detail": "sched rr",
        "reason": "not in the kernel",
        "done": False,
    }
    assert [p["kind"] for p in agent.reports_for(command["deployment"])] == []  # one report, no "applying"
    assert agent.nothing_applied()


def test_reconcile_before_any_apply_fails_with_the_reason(agent):
    command = agent.command("reconcile")
    agent.report(kind="deployment", deployment=command["deployment"], status="applying")
    failed = agent.report(kind="deployment", deployment=command["deployment"], status="failed")
    assert failed["error"] == "nothing to reconcile: no document has been applied on this host yet"


# -- heartbeats --------------------------------------------------------------------------------------------
def test_heartbeats_arrive_at_the_configured_interval_with_the_documented_facts(make_agent):
    agent = make_agent(heartbeat_interval=1).start()
    beats = [agent.report(kind="heartbeat") for _ in range(4)]
    gaps = [later["sent_at"] - earlier["sent_at"] for earlier, later in itertools.pairwise(beats)]
    assert all(0.9 <= gap <= 1.5 for gap in gaps), gaps
    facts = beats[-1]["facts"]
    assert set(facts) == HEARTBEAT_KEYS
    assert facts["kernel"] == os.uname().release
    assert facts["check"]["kernel"] == os.uname().release
    assert {"ip_vs", "schedulers", "tunnels", "missing", "ok"} <= set(facts["check"])
    assert facts["applied_serial"] is None and beats[-1]["serial"] is None
    assert facts["drift"] == []  # no document yet: nothing to drift from
    assert facts["agent_version"]
    assert facts["document_version"] == DOCUMENT_VERSION


@needs_a_kernel_without_ipvs
def test_a_heartbeat_after_an_apply_carries_the_serial_and_the_drift(make_agent):
    agent = make_agent(heartbeat_interval=1).start()
    command = agent.command("apply", serial=8)
    agent.report(kind="deployment", deployment=command["deployment"], status="failed")
    for _ in range(5):
        beat = agent.report(kind="heartbeat")
        if beat["facts"]["applied_serial"] == 8:
            break
    facts = beat["facts"]
    assert facts["applied_serial"] == 8 and beat["serial"] == 8
    assert [op["op"] for op in facts["drift"]] == ["load-module", "add-service", "add-dest", "write-file"]
    assert "ip_vs: IPVS is not available in this kernel" in facts["check"]["missing"]


def test_reports_carry_increasing_sequences_per_stream_also_across_a_restart(make_agent):
    agent = make_agent(heartbeat_interval=1).start()
    beats = [agent.report(kind="heartbeat") for _ in range(3)]
    command = agent.command("plan")
    plan = agent.report(kind="plan", deployment=command["deployment"])
    sequences = [beat["sequence"] for beat in beats]
    assert sequences == sorted(set(sequences))
    assert all(abs(beat["sent_at"] - beat["sequence"] / 1e9) < 5 for beat in beats)  # nanoseconds of its time
    assert isinstance(plan["sequence"], int) and plan["sent_at"] > 0
    agent.process.send_signal(signal.SIGTERM)
    agent.process.wait(timeout=15)
    saved = json.loads((agent.root / SEQUENCE_FILE).read_text())
    assert saved["heartbeat"] >= sequences[-1] and saved["deployment"] == plan["sequence"]

    restarted_at = time.time()
    agent.start()  # the same state directory
    after = agent.report(kind="heartbeat")
    while after["sent_at"] < restarted_at:
        after = agent.report(kind="heartbeat")  # one sent before the restart may still be queued
    assert after["sequence"] > saved["heartbeat"]


def test_a_kernel_that_cannot_be_read_is_reported_and_the_heartbeat_goes_on(make_agent):
    # The agent's network namespace is gone (deleted under it, or mistyped): every kernel access fails.
    agent = make_agent(heartbeat_interval=1).start("--netns", "lvsweb-test-no-such-namespace")
    beats = [agent.report(kind="heartbeat") for _ in range(3)]
    for beat in beats:
        facts = beat["facts"]
        assert facts["drift"] is None  # unknown, never an empty ("in sync") drift
        assert facts["drift_error"].startswith("cannot compute the drift: No such file or directory")
        assert "lvsweb-test-no-such-namespace" in facts["drift_error"]
        assert facts["check"]["ok"] is False and facts["check"]["error"].startswith("cannot check the kernel")
    command = agent.command("plan")
    plan = agent.report(kind="plan", deployment=command["deployment"])
    assert plan["operations"] == [] and plan["error"].startswith("could not plan: No such file or directory")
    assert agent.process.poll() is None


def test_the_worker_needs_no_django():
    # kombu's JSON encoder imports django.utils.functional when Django happens to be installed; nothing
    # else of Django (settings, apps, database) and nothing of the console may be loaded by the agent.
    code = (
        "import json, sys, lvsweb_agent.worker, lvsweb_agent.cli, lvsweb_agent.enroll; "
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('django', 'lvsweb', 'clusters', 'audit', 'accounts') or m.startswith('agents.') and "
        "not m.startswith('lvsweb_agent'))))"
    )
    env = {key: value for key, value in os.environ.items() if not key.startswith("DJANGO")}
    loaded = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, timeout=60, capture_output=True, text=True)
    assert loaded.returncode == 0, loaded.stderr
    assert set(json.loads(loaded.stdout)) <= {
        "django",
        "django.utils",
        "django.utils.functional",
        "django.utils.regex_helper",
        "django.utils.version",
    }
