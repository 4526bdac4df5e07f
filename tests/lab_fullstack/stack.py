"""The host side of a console + lab VM run, shared by the full-stack test and bench/apply_latency.py.

daphne and a control worker run here on the test database and broker; the lab VM runs a guest script
(guest.py) whose agents reach this machine's Redis and console port only through restricted qemu forwards
(`scripts/lab/vm-run`, LVSWEB_LAB_FORWARD_PORTS). The guest and this side talk JSON on two Redis lists.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
import redis
import requests
from django.conf import settings as django_settings
from django.db import connection

REPO = Path(__file__).resolve().parents[2]
GUEST_BROKER_HOST = "10.0.2.100"  # the VM's end of the forwards
WEBSOCKET_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455
CONTROL_WORKER = ("worker", "-Q", "control", "-P", "solo", "-l", "info")


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
    """A process this side started (daphne, the control worker, the VM), its output in a file."""

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

    def send(self, op: str, **fields) -> None:
        self.broker.rpush(f"{self.key}:requests", json.dumps({"op": op, **fields}))

    def ask(self, op: str, timeout: float = 120, **fields):
        self.send(op, **fields)
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

    def forget(self) -> None:
        self.broker.delete(f"{self.key}:tokens", f"{self.key}:requests", f"{self.key}:answers")


class Console:
    """The REST API, with a user's token."""

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


def guest_broker_url(redis_url: str) -> tuple[str, int]:
    """(REDIS_URL as the VM sees it through its forward, the local Redis port); ValueError unless on 127.0.0.1."""
    url = urlsplit(redis_url)
    if url.hostname not in ("127.0.0.1", "localhost"):
        raise ValueError(f"REDIS_URL must be on 127.0.0.1 (the VM's forward), not {url.geturl()}")
    userinfo = url.netloc.rpartition("@")[0]
    netloc = f"{userinfo + '@' if userinfo else ''}{GUEST_BROKER_HOST}:6379"
    return urlunsplit((url.scheme, netloc, url.path, "", "")), url.port or 6379


def console_env(agent_broker_url: str, heartbeat: int | None = None) -> dict[str, str]:
    """The environment of daphne and the control worker: this process's database, broker and signing key."""
    db = django_settings.DATABASES["default"]
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    env = dict(
        os.environ,
        DATABASE_URL=f"postgres://{db['USER']}{password}@{db['HOST']}:{db['PORT']}/{connection.settings_dict['NAME']}",
        REDIS_URL=django_settings.REDIS_URL,
        CELERY_BROKER_URL=django_settings.CELERY_BROKER_URL,
        AGENT_BROKER_URL=agent_broker_url,
        LVSWEB_CONTROL_SIGNING_KEY_FILE=django_settings.CONTROL_SIGNING_KEY_FILE,
        ALLOWED_HOSTS=f"127.0.0.1,{GUEST_BROKER_HOST}",
        SECRET_KEY=django_settings.SECRET_KEY,
    )
    if heartbeat is not None:
        env["AGENT_HEARTBEAT_INTERVAL"] = str(heartbeat)
    return env


def start_console(env: dict[str, str], logs: Path, worker_name: str) -> tuple[int, list[Background]]:
    """daphne on a free port and a control worker (solo pool); returns (port, [daphne, worker]) once daphne
    answers. The caller stops both (Background.stop), also when this fails."""
    port = free_port()
    daphne = Background(
        "daphne",
        [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "lvsweb.asgi:application"],
        env,
        logs / "daphne.log",
    )
    worker = Background(
        "control worker",
        [sys.executable, "-m", "celery", "-A", "lvsweb", *CONTROL_WORKER, "-n", f"{worker_name}@%h"],
        env,
        logs / "worker.log",
    )
    services = [daphne, worker]

    def answers():
        try:
            return requests.get(f"http://127.0.0.1:{port}/api/", timeout=5).status_code < 500
        except requests.ConnectionError:
            return False

    try:
        wait_for(answers, 120, "daphne to answer", daphne.output)
    except BaseException:
        for service in services:
            service.stop()
        raise
    return port, services


def start_beat(env: dict[str, str], logs: Path) -> Background:
    """`celery beat` on the console's schedule (the alert scan, offline hosts, expiries), its schedule file in
    LOGS; the control worker runs what it sends. The caller stops it."""
    command = [sys.executable, "-m", "celery", "-A", "lvsweb", "beat", "-l", "info", "-s", str(logs / "beat-schedule")]
    return Background("beat", command, env, logs / "beat.log")


@functools.cache
def agent_venv() -> str:
    """The virtualenv the guest's agents run from: LVSWEB_AGENT_VENV, else built once per session.

    scripts/lab/agent-venv installs the agent's wheel and its locked dependencies into a fresh virtualenv under
    var/lab/ (the VM sees this machine's files read-only at the same paths, but not its /tmp).
    """
    if os.environ.get("LVSWEB_AGENT_VENV"):
        return os.environ["LVSWEB_AGENT_VENV"]
    target = REPO / "var" / "lab" / "fullstack-agent-venv"
    built = subprocess.run(
        [str(REPO / "scripts/lab/agent-venv"), str(target)],
        capture_output=True,
        text=True,
        env=dict(os.environ, LVSWEB_VENV=os.environ.get("LVSWEB_VENV", sys.prefix)),
    )
    if built.returncode != 0:
        pytest.fail(f"scripts/lab/agent-venv failed:\n{built.stdout}{built.stderr}", pytrace=False)
    return built.stdout.strip().splitlines()[-1]


def start_guest(
    script: str,
    *,
    broker: redis.Redis,
    agent_broker_url: str,
    redis_port: int,
    console_port: int,
    key: str,
    logs: Path,
    topology: str = "",
) -> Guest:
    """Boot the lab VM running SCRIPT (guest.py) with the two forwards; the guest reads its tokens at KEY.

    TOPOLOGY "ha" adds guest.py's two HA directors (ha1, ha2) to the lab network (test_fullstack_ha.py).
    """
    vm_env = dict(
        os.environ,
        LVSWEB_LAB_FORWARD_PORTS=f"6379:{redis_port} 8000:{console_port}",
        LVSWEB_FULLSTACK_BROKER=agent_broker_url,
        LVSWEB_FULLSTACK_KEY=key,
        LVSWEB_AGENT_VENV=agent_venv(),
        LVSWEB_LAB_TIMEOUT=os.environ.get("LVSWEB_LAB_TIMEOUT", "1500"),
    )
    if topology:
        vm_env["LVSWEB_FULLSTACK_TOPOLOGY"] = topology
    vm = Background("lab VM", [str(REPO / "scripts/lab/vm-run"), "python", script], vm_env, logs / "vm.log")
    return Guest(broker, key, vm)


class PageSocket:
    """A cluster page's websocket, opened as the page's scripts open it (e.g. lvsweb/static/js/ha.js): on daphne,
    at the path the page's section names in `data-websocket`, with the browser's session cookie and Origin.

    Every message is kept with its time of receipt (`time.time()`, this machine's clock), read by a thread of
    its own. A small RFC 6455 client (the test process cannot run autobahn on asyncio: daphne's import chose
    Twisted for txaio already): it reads the server's text frames, answers pings, and sends nothing else.
    """

    def __init__(self, base: str, path: str, cookie: str):
        self.events: list[tuple[float, dict]] = []
        self.closed: str | None = None
        self._lock = threading.Lock()
        url = urlsplit(base)
        self._target = (url.hostname or "127.0.0.1", url.port or 80)
        self._path, self._origin, self._cookie = path, f"{url.scheme}://{url.netloc}", cookie
        self._sock: socket.socket | None = None
        self._thread = threading.Thread(target=self._read, name="page-socket", daemon=True)

    def open(self, timeout: float = 30) -> None:
        sock = socket.create_connection(self._target, timeout=timeout)
        nonce = base64.b64encode(os.urandom(16)).decode()
        request = (
            f"GET {self._path} HTTP/1.1\r\nHost: {self._target[0]}:{self._target[1]}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {nonce}\r\nSec-WebSocket-Version: 13\r\n"
            f"Origin: {self._origin}\r\nCookie: sessionid={self._cookie}\r\n\r\n"
        )
        sock.sendall(request.encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = sock.recv(4096)
            if not chunk:
                break
            head += chunk
        status = head.split(b"\r\n", 1)[0].decode(errors="replace")
        accept = base64.b64encode(hashlib.sha1((nonce + WEBSOCKET_GUID).encode()).digest()).decode()  # noqa: S324
        if " 101 " not in status or f"sec-websocket-accept: {accept}".lower() not in head.decode().lower():
            sock.close()
            pytest.fail(f"the page's websocket {self._path} did not open: {head.decode(errors='replace')}")
        self._buffer = head.split(b"\r\n\r\n", 1)[1]
        sock.settimeout(None)
        self._sock = sock
        self._thread.start()

    def _exactly(self, count: int) -> bytes:
        assert self._sock is not None
        while len(self._buffer) < count:
            chunk = self._sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed by the server")
            self._buffer += chunk
        data, self._buffer = self._buffer[:count], self._buffer[count:]
        return data

    def _send(self, opcode: int, payload: bytes) -> None:
        assert self._sock is not None and len(payload) < 126
        mask = os.urandom(4)
        masked = bytes(byte ^ mask[i % 4] for i, byte in enumerate(payload))
        self._sock.sendall(bytes([0x80 | opcode, 0x80 | len(payload)]) + mask + masked)

    def _read(self) -> None:
        message, kind = b"", 0
        try:
            while True:
                first, second = self._exactly(2)
                length = second & 0x7F
                if length >= 126:
                    length = int.from_bytes(self._exactly(2 if length == 126 else 8), "big")
                payload = self._exactly(length)
                opcode = first & 0x0F
                if opcode == 0x8:
                    code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else None
                    self.closed = f"closed by the server (code {code})"
                    return
                if opcode == 0x9:
                    self._send(0xA, payload)
                    continue
                if opcode in (0x1, 0x2):
                    message, kind = payload, opcode
                elif opcode == 0x0:
                    message += payload
                if first & 0x80 and kind == 0x1:
                    received = time.time()
                    with self._lock:
                        self.events.append((received, json.loads(message)))
                    message, kind = b"", 0
        except (OSError, ConnectionError, ValueError) as exc:
            self.closed = self.closed or f"{type(exc).__name__}: {exc}"

    def seen(self) -> list[tuple[float, dict]]:
        with self._lock:
            return list(self.events)

    def first(self, matches, since: int = 0, timeout: float = 0) -> tuple[float, dict] | None:
        """The first (time of receipt, event) from index SINCE on that matches(event), waiting up to TIMEOUT s."""
        deadline = time.monotonic() + timeout
        while True:
            found = next(((at, event) for at, event in self.seen()[since:] if matches(event)), None)
            if found is not None or time.monotonic() >= deadline:
                return found
            if self.closed is not None:
                pytest.fail(f"the page's websocket closed: {self.closed}", pytrace=False)
            time.sleep(0.05)

    def close(self) -> None:
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._send(0x8, (1000).to_bytes(2, "big"))
            with contextlib.suppress(OSError):
                self._sock.shutdown(socket.SHUT_RDWR)
            self._sock.close()
            self._thread.join(timeout=10)


def session_cookie(user) -> str:
    """A signed-in browser's session cookie for USER (a session in the test database, which daphne reads)."""
    from django.test import Client

    client = Client()
    client.force_login(user)
    return client.cookies["sessionid"].value
