"""Director HA on a real kernel with Debian's keepalived (docs/ha.md): the VIP moves, connections survive.

One topology for the module (hanet.py): ha1 (priority 150) and ha2 (priority 100), advert_int 1 s, each with
an in-process agent and its HA follower. Every case opens 20 streaming TCP connections through the VIP
(on ha1), fails ha1 one way, measures how long until ha2 holds the VIP and checks that every stream goes
on echoing from the same real server, without a reset.
"""

from __future__ import annotations

import faulthandler
import os
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hanet import HaNet, Streams, ha_director, ha_real_server
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

    def apply(self, name: str, document: dict) -> None:
        result = self.agents[name].apply(document)
        assert result.ok, f"apply on {name} failed: {result.error}"

    def start_follower(self, name: str) -> None:
        from lvsweb_agent.ha import HAFollower, HAThread

        follower = HAFollower(self.root / name, netns=name, host=name)
        self.followers[name] = follower
        self.threads[name] = HAThread(follower)
        self.threads[name].start()

    def stop_follower(self, name: str) -> None:
        thread = self.threads.pop(name, None)
        if thread is not None:
            thread.stop()
            thread.join(timeout=5)
            thread.follower.close()

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
        took = self.net.wait_for_holder("ha1", timeout=30)
        assert took is not None, "ha1 never took the VIP"
        step(f"ha1 holds the VIP after {took:.2f} s; ha2")
        self.apply("ha2", ha_director("ha2", 100, **options))
        time.sleep(2 * ADVERT)  # ha2 hears ha1's adverts and settles as backup
        assert self.net.wait_for_holder("ha1", timeout=10) is not None, self.net.holder()

    def down(self) -> None:
        """Both back to no HA: keepalived stopped, sync daemons stopped, VIP released."""
        for name in ("ha1", "ha2"):
            if name not in self.threads:
                self.start_follower(name)
            self.net.uplink(name, up=True)
            self.apply(name, ha_director(name, 100, ha=False))
        for name in ("ha1", "ha2"):
            self.stop_follower(name)


@pytest.fixture(scope="module")
def directors(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Directors]:
    from lvsweb_agent.agent import Agent

    step("lab built")
    # Every thread's stack (the main one too, which pytest-timeout's report can lose) if a case hangs.
    faulthandler.dump_traceback_later(240, repeat=True)
    lab.reset()
    root = tmp_path_factory.mktemp("ha")
    net = HaNet(lab, root)
    net.build()
    step("ha1 and ha2 built")
    pair = Directors(net=net, root=root)
    real_servers = {name: Agent(root=str(root / name), netns=name) for name in ("rs1", "rs2")}
    for name, agent in real_servers.items():
        assert agent.apply(ha_real_server(name)).ok
    pair.agents = {name: Agent(root=str(root / name), netns=name) for name in ("ha1", "ha2")}
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
