"""Director HA on a real kernel with Debian's keepalived (docs/ha.md): the VIP moves, connections survive.

One topology for the module (hanet.py): ha1 (priority 150) and ha2 (priority 100), advert_int 1 s, each with
an in-process agent and its HA follower. The failover cases open 20 streaming TCP connections through the VIP
(on ha1), fail ha1 one way, measure how long until ha2 holds the VIP and check that every stream goes
on echoing from the same real server, without a reset. Then: an agent restart that must not move the VIP (real
`lvsweb-agent run` processes), a backup director that is also a real server (backup-only mode), and two
directors on either side of a router (unicast VRRP).
"""

from __future__ import annotations

import faulthandler
import os
import signal
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from conftest import agent_program
from hanet import DIRECTORS, HA_VIP, AgentProcess, HaNet, Streams, greet, ha_director, ha_real_server
from labnet import CLIENT, Lab

# Under emulation the first case also builds the lab: more than run-tests' 300 s per test.
pytestmark = [pytest.mark.lab, pytest.mark.timeout(600)]

STARTED = time.monotonic()
ADVERT = 1.0


def step(text: str) -> None:
    """Progress with the time since the module started (the lab is slow; this shows where time goes)."""
    print(f"[{time.monotonic() - STARTED:7.1f} s] {text}", flush=True)


BUDGET = 3 * ADVERT + 1  # the bound for a failover


@dataclass
class Directors:
    """The two directors' agents and followers."""

    net: HaNet
    root: Path
    agents: dict = field(default_factory=dict)
    threads: dict = field(default_factory=dict)
    followers: dict = field(default_factory=dict)
    used_ha3: bool = False

    def apply(self, name: str, document: dict) -> None:
        result = self.agents[name].apply(document)
        assert result.ok, f"apply on {name} failed: {result.error}"

    def start_follower(self, name: str) -> None:
        from lvsweb_agent.ha import HAFollower, HAThread

        follower = HAFollower(self.root / name, netns=name, host=name)
        self.followers[name] = follower
        self.threads[name] = HAThread(follower)
        self.threads[name].start()

    def stop_follower(self, name: str, hold: float = 0) -> None:
        """The in-process agent's follower stops: as an agent dies (stale fitness), or with HOLD seconds as one
        that stops in order (what `lvsweb-agent run` does on SIGTERM)."""
        thread = self.threads.pop(name, None)
        if thread is not None:
            thread.stop()
            thread.join(timeout=5)
            if hold:
                assert thread.follower.hold(hold)
            thread.follower.close()
            # How close a live agent came to a stale fitness file (track.sh: stale after 5 s), under emulation.
            step(f"{name}: longest time between two fitness writes {thread.follower.longest_gap:.2f} s")

    def keepalived_pid(self, name: str) -> int | None:
        from lvsweb_agent import keepalived

        return keepalived.running_pid(keepalived.ha_dir(self.root / name))

    def up(self, **options) -> None:
        """ha1 then ha2 with HA: ha1 holds the VIP before ha2 starts (so nopreempt cannot leave it on ha2)."""
        for name in ("ha1", "ha2"):
            if name not in self.threads:
                self.start_follower(name)
        step(f"up {options}: ha1")
        self.apply("ha1", ha_director("ha1", 150, **options))
        took = self.net.wait_for_holder("ha1", timeout=90)  # the module's first apply loads modules: slow, loaded
        assert took is not None, "ha1 never took the VIP"
        step(f"ha1 holds the VIP after {took:.2f} s; ha2")
        self.apply("ha2", ha_director("ha2", 100, **options))
        time.sleep(2 * ADVERT)  # ha2 hears ha1's adverts and settles as backup
        assert self.net.wait_for_holder("ha1", timeout=30) is not None, self.net.holder()

    def down(self) -> None:
        """Every director back to no HA: keepalived stopped, sync daemons stopped, VIP released."""
        names = ["ha1", "ha2", *(["ha3"] if self.used_ha3 else [])]
        for name in names:
            if name not in self.threads:
                self.start_follower(name)
            self.net.uplink(name, up=True)
            self.apply(name, ha_director(name, 100, ha=False))
        for name in names:
            self.stop_follower(name)
        self.net.vip_on_lo.clear()
        self.used_ha3 = False


@pytest.fixture(scope="module")
def directors(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Directors]:
    from lvsweb_agent.agent import Agent

    step("lab built")
    # Every thread's stack (the main one too, which pytest-timeout's report can lose) if a case hangs. Not sooner:
    # on a loaded machine a case can take minutes, and a dump while threads run has crashed the interpreter.
    faulthandler.dump_traceback_later(480, repeat=True)
    lab.reset()
    root = tmp_path_factory.mktemp("ha")
    net = HaNet(lab, root)
    net.build()
    step("ha1 and ha2 built")
    pair = Directors(net=net, root=root)
    real_servers = {name: Agent(root=str(root / name), netns=name) for name in ("rs1", "rs2")}
    for name, agent in real_servers.items():
        assert agent.apply(ha_real_server(name)).ok
    pair.agents = {name: Agent(root=str(root / name), netns=name) for name in DIRECTORS}
    yield pair
    try:
        pair.down()
    finally:
        for agent in [*pair.agents.values(), *real_servers.values()]:
            agent.close()
        net.destroy()
        lab.reset()
        faulthandler.cancel_dump_traceback_later()


@pytest.fixture
def ha(directors: Directors) -> Iterator[Directors]:
    yield directors
    directors.down()


def streams_through_ha1(ha: Directors) -> Streams:
    step("opening 20 streams")
    streams = Streams(ha.net["client"], count=20)
    assert sorted({s.server for s in streams.streams}) == ["rs1", "rs2"]
    assert streams.all_advance(timeout=30), streams.broken()
    step("20 streams echo")
    # The sync master sends in batches (about every 2 s): fail over once the backup knows every connection
    # (without the daemon, after as long), so the case measures the failover, not the batching.
    # Only these streams count (ha2 may still list an earlier case's connections).
    ours = {f"{CLIENT}:{stream.sock.getsockname()[1]}" for stream in streams.streams}
    start, known = time.monotonic(), 0
    while time.monotonic() - start < 20:
        rows = [line.split() for line in ha.net["ha2"].run("ipvsadm", "-Lnc").splitlines()]
        known = sum(len(row) > 4 and row[2] == "ESTABLISHED" and row[3] in ours for row in rows)
        if known >= 20:
            break
        time.sleep(0.5)
    step(f"ha2's connection table after {time.monotonic() - start:.1f} s: {known} of the 20 streams")
    return streams


def survived(streams: Streams, before: list[str]) -> None:
    assert streams.all_advance(timeout=90), f"broken: {streams.broken()}"
    assert not streams.broken()
    assert [s.server for s in streams.streams] == before  # the same real servers (the greeting came once)
    step(f"20/20 streams survived; longest silence {max(s.longest_silence for s in streams.streams):.2f} s")


def test_keepalived_stopped_moves_the_vip_and_20_connections_survive_and_no_preempt_keeps_ha2(ha: Directors):
    ha.up(preempt=False)
    streams = streams_through_ha1(ha)
    before = [s.server for s in streams.streams]
    try:
        pid = ha.keepalived_pid("ha1")
        assert pid is not None
        os.kill(pid, signal.SIGTERM)
        took = ha.net.wait_for_holder("ha2", timeout=10)
        step(f"keepalived stopped on ha1: ha2 holds the VIP after {took} s")
        assert took is not None and took <= BUDGET
        survived(streams, before)
        # ha2's follower saw the transition and made its sync daemon the master.
        deadline = time.monotonic() + 5
        while "master" not in ha.followers["ha2"].agent.kernel.read_ha().daemons and time.monotonic() < deadline:
            time.sleep(0.1)
        assert set(ha.followers["ha2"].agent.kernel.read_ha().daemons) == {"master"}
        assert [(r["previous"], r["state"]) for r in ha.followers["ha2"].reports][-1] == ("backup", "master")

        # Fail-back without preemption: ha1's keepalived back, ha2 keeps the VIP.
        ha.apply("ha1", ha_director("ha1", 150, preempt=False))
        time.sleep(4 * ADVERT)
        assert ha.net.holder() == "ha2"
        assert streams.all_advance(timeout=20), streams.broken()
    finally:
        streams.close()


def test_without_the_sync_daemon_the_connections_break(ha: Directors):
    ha.up(sync=False)
    streams = streams_through_ha1(ha)
    try:
        os.kill(ha.keepalived_pid("ha1"), signal.SIGTERM)
        took = ha.net.wait_for_holder("ha2", timeout=10)
        assert took is not None
        deadline = time.monotonic() + 20
        while len(streams.broken()) < 20 and time.monotonic() < deadline:
            time.sleep(0.2)
        step(f"without sync: {len(streams.broken())}/20 broken, e.g. {streams.broken()[:1]}")
        assert len(streams.broken()) == 20
    finally:
        streams.close()


def test_agent_gone_gives_up_the_vip_and_preemption_brings_it_back_with_the_connections(ha: Directors):
    ha.up(preempt=True)
    streams = streams_through_ha1(ha)
    before = [s.server for s in streams.streams]
    try:
        ha.stop_follower("ha1")  # the agent is gone: its fitness file goes stale
        took = ha.net.wait_for_holder("ha2", timeout=20)
        step(f"ha1's agent stopped: ha2 holds the VIP after {took} s (stale after 5 s, track fall 2 x 1 s)")
        assert took is not None and took <= 5 + 2 + BUDGET
        survived(streams, before)

        ha.start_follower("ha1")  # the agent is back: fit again, ha1 preempts
        took = ha.net.wait_for_holder("ha1", timeout=20)
        step(f"ha1's agent back: ha1 holds the VIP again after {took} s")
        assert took is not None
        survived(streams, before)
    finally:
        streams.close()


def test_uplink_down_moves_the_vip_and_preemption_brings_it_back(ha: Directors):
    ha.up(preempt=True)
    streams = streams_through_ha1(ha)
    before = [s.server for s in streams.streams]
    try:
        ha.net.uplink("ha1", up=False)
        took = ha.net.wait_for_holder("ha2", timeout=10)
        step(f"ha1's uplink down: ha2 holds the VIP after {took} s")
        assert took is not None and took <= BUDGET
        survived(streams, before)
        causes = [r["cause"] for r in ha.followers["ha1"].reports if r["state"] == "fault"]
        assert causes and "uplink eth0 down" in causes[-1], ha.followers["ha1"].reports

        ha.net.uplink("ha1", up=True)
        took = ha.net.wait_for_holder("ha1", timeout=20)
        step(f"ha1's uplink up: ha1 holds the VIP again after {took} s")
        assert took is not None
        survived(streams, before)
    finally:
        streams.close()


# -- an agent restart: keepalived runs on, the VIP stays -------------------------------------------------------
#: Under emulation an agent process takes 20-60 s to start (Python, pyroute2, Celery); on a server about a second.
GRACE = 300


def wait_until(condition, timeout: float, every: float = 0.1) -> float | None:
    """Seconds until CONDITION() is true, or None after TIMEOUT."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if condition():
            return time.monotonic() - start
        time.sleep(every)
    return None


def keepalived_processes(root: Path) -> set[int]:
    """Every process running keepalived on that director's configuration (keepalived and its VRRP child)."""
    from lvsweb_agent import keepalived

    config = str(keepalived.ha_dir(root) / keepalived.CONFIG).encode()
    found = set()
    for entry in Path("/proc").iterdir():
        try:
            command = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if entry.name.isdigit() and command[0].endswith(b"keepalived") and config in command:
            found.add(int(entry.name))
    return found


class VipWatch(threading.Thread):
    """Samples who holds the VIP every 0.2 s; `others` keeps every sample in which NAME alone did not."""

    def __init__(self, net: HaNet, name: str):
        super().__init__(daemon=True)
        self.net, self.name = net, name
        self.stopping = threading.Event()
        self.samples, self.others = 0, []

    def run(self) -> None:
        while not self.stopping.wait(0.2):
            holder = self.net.holder()
            self.samples += 1
            if holder != self.name:
                self.others.append((round(time.monotonic() - STARTED, 1), holder))

    def stop(self) -> None:
        self.stopping.set()
        self.join(timeout=5)


def fitness(root: Path) -> str:
    from lvsweb_agent import keepalived

    try:
        return (keepalived.ha_dir(root) / keepalived.FITNESS).read_text().strip()
    except FileNotFoundError:
        return ""


def wait_for_the_agent(agent: AgentProcess, since: float) -> None:
    """Until the agent process's HA follower has written `fit` (a time after SINCE)."""

    def fit() -> bool:
        assert agent.process is not None and agent.process.poll() is None, f"the agent exited:\n{agent.log()}"
        word, _, stamp = fitness(agent.root).partition(" ")
        return word == "fit" and float(stamp.split()[0]) >= since

    assert wait_until(fit, timeout=240, every=0.5) is not None, f"no fitness from the agent:\n{agent.log()}"


@pytest.mark.timeout(900)  # two agent processes start: a minute or two each on a loaded machine, seconds in CI
def test_an_agent_restart_leaves_keepalived_and_the_vip_and_a_killed_agent_gives_the_vip_up(ha: Directors):
    from lvsweb_agent import keepalived

    ha.up(preempt=True)
    root = ha.root / "ha1"
    states = keepalived.ha_dir(root) / keepalived.STATES / "i-web"
    pid, processes, state = ha.keepalived_pid("ha1"), keepalived_processes(root), states.read_text()
    # (The state file is not checked for MASTER: under load keepalived's BACKUP notify, forked first, has been
    # seen to finish after the MASTER one. What matters: it does not change, and ha1 holds the VIP throughout.)
    assert pid in processes and len(processes) == 2, (state, pid, processes)
    agent = AgentProcess("ha1", root, agent_program(), grace=GRACE)
    watch = VipWatch(ha.net, "ha1")
    watch.start()
    try:
        # The in-process follower hands ha1 over to the installed agent the way a stopping agent does.
        ha.stop_follower("ha1", hold=GRACE)
        for run in (1, 2):
            started = time.time()
            agent.start()
            wait_for_the_agent(agent, since=started)
            step(f"agent process {run} is up after {time.time() - started:.1f} s: {fitness(root)}")
            if run == 1:
                code = agent.stop()  # systemd's stop with KillMode=process: SIGTERM to the agent alone
                step(f"agent process 1 stopped by SIGTERM (exit {code}): {fitness(root)}")
                assert fitness(root).startswith("hold "), agent.log()
        time.sleep(3 * ADVERT)
        watch.stop()
        step(f"VIP sampled {watch.samples} times through both restarts: not on ha1 alone {len(watch.others)} times")
        assert watch.samples > 50 and watch.others == []
        assert ha.keepalived_pid("ha1") == pid and keepalived_processes(root) == processes  # the same, no second
        assert states.read_text() == state  # no VRRP transition at all: master since before the restarts

        # A transition while the console is unreachable: the sync daemon follows at once, the report waits.
        assert set(ha.agents["ha1"].kernel.read_ha().daemons) == {"master"}
        ha.net.uplink("ha1", up=False)
        assert wait_until(lambda: states.read_text().startswith("FAULT "), timeout=10) is not None
        switched = wait_until(lambda: set(ha.agents["ha1"].kernel.read_ha().daemons) == {"backup"}, timeout=20)
        step(f"ha1 in fault: its agent (no broker) made its sync daemon the backup after {switched} s")
        assert switched is not None and switched <= 5  # a report's retries alone take 7.75-15.5 s
        ha.net.uplink("ha1", up=True)
        assert ha.net.wait_for_holder("ha1", timeout=30) is not None

        # A killed agent (a crash, systemd's SIGKILL) leaves no hold: its fitness goes stale, ha1 gives up the VIP.
        agent.kill()
        took = ha.net.wait_for_holder("ha2", timeout=30)
        step(f"agent process killed: ha2 holds the VIP after {took} s (stale after 5 s, track fall 2 x 1 s)")
        assert took is not None and took <= 5 + 1 + 2 + BUDGET

        # A document without director.ha still stops keepalived.
        ha.apply("ha1", ha_director("ha1", 100, ha=False))
        assert keepalived_processes(root) == set() and ha.keepalived_pid("ha1") is None
    finally:
        watch.stop()
        agent.kill()


# -- backup-only mode: a backup director that is also a real server ----------------------------------------------
def test_a_backup_director_that_is_also_a_real_server_answers_through_the_active_one(ha: Directors):
    from lvsweb_agent import keepalived

    ha.net.vip_on_lo.add("ha2")  # the DR recipe puts the VIP on ha2's lo for good
    ha.net.echo_on("ha2")
    ha.up(director_real_server="ha2")

    def backup_only() -> str:
        return ha.net["ha2"].sysctl("net.ipv4.vs.backup_only")

    assert wait_until(lambda: backup_only() == "1", timeout=10) is not None, backup_only()
    # ha1 sends every third connection to ha2 (DR); ha2's own IPVS, the same table, must let them through to its
    # echo server instead of scheduling them again (then rs1 or rs2 would greet).
    greetings = Counter(greet(ha.net["client"]) for _ in range(6))
    step(f"ha2 backup, backup_only=1: greetings through ha1 {dict(greetings)}")
    assert greetings == {"rs1": 2, "rs2": 2, "ha2": 2}

    os.kill(ha.keepalived_pid("ha1"), signal.SIGTERM)
    ha2_state = keepalived.ha_dir(ha.root / "ha2") / keepalived.STATES / "i-web"
    why = lambda: f"ha2: {ha2_state.read_text().strip()}, unfit: {ha.followers['ha2'].unfit}"  # noqa: E731
    assert ha.net.wait_for_holder("ha2", timeout=10) is not None, why()
    switched = wait_until(lambda: backup_only() == "0", timeout=10)
    step(f"ha2 master: backup_only=0 after {switched} s")
    assert switched is not None
    greetings = Counter(greet(ha.net["client"]) for _ in range(3))
    step(f"greetings through ha2 {dict(greetings)}")
    assert set(greetings) == {"rs1", "rs2", "ha2"}  # ha2 directs, to itself too


# -- unicast VRRP: directors on either side of a router ----------------------------------------------------------
def test_directors_across_a_router_split_with_multicast_and_fail_over_with_unicast(ha: Directors):
    ha.used_ha3 = True
    options = {"track": False, "sync": False}
    for name, priority in (("ha1", 150), ("ha3", 100)):
        ha.apply(name, ha_director(name, priority, **options))
    # 224.0.0.18 stays on each side of the router: neither hears the other, both take the VIP.
    split = wait_until(lambda: ha.net.holder() == "ha1+ha3", timeout=20)
    step(f"multicast VRRP across the router: both hold the VIP after {split} s")
    assert split is not None
    peers = {"ha1": (DIRECTORS["ha3"],), "ha3": (DIRECTORS["ha1"],)}
    for name, priority in (("ha1", 150), ("ha3", 100)):
        ha.apply(name, ha_director(name, priority, unicast_peers=peers[name], **options))
    took = ha.net.wait_for_holder("ha1", timeout=20)
    step(f"unicast VRRP: ha3 hears ha1 through the router and backs off after {took} s")
    assert took is not None
    os.kill(ha.keepalived_pid("ha1"), signal.SIGTERM)
    took = ha.net.wait_for_holder("ha3", timeout=10)
    step(f"keepalived stopped on ha1: ha3, across the router, holds {HA_VIP} after {took} s")
    assert took is not None and took <= BUDGET
