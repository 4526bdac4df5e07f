"""Full stack: the console (daphne) and a control worker on this machine, three agents in the lab VM.

The agents (director, rs1, rs2: `lvsweb-agent --netns HOST run` in the VM, see guest.py) reach this machine's
Redis and the console's HTTP port only through two restricted qemu forwards (`scripts/lab/vm-run`,
LVSWEB_LAB_FORWARD_PORTS): 10.0.2.100:6379 and 10.0.2.100:8000. Everything goes through the REST API: the
cluster is created, planned and applied, and real HTTP traffic from the lab's client namespace to the VIP
proves what the kernels do. Then a weight change shifts the traffic, a stopped agent shows offline, and a
service deleted behind the console's back (`ipvsadm -D`) is reported as drift and repaired by Reconcile.

Runs on this machine (not in the VM) with the lab's prerequisites, one VM boot (3-8 minutes):

    DATABASE_URL=postgres://... REDIS_URL=redis://127.0.0.1:6379/13 .venv/bin/pytest -m lab tests/lab_fullstack

Without the lab's prerequisites it skips with one line; LVSWEB_LAB_REQUIRED=1 makes that a failure.
"""

from __future__ import annotations

import collections
import contextlib
import itertools
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
import redis
import requests
from django.conf import settings as django_settings
from django.db import connection

from accounts.actions import create_api_token
from agents import actions
from tests.dispatch.broker import purge
from tests.factories import make_member, make_team, make_user

pytestmark = [pytest.mark.lab, pytest.mark.django_db(transaction=True)]

REPO = Path(__file__).resolve().parents[2]
HOSTS = ("director", "rs1", "rs2")
QUEUES = ("control", *(f"lvsweb.host.{host}" for host in HOSTS))
VIP = "10.10.0.100"
CONTROL_WORKER = ("worker", "-Q", "control", "-P", "solo", "-n", "fullstack-control@%h", "-l", "info")
HEARTBEAT = 2  # seconds: offline after 3 missed heartbeats, drift seen within one


def lab_missing() -> str:
    """What this machine lacks for the lab VM and its forwards ('' when nothing)."""
    env = dict(os.environ, LVSWEB_VENV=os.environ.get("LVSWEB_VENV", sys.prefix))
    done = subprocess.run(
        ["bash", "-c", ". scripts/lab/lib.sh && lab_missing"], cwd=REPO, env=env, capture_output=True, text=True
    )
    missing = done.stdout.strip() or (done.stderr.strip() and f"scripts/lab/lib.sh: {done.stderr.strip()}")
    if not missing and shutil.which("socat") is None:
        missing = "socat (apt-get install socat)"
    return missing


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for(condition, timeout: float, what: str, explain=lambda: "", interval: float = 1.0):
    """condition()'s first truthy value within TIMEOUT seconds, else fail saying WHAT (and explain())."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {timeout:.0f} s\n{explain()}", pytrace=False)
        time.sleep(interval)


class Background:
    """A process this test started (daphne, the control worker, the VM), its output in a file."""

    def __init__(self, name: str, command: list[str], env: dict, log: Path):
        self.name, self.log = name, log
        with open(log, "wb") as out:
            self.process = subprocess.Popen(
                command, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )

    def output(self, tail: int = 6000) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return f"--- {self.name} (exit code {self.process.poll()}), last of {self.log}:\n{text[-tail:]}"

    def stop(self, timeout: float = 20) -> None:
        """Stop the process and every process under it (vm-run's `timeout` runs vng and qemu in a process
        group of its own: a VM left running would keep its agents consuming the next run's commands)."""
        if self.process.poll() is not None:
            return
        family = [self.process.pid, *descendants(self.process.pid)]
        signal_all(family, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=timeout)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and any(Path(f"/proc/{pid}").exists() for pid in family[1:]):
            time.sleep(0.5)
        signal_all([pid for pid in family if Path(f"/proc/{pid}").exists()], signal.SIGKILL)
        self.process.wait()


def descendants(pid: int) -> list[int]:
    """The processes under PID (children, their children...), from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rpartition(")")[2].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        below = children.get(todo.pop(), [])
        found += below
        todo += below
    return found


def signal_all(pids: list[int], signum: int) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signum)


class Guest:
    """guest.py in the lab VM, spoken to through Redis (see its docstring)."""

    def __init__(self, broker: redis.Redis, key: str, vm: Background):
        self.broker, self.key, self.vm = broker, key, vm

    def answer(self, timeout: float) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            item = self.broker.blpop([f"{self.key}:answers"], timeout=2)
            if item is not None:
                message = json.loads(item[1])
                if not message["ok"]:
                    logs = "\n".join(f"--- agent {h}:\n{t}" for h, t in message.get("logs", {}).items())
                    pytest.fail(f"in the lab VM:\n{message['error']}\n{logs}", pytrace=False)
                return message["result"]
            if self.vm.process.poll() is not None:
                pytest.fail(f"the lab VM ended early\n{self.vm.output()}", pytrace=False)
        pytest.fail(f"no answer from the lab VM within {timeout:.0f} s\n{self.vm.output()}", pytrace=False)

    def ask(self, op: str, timeout: float = 120, **fields):
        self.broker.rpush(f"{self.key}:requests", json.dumps({"op": op, **fields}))
        return self.answer(timeout)

    def fetch(self, count: int) -> list[str]:
        """COUNT HTTP requests from the client namespace to the VIP, a new connection each: who answered."""
        return self.ask("fetch", count=count)

    def agent_logs(self) -> str:
        try:
            logs = self.ask("logs", timeout=60)
        except BaseException as exc:  # diagnostics only: never hide the failure being explained
            return f"(agent logs unavailable: {exc})"
        return "\n".join(f"--- agent {host}:\n{text}" for host, text in logs.items())


class Console:
    """The REST API, with a staff user's token."""

    def __init__(self, base: str, token: str):
        self.base = base
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Token {token}"

    def call(self, method: str, path: str, expect: int = 200, **body) -> dict | list:
        response = self.session.request(method, f"{self.base}/api/{path}", json=body or None, timeout=30)
        assert response.status_code == expect, f"{method} /api/{path}: {response.status_code} {response.text}"
        return response.json()

    def post(self, path: str, expect: int = 201, **body):
        return self.call("POST", path, expect, **body)

    def get(self, path: str):
        return self.call("GET", path)

    def hosts(self) -> dict[str, dict]:
        return {host["hostname"]: host for host in self.get("hosts/?page_size=100")["results"]}

    def deployment(self, pk: int) -> dict:
        return self.get(f"deployments/{pk}/")


def wait_finished(console: Console, deployments: list[dict], explain, timeout: float = 240) -> list[dict]:
    """The deployments once none is pending or applying; each must have ended `applied`."""

    def finished():
        current = [console.deployment(d["id"]) for d in deployments]
        return current if all(d["status"] not in ("pending", "applying") for d in current) else None

    current = wait_for(finished, timeout, "the agents to answer", explain)
    failed = [f"{d['host']}: {d['status']} {d['error']}" for d in current if d["status"] != "applied"]
    assert not failed, "\n".join(failed) + "\n" + explain()
    return current


def unavailable(reason: str) -> None:
    """Skip with one line naming what is missing; under LVSWEB_LAB_REQUIRED=1 (CI) fail instead."""
    if os.environ.get("LVSWEB_LAB_REQUIRED") == "1":
        pytest.fail(f"full-stack lab test FAILED: {reason} (LVSWEB_LAB_REQUIRED=1)", pytrace=False)
    pytest.skip(f"full-stack lab test skipped: {reason} — LVSWEB_LAB_REQUIRED=1 makes this an error")


@pytest.fixture
def prerequisites():
    missing = lab_missing()
    if missing:
        unavailable(f"missing {missing}")


@pytest.fixture
def redis_forward(prerequisites) -> tuple[str, int, str]:
    """(this machine's Redis as the VM must see it: AGENT_BROKER_URL, the local Redis port, test key prefix)."""
    url = urlsplit(django_settings.REDIS_URL)
    if url.hostname not in ("127.0.0.1", "localhost"):
        unavailable(f"REDIS_URL must be on 127.0.0.1 (the VM's forward), not {url.geturl()}")
    userinfo = url.netloc.rpartition("@")[0]
    agent_url = urlunsplit((url.scheme, f"{userinfo + '@' if userinfo else ''}10.0.2.100:6379", url.path, "", ""))
    return agent_url, url.port or 6379, f"lvsweb:fullstack:{uuid.uuid4().hex}"


@pytest.fixture
def stack(redis_forward, tmp_path, settings):
    """daphne and a control worker on the test database and broker; yields (Console of an owner of team "lab",
    the console's port, the processes)."""
    agent_broker_url, _, _ = redis_forward
    settings.AGENT_HEARTBEAT_INTERVAL = HEARTBEAT  # mark_offline_hosts runs in this process
    db = django_settings.DATABASES["default"]
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    env = dict(
        os.environ,
        DATABASE_URL=f"postgres://{db['USER']}{password}@{db['HOST']}:{db['PORT']}/{connection.settings_dict['NAME']}",
        REDIS_URL=django_settings.REDIS_URL,
        CELERY_BROKER_URL=django_settings.CELERY_BROKER_URL,
        AGENT_BROKER_URL=agent_broker_url,
        AGENT_HEARTBEAT_INTERVAL=str(HEARTBEAT),
        LVSWEB_CONTROL_SIGNING_KEY_FILE=django_settings.CONTROL_SIGNING_KEY_FILE,
        ALLOWED_HOSTS="127.0.0.1,10.0.2.100",
        SECRET_KEY=django_settings.SECRET_KEY,
    )
    purge(*QUEUES)
    port = free_port()
    daphne = Background(
        "daphne",
        [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "lvsweb.asgi:application"],
        env,
        tmp_path / "daphne.log",
    )
    worker = Background(
        "control worker",
        [sys.executable, "-m", "celery", "-A", "lvsweb", *CONTROL_WORKER],
        env,
        tmp_path / "worker.log",
    )
    try:
        user = make_user(staff=False)
        make_member(user, team=make_team(name="Lab", slug="lab"), role="owner")
        _, key = create_api_token(acting_user=None, user=user, name="full-stack lab test")
        console = Console(f"http://127.0.0.1:{port}", key)

        def answers():
            try:
                return requests.get(f"{console.base}/api/", timeout=5).status_code < 500
            except requests.ConnectionError:
                return False

        wait_for(answers, 120, "daphne to answer", daphne.output)
        yield console, port, [daphne, worker]
    finally:
        worker.stop()
        daphne.stop()
        purge(*QUEUES)


def test_the_console_drives_three_agents_in_the_lab_vm(redis_forward, stack, tmp_path):
    agent_broker_url, redis_port, key = redis_forward
    console, console_port, services = stack
    broker = redis.Redis.from_url(django_settings.REDIS_URL, socket_timeout=30)

    # -- the inventory, through the API -----------------------------------------------------------------------
    console.post("clusters/", team="lab", name="lab", slug="lab", drain_timeout=10)
    addresses = {"director": "10.10.0.2", "rs1": "10.20.0.11", "rs2": "10.20.0.12"}
    fields = {"director": {"vip_interface": "eth0"}, "rs1": {"uplinks": "eth0"}, "rs2": {"uplinks": "eth0"}}
    hosts = {
        host: console.post("hosts/", team="lab", hostname=host, management_address=addresses[host], **fields[host])
        for host in HOSTS
    }
    for host in HOSTS:
        role = "director" if host == "director" else "real_server"
        console.post("cluster-hosts/", cluster="lab", host=host, role=role)
    service = console.post(
        "virtual-services/", cluster="lab", protocol="tcp", address=VIP, port=80, scheduler="rr", forward_method="tun"
    )
    real_servers = {
        host: console.post("real-servers/", virtual_service=service["id"], address=addresses[host], weight=1, host=host)
        for host in ("rs1", "rs2")
    }
    tokens = {host: console.post(f"hosts/{hosts[host]['id']}/enrollment-token/")["token"] for host in HOSTS}

    # -- the lab VM: topology, enrollment, three agents ---------------------------------------------------------
    broker.set(f"{key}:tokens", json.dumps(tokens), ex=3600)
    vm_env = dict(
        os.environ,
        LVSWEB_LAB_FORWARD_PORTS=f"6379:{redis_port} 8000:{console_port}",
        LVSWEB_FULLSTACK_BROKER=agent_broker_url,
        LVSWEB_FULLSTACK_KEY=key,
        LVSWEB_LAB_TIMEOUT=os.environ.get("LVSWEB_LAB_TIMEOUT", "1500"),
    )
    vm = Background(
        "lab VM",
        [str(REPO / "scripts/lab/vm-run"), "python", "tests/lab_fullstack/guest.py"],
        vm_env,
        tmp_path / "vm.log",
    )
    guest = Guest(broker, key, vm)
    started = time.monotonic()

    def explain() -> str:
        return "\n".join([guest.agent_logs(), *(s.output() for s in services), vm.output(3000)])

    try:
        assert guest.answer(timeout=900) == "ready"  # booted, topology built, enrolled, agents started
        enrolled = console.hosts()
        assert {h: enrolled[h]["enrolled_at"] is not None for h in HOSTS} == dict.fromkeys(HOSTS, True)
        wait_for(
            lambda: all(h["agent_status"] == "online" for h in console.hosts().values()),
            400,
            "three agents online (heartbeats through the forwarded Redis)",
            explain,
            interval=2,
        )
        print(f"agents online after {time.monotonic() - started:.0f} s")

        # -- plan, then apply: real traffic through the VIP ------------------------------------------------------
        assert guest.fetch(2) == ["", ""]  # nothing answers on the VIP before the apply
        plans = wait_finished(console, console.post("clusters/lab/plan/", expect=202), explain)
        assert all(plan["operations"] for plan in plans), plans
        assert guest.ask("ipvsadm", args=["-Sn"]) == ""  # a plan changes nothing

        revision = console.post("clusters/lab/apply/", expect=202)
        assert revision["number"] == 1
        wait_finished(console, revision["deployments"], explain)
        answers = guest.fetch(6)
        assert collections.Counter(answers) == {"rs1": 3, "rs2": 3}, answers
        assert all(a != b for a, b in itertools.pairwise(answers)), answers  # round robin
        wait_for(
            lambda: all(h["drift"] == [] and h["applied_serial"] for h in console.hosts().values()),
            60,
            "every host in sync after the apply",
            explain,
        )

        # -- a weight change through the API shifts the traffic -------------------------------------------------
        console.call("PATCH", f"real-servers/{real_servers['rs2']['id']}/", weight=0)
        revision = console.post("clusters/lab/apply/", expect=202)
        assert revision["number"] == 2
        wait_finished(console, revision["deployments"], explain)
        assert "10.20.0.12:80" in guest.ask("ipvsadm", args=["-Sn"])  # weight 0, not removed
        assert guest.fetch(4) == ["rs1"] * 4

        # -- a stopped agent: its host shows offline -------------------------------------------------------------
        assert console.hosts()["rs2"]["agent_status"] == "online"
        guest.ask("stop", host="rs2")  # SIGTERM, as systemd stops it: warm shutdown

        def rs2_offline():
            actions.mark_offline_hosts()  # what beat runs every 5 s
            return console.hosts()["rs2"]["agent_status"] == "offline"

        wait_for(rs2_offline, 60, "rs2 to show 'agent offline' after its agent stopped", explain)
        assert {h: s["agent_status"] for h, s in console.hosts().items()} == {
            "director": "online",
            "rs1": "online",
            "rs2": "offline",
        }

        # -- a service deleted behind the console's back: drift, then Reconcile restores traffic -----------------
        guest.ask("ipvsadm", args=["-D", "-t", f"{VIP}:80"])
        assert guest.fetch(2) == ["", ""]
        drift = wait_for(
            lambda: console.hosts()["director"]["drift"],
            60,
            "the director's heartbeat to report the deleted service as drift",
            explain,
        )
        assert any(VIP in json.dumps(operation) for operation in drift), drift
        deployment = console.post("clusters/lab/reconcile/", expect=202, host="director")
        assert deployment["kind"] == "reconcile"
        wait_finished(console, [deployment], explain)
        assert guest.fetch(4) == ["rs1"] * 4
        wait_for(lambda: console.hosts()["director"]["drift"] == [], 60, "the director back in sync", explain)

        assert guest.ask("quit") == "bye"
        vm.process.wait(timeout=180)
        assert vm.process.returncode == 0, vm.output()
        print(f"full-stack lab scenario: {time.monotonic() - started:.0f} s with the VM")
    finally:
        vm.stop(timeout=60)
        broker.delete(f"{key}:tokens", f"{key}:requests", f"{key}:answers")
