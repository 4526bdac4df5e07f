"""Fixtures for the lab tests: a real kernel (the lab VM), the topology of labnet.py, the agent.

These tests only run inside the lab VM (`scripts/lab/run-tests`); anywhere else they skip with one line.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from labnet import Lab

IN_LAB_VM = os.environ.get("LVSWEB_IN_LAB_VM") == "1"

NOT_IN_LAB_VM = (
    "lab tests skipped (tests/lab): they need the lab VM, a real kernel with IPVS: run scripts/lab/run-tests"
)

if not IN_LAB_VM:
    # They change the kernel's network state: outside the VM they are not even collected, and the
    # run says so in one line instead of one per test.
    collect_ignore_glob = ["test_*.py"]

    def pytest_terminal_summary(terminalreporter) -> None:
        terminalreporter.write_line(NOT_IN_LAB_VM, yellow=True)

    def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
        if exitstatus == pytest.ExitCode.NO_TESTS_COLLECTED:  # `pytest tests/lab` outside the VM
            session.exitstatus = pytest.ExitCode.OK


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
    from lvsweb_agent.agent import Agent  # only inside the VM: the skip above comes first

    opened = {}

    def open_agent(host: str):
        if host not in opened:
            opened[host] = Agent(root=str(tmp_path / host), netns=host)
        return opened[host]

    yield open_agent
    for agent in opened.values():
        agent.close()


def agent_program() -> list[str]:
    """The installed agent the tests start as a process: LVSWEB_AGENT_VENV's `lvsweb-agent`.

    scripts/lab/run-tests builds that virtualenv from the agent's wheel (scripts/lab/agent-venv). Without it
    (pytest started by hand in the VM), this environment's console script.
    """
    venv = os.environ.get("LVSWEB_AGENT_VENV")
    if venv:
        return [str(Path(venv) / "bin" / "lvsweb-agent")]
    entry_point = Path(sys.executable).parent / "lvsweb-agent"
    return [str(entry_point)] if entry_point.exists() else [sys.executable, "-m", "lvsweb_agent.cli"]


@dataclass
class CliResult:
    """What a `lvsweb-agent` run printed and returned."""

    returncode: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


class AgentCli:
    """`lvsweb-agent` for a host, with the same root as `agent_on(host)`.

    `agent_cli(host, ...)` runs the CLI's `main()` in this process with `--netns HOST`: starting Python
    and importing pyroute2 costs 20-60 s under emulation. `agent_cli.process(host, ...)` runs the
    console script as an operator would, `ip netns exec HOST lvsweb-agent ...` (a few tests do).
    An argument "DOCUMENT" is replaced by the path of a file holding `document`.
    """

    def __init__(self, workdir: Path):
        self.workdir = workdir

    def root(self, host: str) -> Path:
        return self.workdir / host

    def _arguments(self, host: str, args: tuple[str, ...], document: dict | None) -> list[str]:
        if document is not None:
            path = self.workdir / f"{host}-{time.monotonic_ns()}.json"
            path.write_text(json.dumps(document, indent=2))
            args = tuple(str(path) if arg == "DOCUMENT" else arg for arg in args)
        return ["--root", str(self.root(host)), *args]

    def __call__(self, host: str, *args: str, document: dict | None = None) -> CliResult:
        from lvsweb_agent.cli import main

        stdout, stderr = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            returncode = main(["--netns", host, *self._arguments(host, args, document)])
        return CliResult(returncode, stdout.getvalue(), stderr.getvalue())

    def process(self, host: str, *args: str, document: dict | None = None) -> CliResult:
        done = subprocess.run(
            ["ip", "netns", "exec", host, *agent_program(), *self._arguments(host, args, document)],
            capture_output=True,
            text=True,
            timeout=300,
        )
        return CliResult(done.returncode, done.stdout, done.stderr)


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
