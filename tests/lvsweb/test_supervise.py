"""`make run` restarts a worker that dies (scripts/supervise), and Ctrl-C/SIGTERM still stops everything."""

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(60)
SUPERVISE = Path(__file__).resolve().parents[2] / "scripts" / "supervise"


def start(tmp_path: Path, command: str, max_delay: str = "1") -> subprocess.Popen:
    env = dict(os.environ, SUPERVISE_MAX_DELAY=max_delay)
    return subprocess.Popen(
        [str(SUPERVISE), "demo", "sh", "-c", command],
        env=env,
        stderr=(tmp_path / "supervise.err").open("wb"),
        cwd=tmp_path,
    )


def wait_for(condition, timeout=20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


def test_a_command_that_dies_is_started_again(tmp_path):
    runs = tmp_path / "runs"
    supervisor = start(tmp_path, f"echo $$ >> {runs}; exit 3")
    try:
        assert wait_for(lambda: runs.exists() and len(runs.read_text().split()) >= 3)
        assert supervisor.poll() is None
        assert "lvsweb: demo exited with status 3; starting it again in 1 s" in (tmp_path / "supervise.err").read_text()
    finally:
        supervisor.send_signal(signal.SIGTERM)
        assert supervisor.wait(timeout=10) is not None


def test_sigterm_stops_the_command_and_the_loop(tmp_path):
    pid_file = tmp_path / "pid"
    supervisor = start(tmp_path, f"echo $$ > {pid_file}; exec sleep 300")
    assert wait_for(lambda: pid_file.exists() and pid_file.read_text().strip())
    child = int(pid_file.read_text())
    supervisor.send_signal(signal.SIGTERM)
    supervisor.wait(timeout=10)
    assert wait_for(lambda: not Path(f"/proc/{child}").exists() or _zombie(child), timeout=5)
    assert pid_file.read_text().strip() == str(child)  # not started again


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[1].split()[0] == "Z"
    except OSError:
        return True


def test_compose_restarts_the_worker_and_beat():
    import yaml

    compose = yaml.safe_load((SUPERVISE.parents[1] / "docker-compose.yml").read_text())
    assert {name: compose["services"][name].get("restart") for name in ("web", "worker", "beat")} == dict.fromkeys(
        ("web", "worker", "beat"), "unless-stopped"
    )
