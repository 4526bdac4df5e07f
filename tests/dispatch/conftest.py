"""Fixtures of the dispatch tests: a TUN cluster with an enrolled director and two enrolled real servers, and a
real control worker."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from lvsweb_agent.envelope import generate_private_key, public_key_text

from clusters.choices import HostRole
from tests.dispatch.broker import purge
from tests.factories import make_cluster, make_cluster_host, make_host, make_real_server, make_virtual_service


class Lab:
    """The inventory of the lab topology: director + rs1 + rs2, one TUN service on 10.10.0.100:80."""

    def __init__(self):
        self.keys = {name: generate_private_key() for name in ("director", "rs1", "rs2")}
        self.cluster = make_cluster(name="web", slug="web", drain_timeout=30)
        self.director = make_host(
            hostname="director", vip_interface="eth0", public_key=public_key_text(self.keys["director"])
        )
        self.rs1 = make_host(hostname="rs1", uplinks="eth0", public_key=public_key_text(self.keys["rs1"]))
        self.rs2 = make_host(hostname="rs2", uplinks="eth0", public_key=public_key_text(self.keys["rs2"]))
        make_cluster_host(cluster=self.cluster, host=self.director, role=HostRole.DIRECTOR)
        make_cluster_host(cluster=self.cluster, host=self.rs1, role=HostRole.REAL_SERVER)
        make_cluster_host(cluster=self.cluster, host=self.rs2, role=HostRole.REAL_SERVER)
        self.service = make_virtual_service(cluster=self.cluster, address="10.10.0.100", port=80, scheduler="rr")
        self.real_server1 = make_real_server(virtual_service=self.service, address="10.20.0.11", host=self.rs1)
        self.real_server2 = make_real_server(virtual_service=self.service, address="10.20.0.12", host=self.rs2)


#: The broker queues the lab cluster's commands and reports travel through.
LAB_QUEUES = ("control", "lvsweb.host.director", "lvsweb.host.rs1", "lvsweb.host.rs2")


@pytest.fixture
def lab(db):
    """The lab inventory, with its queues empty before and after (tests share one Redis database)."""
    purge(*LAB_QUEUES)
    yield Lab()
    purge(*LAB_QUEUES)


REPO = Path(__file__).resolve().parents[2]


class ControlWorker:
    """`celery worker -Q control` as `make run` starts it, on the test database and the test broker (or on other
    `queues`, as a partitioned control plane runs them: docs/scaling.md)."""

    def __init__(
        self,
        log_path: Path,
        *,
        queues: str = "control",
        name: str = "test-control",
        level: str = "warning",
        **extra_env: str,
    ):
        db = settings.DATABASES["default"]
        env = dict(
            os.environ,
            DATABASE_URL=f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{connection.settings_dict['NAME']}",
            REDIS_URL=settings.REDIS_URL,
            CELERY_BROKER_URL=settings.CELERY_BROKER_URL,
            LVSWEB_CONTROL_SIGNING_KEY_FILE=settings.CONTROL_SIGNING_KEY_FILE,
            **extra_env,
        )
        self.log_path = log_path
        argv = [sys.executable, "-m", "celery", "-A", "lvsweb", "worker", "-Q", queues, "-P", "solo"]
        with log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [*argv, "-n", f"{name}@%h", "-l", level], cwd=REPO, env=env, stdout=log, stderr=log
            )

    def alive(self) -> bool:
        return self.process.poll() is None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)


@pytest.fixture
def control_worker(tmp_path):
    """A running control worker (its output in a file: `.log()`)."""
    worker = ControlWorker(tmp_path / "control-worker.log")
    yield worker
    worker.stop()
