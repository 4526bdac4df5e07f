"""A redis-server of the test's own, on a free port: stopped and started again to take the broker away.

The shared Redis on 6379 serves every other test (and other work on this machine), so a test that needs
the broker to vanish starts its own. Nothing is persisted: a restart starts empty, as a real broker that
lost its memory would.
"""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

import redis


class SpareRedis:
    """`redis-server` on 127.0.0.1:<free port>, with `stop()`/`start()` to make it unreachable for a while."""

    def __init__(self, workdir: Path, *options: str):
        self.workdir = workdir
        self.options = options  # more redis-server arguments, e.g. ("--rename-command", "ACL", "")
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> SpareRedis:
        argv = ["redis-server", "--bind", "127.0.0.1", "--port", str(self.port), "--save", "", "--appendonly", "no"]
        self.process = subprocess.Popen(
            [*argv, "--dir", str(self.workdir), *self.options], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        client = redis.Redis(host="127.0.0.1", port=self.port, socket_connect_timeout=0.5)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise RuntimeError(f"redis-server on port {self.port} did not start") from None
                time.sleep(0.05)
        client.close()
        return self

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
        self.process = None

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None
