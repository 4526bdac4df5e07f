"""Adopting a live director (lvsweb_agent.adopt, docs/operating.md#adopt) on a real kernel, under traffic.

A director and two TUN real servers are configured by hand (ip, sysctl, ipvsadm), and a client streams bytes
through the VIP on one long-lived TCP connection. The agents read what the kernels run, the proposal is the
document that matches it, and the adopting apply changes nothing in the kernels; then one weight is changed
and applied. The connection never breaks, and a service added by hand that was not adopted stays untouched.
The console's side (the proposal as inventory, the confirmation, the revision) is tests/dispatch/test_adopt*.py.
"""

from __future__ import annotations

import copy
import json
import socket
import subprocess
import threading
import time

import pytest
from labnet import RP_FILTER_SCOPES, VIP, Lab, inside, run

pytestmark = pytest.mark.lab

STREAM_PORT = 9000
CHUNK = b"x" * 512


class Streamer:
    """A server in a real server's namespace that writes CHUNK every 20 ms to each connection until it ends."""

    def __init__(self, host: str):
        with inside(host):
            self.listener = socket.create_server((VIP, STREAM_PORT))  # VIP is on its tunl0
        self.stop = threading.Event()
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self) -> None:
        self.listener.settimeout(0.2)
        while not self.stop.is_set():
            try:
                connection, _ = self.listener.accept()
            except OSError:
                continue
            threading.Thread(target=self.stream, args=(connection,), daemon=True).start()

    def stream(self, connection: socket.socket) -> None:
        with connection:
            while not self.stop.is_set():
                try:
                    connection.sendall(CHUNK)
                except OSError:
                    return
                time.sleep(0.02)

    def close(self) -> None:
        self.stop.set()
        self.listener.close()


class Reader:
    """The client's side of one long-lived connection through the VIP: counts bytes, notes an end or error."""

    def __init__(self, lab: Lab):
        self.connection = lab["client"].connect(VIP, STREAM_PORT)
        self.connection.settimeout(5)
        self.received = 0
        self.broken = ""
        threading.Thread(target=self.read, daemon=True).start()

    def read(self) -> None:
        while True:
            try:
                chunk = self.connection.recv(65536)
            except OSError as exc:
                self.broken = f"{type(exc).__name__}: {exc}"
                return
            if not chunk:
                self.broken = "closed by the other end"
                return
            self.received += len(chunk)

    def flowing(self, seconds: float = 1.5) -> bool:
        before = self.received
        time.sleep(seconds)
        return self.received > before and not self.broken


def real_servers_by_hand(lab: Lab) -> None:
    """What an administrator typed on the TUN real servers: tunl0 up with the VIP, rp_filter off."""
    run("modprobe", "ipip")
    for name in ("rs1", "rs2"):
        rs = lab[name]
        rs.ip("link", "set", "tunl0", "up")
        rs.ip("addr", "add", f"{VIP}/32", "dev", "tunl0")
        rs.set_sysctls({f"net.ipv4.conf.{scope}.rp_filter": "0" for scope in RP_FILTER_SCOPES})
    lab["director"].ip("addr", "add", f"{VIP}/32", "dev", "eth0")


def configure_by_hand(lab: Lab) -> None:
    """The real servers, and the director's table typed with ipvsadm."""
    real_servers_by_hand(lab)
    director = lab["director"]
    for port, scheduler in ((80, "rr"), (STREAM_PORT, "wlc")):
        director.run("ipvsadm", "-A", "-t", f"{VIP}:{port}", "-s", scheduler)
        for rs in ("10.20.0.11", "10.20.0.12"):
            director.run("ipvsadm", "-a", "-t", f"{VIP}:{port}", "-r", f"{rs}:{port}", "-i", "-w", "1")


def read_and_propose(agent, host: str) -> dict:
    """What the console does with a `read` command's answer: check the reading (sent as JSON), propose."""
    from lvsweb_agent.adopt import parse_reading, propose_document, read_host

    reading = parse_reading(json.loads(json.dumps(read_host(agent))))
    return propose_document(reading, host=host, revision=1, drain_timeout=300)


KERNEL_UNTOUCHED = {"write-file"}  # the adopting apply only writes the files that keep the settings at boot


def test_a_hand_configured_director_is_adopted_and_changed_without_breaking_a_connection(network: Lab, agent_on):
    configure_by_hand(network)
    streamers = [Streamer("rs1"), Streamer("rs2")]
    try:
        assert sorted(network["client"].fetch(2)) == ["rs1", "rs2"]
        reader = Reader(network)
        assert reader.flowing(), reader.broken

        documents = {host: read_and_propose(agent_on(host), host) for host in ("director", "rs1", "rs2")}
        director_doc = documents["director"]
        assert [(s["port"], s["scheduler"]) for s in director_doc["director"]["services"]] == [
            (80, "rr"),
            (9000, "wlc"),
        ]
        assert director_doc["director"]["vips"] == [{"address": VIP, "prefix": 32, "interface": "eth0"}]
        assert documents["rs1"]["real_server"]["tun"]["vips"] == [VIP]

        # Added by hand after the reading: not in the document, so not adopted.
        director = network["director"]
        director.run("ipvsadm", "-A", "-t", f"{VIP}:8080", "-s", "wlc")
        director.run("ipvsadm", "-a", "-t", f"{VIP}:8080", "-r", "10.20.0.11:8080", "-i", "-w", "7")
        table = director.ipvs_save()

        for host, document in documents.items():
            result = agent_on(host).apply(document)
            assert result.ok, result.error
            assert {op.kind for op in result.plan.operations} <= KERNEL_UNTOUCHED, str(result.plan)
            assert agent_on(host).plan(document).empty, str(agent_on(host).plan(document))
        assert director.ipvs_save() == table
        ledger = agent_on("director").ledger()
        assert sorted(str(key) for key in ledger.services) == [f"tcp {VIP}:80", f"tcp {VIP}:9000"]
        assert reader.flowing(), reader.broken

        # One weight changed in the console: one edit, nothing flushed, the connection goes on.
        changed = copy.deepcopy(director_doc)
        changed["revision"] = 2
        stream = next(s for s in changed["director"]["services"] if s["port"] == STREAM_PORT)
        stream["real_servers"][0]["weight"] = 3
        result = agent_on("director").apply(changed)
        assert result.ok, result.error
        assert [str(op).split("  ")[0] for op in result.plan.operations] == [
            f"edit-dest tcp {VIP}:9000 -> 10.20.0.11:9000 tun ipip weight 3"
        ]
        assert any(f"left alone: tcp {VIP}:8080" in note for note in result.plan.notes)
        assert director.ipvs_table()[f"TCP {VIP}:9000"]["10.20.0.11:9000"].weight == 3
        assert reader.flowing(), reader.broken

        # An adopted real server removed in the console drains (it is the agent's now); the hand-added
        # service is still exactly as it was typed.
        removed = copy.deepcopy(changed)
        removed["revision"] = 3
        web = next(s for s in removed["director"]["services"] if s["port"] == 80)
        web["real_servers"] = web["real_servers"][:1]
        result = agent_on("director").apply(removed)
        assert [op.kind for op in result.plan.operations] == ["drain-dest"]
        assert director.ipvs_table()[f"TCP {VIP}:80"]["10.20.0.12:80"].weight == 0
        assert (
            "-A -t 10.10.0.100:8080 -s wlc\n-a -t 10.10.0.100:8080 -r 10.20.0.11:8080 -i -w 7" in director.ipvs_save()
        )
        assert reader.flowing(), reader.broken
        reader.connection.close()
    finally:
        for streamer in streamers:
            streamer.close()


KEEPALIVED_CONF = f"""
global_defs {{
    router_id lab_director
}}
virtual_server {VIP} {STREAM_PORT} {{
    lb_algo wlc
    lb_kind TUN
    protocol TCP
    real_server 10.20.0.11 {STREAM_PORT} {{
        weight 1
    }}
    real_server 10.20.0.12 {STREAM_PORT} {{
        weight 1
    }}
}}
"""


def test_a_director_configured_by_keepalived_is_adopted_once_keepalived_lets_go(network: Lab, agent_on, tmp_path):
    """keepalived runs the table (its checker, started with --dont-release-ipvs as docs/operating.md#adopt
    says); it is stopped, the table stays and carries on, the agent adopts it and changes one weight."""
    real_servers_by_hand(network)
    director = network["director"]
    conf = tmp_path / "keepalived.conf"
    conf.write_text(KEEPALIVED_CONF)
    pids = [str(tmp_path / name) for name in ("keepalived.pid", "checkers.pid", "vrrp.pid")]
    command = ["keepalived", "--check", "--dont-release-ipvs", "--dont-fork", "--log-console", "-f", str(conf)]
    command += ["-p", pids[0], "-c", pids[1], "-r", pids[2]]
    with inside("director"):
        keepalived = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    streamers = [Streamer("rs1"), Streamer("rs2")]
    try:
        deadline = time.monotonic() + 30
        while "10.20.0.12:9000" not in director.ipvs_save():
            assert time.monotonic() < deadline, "keepalived did not make its table"
            time.sleep(0.5)
        reader = Reader(network)
        assert reader.flowing(), reader.broken
        table = director.ipvs_save()
        assert "-A -t 10.10.0.100:9000 -s wlc" in table

        keepalived.terminate()
        keepalived.wait(timeout=30)
        assert director.ipvs_save() == table, "keepalived removed its table on stop"
        assert reader.flowing(), reader.broken

        agent = agent_on("director")
        document = read_and_propose(agent, "director")
        result = agent.apply(document)
        assert result.ok and {op.kind for op in result.plan.operations} <= KERNEL_UNTOUCHED, str(result.plan)
        assert agent.plan(document).empty and director.ipvs_save() == table

        changed = copy.deepcopy(document)
        changed["revision"] = 2
        changed["director"]["services"][0]["real_servers"][1]["weight"] = 2
        result = agent.apply(changed)
        assert [op.kind for op in result.plan.operations] == ["edit-dest"], str(result.plan)
        assert director.ipvs_table()[f"TCP {VIP}:9000"]["10.20.0.12:9000"].weight == 2
        assert reader.flowing(), reader.broken
        reader.connection.close()
    finally:
        if keepalived.poll() is None:
            keepalived.kill()
        for streamer in streamers:
            streamer.close()
