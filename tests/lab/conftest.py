"""Fixtures for the lab tests: a real kernel (the lab VM), the topology of labnet.py, the agent.

These tests only run inside the lab VM (`scripts/lab/run-tests`); anywhere else they skip with one line.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from labnet import Lab

IN_LAB_VM = os.environ.get("LVSWEB_IN_LAB_VM") == "1"
NOT_IN_LAB_VM = "lab tests need the lab VM (a real kernel with IPVS): run scripts/lab/run-tests"


@pytest.fixture(scope="session", autouse=True)
def _inside_the_lab_vm() -> None:
    """Skip every lab test outside the VM: they change the kernel's network state."""
    if not IN_LAB_VM:
        pytest.skip(NOT_IN_LAB_VM)


@pytest.fixture(scope="session")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """The topology, built once per session."""
    lab = Lab(tmp_path_factory.mktemp("lab"))
    lab.build()
    yield lab
    lab.destroy()


@pytest.fixture
def network(lab: Lab) -> Lab:
    """The topology as it was built: empty IPVS table, no VIPs, baseline sysctls and routes."""
    lab.reset()
    return lab


@pytest.fixture
def agent_on(tmp_path: Path) -> Iterator[Callable]:
    """`agent_on("rs1")`: an in-process Agent working in that host's namespace, root under tmp_path."""
    from agents.host.agent import Agent  # only inside the VM: the skip above comes first

    opened = {}

    def open_agent(host: str):
        if host not in opened:
            opened[host] = Agent(root=str(tmp_path / host), netns=host)
        return opened[host]

    yield open_agent
    for agent in opened.values():
        agent.close()


class AgentCli:
    """`lvsweb-agent` run in a host's namespace with the same root as `agent_on(host)`."""

    def __init__(self, workdir: Path):
        self.workdir = workdir
        entry_point = Path(sys.executable).parent / "lvsweb-agent"
        self.command = [str(entry_point)] if entry_point.exists() else [sys.executable, "-m", "agents.host.cli"]

    def root(self, host: str) -> Path:
        return self.workdir / host

    def __call__(self, host: str, *args: str, document: dict | None = None) -> subprocess.CompletedProcess:
        """Run `lvsweb-agent ARGS` in HOST's namespace; DOCUMENT, when given, is written to a file
        whose path replaces the argument "DOCUMENT"."""
        if document is not None:
            path = self.workdir / f"{host}-{time.monotonic_ns()}.json"
            path.write_text(json.dumps(document, indent=2))
            args = tuple(str(path) if arg == "DOCUMENT" else arg for arg in args)
        env = dict(os.environ, LVSWEB_AGENT_ROOT=str(self.root(host)))
        return subprocess.run(
            ["ip", "netns", "exec", host, *self.command, *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )


@pytest.fixture
def agent_cli(tmp_path: Path) -> AgentCli:
    return AgentCli(tmp_path)


@pytest.fixture
def apply_all(agent_on: Callable) -> Callable[[dict[str, dict]], None]:
    """`apply_all({"director": doc, "rs1": doc})`: apply each in-process, fail with the agent's words."""

    def apply(documents: dict[str, dict]) -> None:
        for host, document in documents.items():
            result = agent_on(host).apply(document)
            assert result.ok, f"apply on {host} failed: {result.error}"

    return apply
