"""The console served for real to the browser tests: daphne (HTTP + websockets) on the test database and broker.

The browser talks to a separate daphne process, so the rows a test makes must be committed for daphne to see
them, and what daphne commits must be visible to the test: the browser tests run with
`django_db(transaction=True)`, whose teardown empties every table. Static files are collected into a fresh
folder first and served by WhiteNoise with DEBUG off, as in production.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests
from django.conf import settings
from django.db import connection

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def server_environment(static_root: Path) -> dict[str, str]:
    """The environment of `make run`'s daphne, pointed at the test database, broker and channel layer."""
    db = settings.DATABASES["default"]
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return dict(
        os.environ,
        DATABASE_URL=f"postgres://{db['USER']}{password}@{db['HOST']}:{db['PORT']}/{connection.settings_dict['NAME']}",
        REDIS_URL=settings.REDIS_URL,
        CELERY_BROKER_URL=settings.CELERY_BROKER_URL,
        CHANNELS_PREFIX=settings.CHANNEL_LAYERS["default"]["CONFIG"]["prefix"],
        LVSWEB_CONTROL_SIGNING_KEY_FILE=settings.CONTROL_SIGNING_KEY_FILE,
        SECRET_KEY=settings.SECRET_KEY,
        STATIC_ROOT=str(static_root),
        ALLOWED_HOSTS="127.0.0.1",
        DEBUG="0",
    )


class Background:
    """A process the browser tests started, in a session of its own, its output in a log file."""

    name = "process"

    def __init__(self, command: list[str], env: dict[str, str], log: Path):
        self.log = log
        with open(log, "wb") as out:
            self.process = subprocess.Popen(
                command, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )

    def output(self, tail: int = 4000) -> str:
        """The end of the process's log, to explain a failure."""
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return f"--- {self.name} (exit code {self.process.poll()}), last of {self.log}:\n{text[-tail:]}"

    def stop(self, timeout: float = 15) -> None:
        """SIGTERM (a warm shutdown), then SIGKILL after `timeout` seconds; only this process's session."""
        if self.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


class ConsoleServer(Background):
    """daphne serving lvsweb.asgi on 127.0.0.1:<free port>, after collectstatic into `workdir`/static."""

    name = "daphne"

    def __init__(self, workdir: Path):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = server_environment(workdir / "static")
        subprocess.run(
            [sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"], cwd=REPO, env=env, check=True
        )
        daphne = [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(self.port), "lvsweb.asgi:application"]
        super().__init__(daphne, env, workdir / "daphne.log")

    def wait_ready(self, timeout: float = 60) -> None:
        """Return once the sign-in page answers; raise with daphne's log when it does not in time."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"daphne ended before answering\n{self.output()}")
            with contextlib.suppress(requests.ConnectionError, requests.Timeout):  # a loaded machine: ask again
                if requests.get(f"{self.url}/accounts/login/", timeout=5).status_code == 200:
                    return
            time.sleep(0.3)
        raise RuntimeError(f"daphne did not answer within {timeout:.0f} s\n{self.output()}")


class ControlWorker(Background):
    """`celery worker -Q control` as `make run` starts it, on the test database and broker: it records agents'
    reports and sends their events on to the browsers."""

    name = "control worker"

    def __init__(self, workdir: Path, *, queues: str = "control", name: str = "control"):
        command = [sys.executable, "-m", "celery", "-A", "lvsweb", "worker", "-Q", queues, "-P", "solo"]
        command += ["-n", f"browser-{name}-{os.getpid()}@%h", "-l", "info"]
        super().__init__(command, server_environment(workdir / "static"), workdir / f"{name}-worker.log")

    def wait_ready(self, timeout: float = 60) -> None:
        """Return once the worker says it is ready (it consumes from then on); raise with its log otherwise."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the control worker ended early\n{self.output()}")
            if " ready." in self.log.read_text(errors="replace"):
                return
            time.sleep(0.3)
        raise RuntimeError(f"the control worker was not ready within {timeout:.0f} s\n{self.output()}")
