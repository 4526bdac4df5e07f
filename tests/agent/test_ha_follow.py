"""Following keepalived: the HA part of the plan (sync roles, backup-only, keepalived's process), the causes
of transitions, the heartbeat facts, the notify hook's state files and the sync daemon's netlink messages."""

from __future__ import annotations

import dataclasses
import json
import struct
import subprocess
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lvsweb_agent import keepalived, syncd
from lvsweb_agent.document import parse_document
from lvsweb_agent.ha import HAFollower, ha_facts, transition_cause
from lvsweb_agent.hadoc import SyncDaemon
from lvsweb_agent.haplan import ha_operations, wanted_roles
from lvsweb_agent.hastate import HAActual, VrrpState, parse_state_line, read_vrrp_states
from lvsweb_agent.netlink import nla

from .docs import example

SYNC = SyncDaemon(syncid=7, interface="eth0")


def desired(**ha):
    doc = example("ha-director")
    doc["director"]["ha"].update(ha)
    return parse_document(doc)


def running(state: str | None = None, **fields) -> HAActual:
    """keepalived running the example's configuration, `web` in `state`."""
    ha = desired().director.ha
    actual = HAActual(
        config=keepalived.render_config(ha, keepalived.ha_dir(Path("/"))),
        pid=1234,
        backup_only="0",
        directory="/var/lib/lvsweb-agent/ha",
    )
    if state is not None:
        actual.vrrp["web"] = VrrpState(state=state, priority=150, since=1000.0)
    for name, value in fields.items():
        setattr(actual, name, value)
    return actual


def lines(ops) -> list[str]:
    return [str(op) for op in ops]


def test_nothing_to_do_when_keepalived_runs_the_configuration_and_the_daemon_follows_the_state():
    assert ha_operations(desired(), running("master", daemons={"master": SYNC})) == []
    assert ha_operations(desired(), running("backup", daemons={"backup": SYNC})) == []


def test_a_new_ha_section_writes_the_configuration_starts_keepalived_and_the_sync_backup():
    assert lines(ha_operations(desired(), HAActual(backup_only="0"))) == [
        "ha-config keepalived write keepalived configuration (1 VRRP instance) and start keepalived"
        "  (keepalived is not running)",
        "sync-daemon backup start IPVS sync daemon backup syncid 7 on eth0  (VRRP: web is stop)",
    ]


def test_a_changed_configuration_is_reloaded():
    actual = running("backup", daemons={"backup": SYNC}, config="old")
    assert lines(ha_operations(desired(), actual)) == [
        "ha-config keepalived write keepalived configuration (1 VRRP instance) and reload  (configuration differs)"
    ]


def test_becoming_master_swaps_the_sync_daemon_from_backup_to_master():
    ops = ha_operations(desired(), running("master", daemons={"backup": SYNC}))
    assert lines(ops) == [
        "sync-daemon master start IPVS sync daemon master syncid 7 on eth0  (VRRP: web is master)",
        "sync-daemon backup stop (syncid 7 on eth0)  (not wanted: VRRP: web is master)",
    ]
    assert json.loads(ops[0].value) == dataclasses.asdict(SYNC)


@pytest.mark.parametrize("state", ["backup", "fault", "stop"])
def test_anything_but_master_runs_the_sync_backup(state):
    actual = running(state, daemons={"master": SYNC}, pid=None if state == "stop" else 1234)
    kinds = [(op.kind, op.target, op.detail.split()[0]) for op in ha_operations(desired(), actual)]
    assert ("sync-daemon", "backup", "start") in kinds and ("sync-daemon", "master", "stop") in kinds


def test_backup_only_is_on_only_while_master_of_nothing():
    assert lines(ha_operations(desired(backup_only=True), running("backup", daemons={"backup": SYNC}))) == [
        "set-sysctl net.ipv4.vs.backup_only = 1  (also a real server: backup-only while it is master of nothing; now 0)"
    ]
    actual = running("master", daemons={"master": SYNC}, backup_only="1")
    assert lines(ha_operations(desired(backup_only=True), actual)) == [
        "set-sysctl net.ipv4.vs.backup_only = 0  (VRRP: web is master; now 1)"
    ]


def test_changed_sync_settings_restart_the_daemon():
    ops = ha_operations(desired(), running("master", daemons={"master": SyncDaemon(syncid=9, interface="eth0")}))
    assert [(op.target, op.detail.split()[0]) for op in ops] == [("master", "stop"), ("master", "start")]


def test_a_document_without_ha_stops_what_an_earlier_one_started():
    doc = example("ha-director")
    doc["director"]["ha"] = None
    actual = running("master", daemons={"master": SYNC}, backup_only="1")
    assert [(op.kind, op.target) for op in ha_operations(parse_document(doc), actual)] == [
        ("sync-daemon", "master"),
        ("set-sysctl", "net.ipv4.vs.backup_only"),
        ("ha-stop", "keepalived"),
    ]
    assert ha_operations(parse_document(doc), HAActual()) == []  # never ran HA: nothing


states = st.sampled_from(["master", "backup", "fault", "stop"])


@settings(deadline=None)
@given(st.lists(states, min_size=1, max_size=4))
def test_roles_follow_the_states_of_all_instances(instance_states):
    doc = example("ha-director")
    template = doc["director"]["ha"]["instances"][0]
    doc["director"]["ha"]["instances"] = [
        {**template, "name": f"g{i}", "vrid": i + 1, "vips": [{"address": f"198.51.100.{i + 10}", "interface": "eth0"}]}
        for i in range(len(instance_states))
    ]
    ha = parse_document(doc).director.ha
    actual = HAActual(pid=1, vrrp={f"g{i}": VrrpState(s, 100, 0.0) for i, s in enumerate(instance_states)})
    roles, _ = wanted_roles(ha, actual)
    assert ("master" in roles) == ("master" in instance_states)
    assert ("backup" in roles) == any(s != "master" for s in instance_states)


def test_causes_in_operator_words():
    assert transition_cause(None, "backup", None) == "keepalived started"
    assert transition_cause("backup", "master", None).startswith("the master went silent")
    assert transition_cause("master", "backup", None) == "higher priority advert: another director took the VIP"
    assert transition_cause("master", "fault", "uplink eth0 down") == "uplink eth0 down"
    assert transition_cause("fault", "master", None) == "fit again: no higher-priority director heard"
    assert transition_cause("master", "stop", None) == "keepalived stopped"


def test_heartbeat_facts():
    ha = desired().director.ha
    assert ha_facts(running("master"), ha) == {"ha": {"web": {"state": "master", "since": 1000.0}}}
    assert ha_facts(running("master", pid=None), ha) == {
        "ha": {"web": {"state": "stop", "since": 1000.0}},
        "ha_error": "keepalived is not running",
    }
    assert ha_facts(None, None) == {}


def test_the_notify_hook_writes_what_the_agent_reads(tmp_path):
    keepalived.write_files(tmp_path, "# not used here\n", program=None)
    for args in (
        ["INSTANCE", "web", "MASTER", "150"],
        ["GROUP", "g", "MASTER", "150"],
        ["INSTANCE", ".", "FAULT", "0"],
    ):
        subprocess.run([str(tmp_path / keepalived.NOTIFY), *args], check=True)
    found = read_vrrp_states(tmp_path)
    assert sorted(found) == [".", "web"]
    assert (found["web"].state, found["web"].priority, found["."].state) == ("master", 150, "fault")
    assert parse_state_line("BOGUS 1 2") is None and parse_state_line("MASTER x 2") is None


@pytest.mark.parametrize(("content", "fit"), [("fit {now}", 0), ("fit {old}", 1), ("unfit {now} drift", 1), ("", 1)])
def test_the_track_script_wants_a_fresh_fit(tmp_path, content, fit):
    keepalived.write_files(tmp_path, "# not used here\n", program=None)
    now = time.time()
    (tmp_path / keepalived.FITNESS).write_text(content.format(now=f"{now:.3f}", old=f"{now - 10:.3f}") + "\n")
    assert subprocess.run([str(tmp_path / keepalived.TRACK)], check=False).returncode == (0 if fit == 0 else 1)


# -- the sync daemon's netlink messages ----------------------------------------------------------------------
def reply(attrs: bytes) -> tuple[bytes, int, int]:
    return attrs, 0, len(attrs)


def test_start_message_carries_the_kernels_attributes():
    sync = SyncDaemon(syncid=7, interface="eth0", port=8849, mcast_group="239.1.1.1", ttl=3)
    data = syncd.encode_start("master", sync)
    role, decoded = syncd.decode_daemon(*reply(data))
    assert (role, decoded) == ("master", sync)
    assert struct.pack("=H", 8849) in data  # the port in host byte order, as the kernel reads it (nla_get_u16)


def test_kernel_defaults_read_back_as_none():
    attrs = b"".join(
        [
            nla(syncd.DAEMON_STATE, struct.pack("=I", 2)),
            nla(syncd.DAEMON_MCAST_IFN, b"eth0\0"),
            nla(syncd.DAEMON_SYNC_ID, struct.pack("=I", 7)),
            nla(syncd.DAEMON_MCAST_PORT, struct.pack("=H", 8848)),  # nla_put_u16: host byte order
            nla(syncd.DAEMON_MCAST_TTL, struct.pack("=B", 1)),
            nla(syncd.DAEMON_MCAST_GROUP, bytes([224, 0, 0, 81])),
        ]
    )
    assert syncd.decode_daemon(*reply(nla(syncd.CMD_ATTR_DAEMON, attrs))) == ("backup", SYNC)


def test_a_truncated_reply_is_refused_with_words():
    data = syncd.encode_start("master", SYNC)
    with pytest.raises(syncd.NetlinkDecodeError):
        syncd.decode_daemon(data[:-6] + b"\xff\x00", 0, len(data) - 4)


def test_the_follower_reports_each_transition_once_with_its_cause(tmp_path):
    sent = []
    clock = iter(range(2000, 3000)).__next__
    follower = HAFollower(tmp_path, report=sent.append, host="director1", clock=clock)
    ha = desired().director.ha
    for state, since in (("backup", 2001.0), ("backup", 2001.0), ("master", 2005.5), ("fault", 2009.0)):
        actual = running(state)
        actual.vrrp["web"] = VrrpState(state, 150, since)
        follower.unfit = "uplink eth0 down" if state == "fault" else None
        follower.follow(ha, actual, now=since + 0.1)
    assert [(r["previous"], r["state"], r["at"], r["cause"]) for r in sent] == [
        (None, "backup", 2001.0, "keepalived started"),
        ("backup", "master", 2005.5, transition_cause("backup", "master", None)),
        ("master", "fault", 2009.0, "uplink eth0 down"),
    ]
    assert {r["kind"] for r in sent} == {"ha"} and {r["host"] for r in sent} == {"director1"}
    assert follower.reports == sent


def test_after_an_agent_restart_the_first_report_says_so(tmp_path):
    sent = []
    follower = HAFollower(tmp_path, report=sent.append, clock=lambda: 5000.0)
    actual = running("master")  # since 1000: long before this agent started
    follower.follow(desired().director.ha, actual, now=5000.0)
    assert sent[0]["cause"] == "agent started: master since keepalived's last transition"


def test_the_fitness_file_says_fit_unfit_or_nothing(tmp_path):
    follower = HAFollower(tmp_path, clock=lambda: 100.0)
    fitness = follower.directory / keepalived.FITNESS
    follower.write_fitness(100.0)
    assert not fitness.exists()  # no ha section held: nothing to say
    follower.active = True
    follower.directory.mkdir(parents=True)
    follower.write_fitness(100.0)
    assert fitness.read_text() == "fit 100.000\n"
    follower.unfit = "uplink eth0 down"
    follower.write_fitness(100.5)
    assert fitness.read_text() == "unfit 100.500 uplink eth0 down\n"
    follower.unfit, follower.last_round = None, time.monotonic() - 60
    follower.write_fitness(101.0)
    assert fitness.read_text() == "unfit 101.000 agent: no HA round for 30.0 s\n"


def test_an_instance_holding_its_vips_is_reported_master_before_its_notify_hook_says_so(tmp_path):
    """keepalived adds the VIPs at the takeover; its notify hook, a forked shell, may write MASTER seconds later on
    a loaded director. The follower reports the takeover from the VIPs (tests/lab_fullstack times it)."""
    sent = []
    follower = HAFollower(tmp_path, report=sent.append, host="director2", clock=lambda: 3000.0)
    ha = desired().director.ha
    actual = running("backup")
    actual.vrrp["web"] = VrrpState("backup", 100, 2000.0)
    follower.follow(ha, actual, now=2000.5)
    notify_says = running("backup")
    notify_says.vrrp["web"] = VrrpState("backup", 100, 2000.0)  # the hook has not run yet
    follower.with_takeovers(notify_says, {"web"}, now=2010.0)
    follower.follow(ha, notify_says, now=2010.0)
    assert [(r["previous"], r["state"], r["at"]) for r in sent] == [
        (None, "backup", 2000.0),
        ("backup", "master", 2010.0),
    ]
    assert sent[-1]["cause"] == transition_cause("backup", "master", None)
    late_hook = running("master")
    late_hook.vrrp["web"] = VrrpState("master", 100, 2009.9)  # the hook catches up: no second report
    follower.with_takeovers(late_hook, {"web"}, now=2012.0)
    follower.follow(ha, late_hook, now=2012.0)
    assert len(sent) == 2 and late_hook.vrrp["web"].since == 2009.9
