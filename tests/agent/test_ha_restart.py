"""An agent restart on a director with HA: keepalived runs on and is adopted, never doubled; an agent that stops in
order leaves a bounded `hold` in the fitness file, one that dies leaves a stale one (docs/ha.md).

The lab test (tests/lab/test_lab_ha.py) does the same with Debian's keepalived and real agent processes; here a
stand-in process with keepalived's command line shows how the agent finds one whose pid file is gone.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from lvsweb_agent import keepalived
from lvsweb_agent.ha import GRACE_ENV, RESTART_GRACE, HAFollower, restart_grace_from_environment


def track(directory: Path, content: str) -> int:
    """The track script's verdict (0: fit) on a fitness file holding `content`."""
    keepalived.write_files(directory, "# not used here\n", program=None)
    (directory / keepalived.FITNESS).write_text(content + "\n")
    return subprocess.run([str(directory / keepalived.TRACK)], check=False).returncode


@pytest.mark.parametrize(
    ("content", "fit"),
    [("hold {later}", True), ("hold {past}", False), ("hold soon", False), ("hold", False), ("holds {later}", False)],
)
def test_the_track_script_keeps_a_hold_until_its_time(tmp_path, content, fit):
    now = time.time()
    assert (track(tmp_path, content.format(later=f"{now + 20:.3f}", past=f"{now - 2:.3f}")) == 0) is fit


def fit_follower(directory: Path, clock: float = 1000.0) -> HAFollower:
    follower = HAFollower(directory, clock=lambda: clock)
    follower.active = True
    follower.directory.mkdir(parents=True)
    return follower


def test_an_agent_stopping_in_order_holds_the_vips_for_the_grace_and_a_new_agent_takes_over(tmp_path):
    follower = fit_follower(tmp_path, clock=time.time())
    fitness = follower.directory / keepalived.FITNESS
    assert follower.hold(30)
    word, until = fitness.read_text().split()
    assert word == "hold" and float(until) == pytest.approx(time.time() + 30, abs=2)
    assert track(follower.directory, fitness.read_text().strip()) == 0
    # The new agent's first round writes its own verdict over the hold.
    follower.write_fitness(time.time())
    assert fitness.read_text().startswith("fit ")


def test_an_unfit_director_an_inactive_one_or_grace_0_holds_nothing(tmp_path):
    follower = fit_follower(tmp_path)
    fitness = follower.directory / keepalived.FITNESS
    follower.unfit = "uplink eth0 down"
    follower.write_fitness(1000.0)
    assert not follower.hold(30)
    assert fitness.read_text() == "unfit 1000.000 uplink eth0 down\n"  # left as it was: the VIPs go
    follower.unfit = None
    assert not follower.hold(0)
    follower.last_round = time.monotonic() - 60  # its rounds had stopped: no word of it is worth holding for
    assert not follower.hold(30)
    follower.active = False
    follower.last_round = time.monotonic()
    assert not follower.hold(30)
    assert fitness.read_text().startswith("unfit ")


def test_the_grace_comes_from_the_environment(monkeypatch):
    monkeypatch.delenv(GRACE_ENV, raising=False)
    assert restart_grace_from_environment() == RESTART_GRACE == 30
    monkeypatch.setenv(GRACE_ENV, "120")
    assert restart_grace_from_environment() == 120
    monkeypatch.setenv(GRACE_ENV, "0")
    assert restart_grace_from_environment() == 0
    monkeypatch.setenv(GRACE_ENV, "soon")
    assert restart_grace_from_environment() == RESTART_GRACE


# -- adopting the keepalived that runs ------------------------------------------------------------------------
@pytest.fixture
def running_keepalived(tmp_path: Path) -> Iterator[subprocess.Popen]:
    """A process with keepalived's command line on tmp_path's configuration, and a child with the same one (as
    `keepalived --vrrp` has its VRRP process): a bash whose argv[0] says keepalived."""
    config = tmp_path / keepalived.CONFIG
    config.write_text("# stand-in\n")
    process = subprocess.Popen(
        ["/usr/sbin/keepalived", "-c", "( sleep 300; : ) & wait", "keepalived", "--vrrp", "--use-file", str(config)],
        executable="/bin/bash",
        start_new_session=True,
    )
    deadline = time.monotonic() + 10
    while len(_ours(tmp_path)) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    yield process
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=10)


def _ours(directory: Path) -> list[int]:
    config = str(directory / keepalived.CONFIG).encode()
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and config in (entry / "cmdline").read_bytes().split(b"\0"):
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def test_a_keepalived_whose_pid_file_is_gone_is_found_by_its_command_line(tmp_path, running_keepalived):
    assert len(_ours(tmp_path)) == 2  # parent and child
    assert keepalived.running_pid(tmp_path) is None
    assert keepalived.find_running(tmp_path) == running_keepalived.pid  # the parent, not its child


def test_start_adopts_the_keepalived_that_runs_instead_of_starting_a_second(tmp_path, running_keepalived):
    launched = tmp_path / "launched"
    program = tmp_path / "keepalived-program"
    program.write_text(f"#!/bin/sh\necho started >> {launched}\n")
    program.chmod(0o755)
    (tmp_path / keepalived.STATES).mkdir()
    (tmp_path / keepalived.STATES / "i-web").write_text("MASTER 150 1000.0\n")

    assert keepalived.start(tmp_path, program=str(program)) == running_keepalived.pid
    assert not launched.exists()  # no second keepalived
    assert keepalived.running_pid(tmp_path) == running_keepalived.pid  # its pid file again, for the next rounds
    assert (tmp_path / keepalived.STATES / "i-web").exists()  # its VRRP states stay: nothing restarted


def test_a_recycled_pid_in_the_pid_file_is_not_keepalived(tmp_path):
    (tmp_path / keepalived.CONFIG).write_text("# stand-in\n")
    (tmp_path / keepalived.PID).write_text(f"{os.getpid()}\n")  # this pytest: alive, but no keepalived
    assert keepalived.running_pid(tmp_path) is None
    assert keepalived.find_running(tmp_path) is None


def test_the_follower_keeps_the_longest_gap_between_two_fitness_writes(tmp_path):
    follower = fit_follower(tmp_path)
    for now in (100.0, 100.5, 101.2, 103.0, 103.4):  # 100.5 and 103.4: under a second, nothing written
        follower.write_fitness(now)
    assert follower.longest_gap == pytest.approx(1.8)


def test_an_upgraded_agent_replaces_the_scripts_an_older_one_left(tmp_path):
    keepalived.write_files(tmp_path, "# not used here\n", program=None)
    track_script = tmp_path / keepalived.TRACK
    old = '#!/bin/sh\nread -r word stamp rest < fitness || exit 1\n[ "$word" = fit ] || exit 1\n'  # knows no hold
    track_script.write_text(old)
    assert keepalived.refresh_scripts(tmp_path) == [keepalived.TRACK]
    assert track_script.read_text() == keepalived.render_track_script(tmp_path)
    assert track_script.stat().st_mode & 0o777 == 0o700  # keepalived's script security
    assert keepalived.refresh_scripts(tmp_path) == []  # nothing to do the next time


def test_a_director_that_is_also_a_real_server_leaves_keepalived_its_vip_on_the_uplink():
    """The master's VIP on eth0 (keepalived's) next to the DR recipe's on lo is no stray VIP: removing it (or
    calling it drift, which makes the director unfit) would take the VIP away from the director that just took it
    over. Found by the lab's backup-only case at its failover."""
    from lvsweb_agent.document import parse_document
    from lvsweb_agent.model import ActualState, Address
    from lvsweb_agent.planner import plan

    from .docs import example

    doc = example("ha-director")
    doc["director"]["ha"]["backup_only"] = True
    doc["real_server"] = {"tun": None, "dr": {"vips": ["198.51.100.10"], "uplinks": ["eth0"]}}
    desired = parse_document(doc)
    vip = "198.51.100.10"
    actual = ActualState(
        ipvs_loaded=True,
        addresses=[Address(interface="lo", address=vip, prefix=32), Address(interface="eth0", address=vip, prefix=32)],
    )
    removed = [str(op) for op in plan(desired, actual).operations if op.kind == "del-address"]
    assert removed == []
    # A VIP on another interface than keepalived's is still one the host must not hold (it would answer ARP).
    stray = Address(interface="eth1", address=vip, prefix=32)
    actual.addresses.append(stray)
    assert [op.address for op in plan(desired, actual).operations if op.kind == "del-address"] == [stray]


def test_a_report_waiting_for_the_broker_does_not_hold_up_the_next_ones_or_the_round():
    """The lab's restart case: with the broker unreachable a report retries for up to 15.5 s; the follower's
    round (sync roles, fitness) must go on meanwhile, and every report still leaves, in order."""
    from lvsweb_agent.ha import ReportOutbox

    broker_back = threading.Event()
    sent: list[int] = []

    def send(payload: dict) -> None:
        broker_back.wait(10)
        sent.append(payload["n"])

    outbox = ReportOutbox(send)
    outbox.start()
    started = time.monotonic()
    for n in range(5):
        outbox({"n": n})
    assert time.monotonic() - started < 1 and sent == []  # handed over at once, none sent yet
    broker_back.set()
    outbox.close(timeout=5)
    assert sent == [0, 1, 2, 3, 4] and not outbox.is_alive()


def test_reports_beyond_the_outbox_s_limit_are_dropped_and_counted_not_waited_for():
    from lvsweb_agent.ha import ReportOutbox

    outbox = ReportOutbox(lambda payload: None, limit=2)  # not started: nothing leaves
    for n in range(5):
        outbox({"n": n})
    assert outbox.dropped == 3 and outbox.waiting.qsize() == 2
