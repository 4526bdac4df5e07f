"""Health checks in a real kernel: the director's agent probes rs1 and rs2 and the IPVS table follows.

The agent and its health monitor run in-process in the director's namespace, as `lvsweb-agent run` does
(the monitor adjusts every apply; a transition re-applies the held document). Everything asserted is read
back from the kernel (`ipvsadm`) or is real client traffic through the VIP.
"""

from __future__ import annotations

import asyncio
import subprocess
import threading
import time
from collections.abc import Callable, Iterator

import labdocs
import pytest
from labnet import VIP, Lab, inside

pytestmark = pytest.mark.lab

RS1, RS2, DR1 = "10.20.0.11", "10.20.0.12", "10.10.0.21"
# Short enough for a test, long enough that a loaded, emulated VM answers a healthy server in time.
FAST = {"interval": 1.0, "timeout": 1.0, "rise": 2, "fall": 2}


def checked(address: str, check: dict, **extra) -> dict:
    """A TUN real server of the lab with a health check."""
    return labdocs.real_server(address, health_check=check, **extra)


def stop_http(lab: Lab, name: str) -> None:
    """Stop the web server of lab host NAME (its busybox httpd)."""
    for server in lab.servers:
        if server.args[-1].endswith(f"/{name}") and server.poll() is None:
            server.terminate()
            server.wait(timeout=5)


def start_http(lab: Lab, name: str) -> None:
    """Start NAME's web server again and wait until it answers on its own address."""
    if any(server.args[-1].endswith(f"/{name}") and server.poll() is None for server in lab.servers):
        return
    host = lab[name]
    with inside(name):
        command = ["busybox", "httpd", "-f", "-p", str(host.http_port), "-h", str(lab.workdir / "www" / name)]
        lab.servers.append(subprocess.Popen(command))
    deadline = time.monotonic() + 10
    while lab["router"].http_get(host.address, host.http_port, timeout=1) != name:
        assert time.monotonic() < deadline, f"{name}'s web server did not come back"
        time.sleep(0.2)


def wait_for(condition: Callable[[], object], timeout: float, what: str):
    """Poll CONDITION until it is true; fail naming WHAT after TIMEOUT seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"after {timeout} s: {what}")
        time.sleep(0.2)


def weights(lab: Lab) -> dict[str, int]:
    """{real server: weight} of the VIP's service, read from the kernel."""
    return {rs: row.weight for rs, row in lab["director"].ipvs_table().get(f"TCP {VIP}:80", {}).items()}


class Director:
    """The director's agent with its health monitor, as `lvsweb-agent run` wires them."""

    def __init__(self, root):
        from lvsweb_agent.agent import Agent
        from lvsweb_agent.monitor import HealthMonitor

        self.lock = threading.Lock()
        self.reports: list[dict] = []
        self.monitor = HealthMonitor(
            host="director", report=self.reports.append, on_change=self.reapply, netns="director", report_interval=60
        )
        self.agent = Agent(root=str(root), netns="director", health=self.monitor)

    def apply(self, document: dict) -> None:
        with self.lock:
            result = self.agent.apply(document)
        assert result.ok, result.error

    def reapply(self) -> dict:
        with self.lock:
            result = self.agent.reconcile()
        return {"ok": result.ok}

    def transition_time(self, address: str, to: str, after: str | None = None) -> float:
        """When the monitor saw ADDRESS become TO (from AFTER), from its report (sent once the kernel followed)."""

        def found():
            for report in list(self.reports):
                for t in report["transitions"]:
                    if t["address"] == address and t["to"] == to and after in (None, t["from"]):
                        return t["at"]
            return None

        return wait_for(found, 20, f"a report of {address} becoming {to}")

    def transitions(self) -> list[tuple[str, str, str]]:
        return [(t["address"], t["from"], t["to"]) for r in self.reports for t in r["transitions"]]


@pytest.fixture
def director(network: Lab, tmp_path) -> Iterator[Director]:
    running = Director(tmp_path / "director")
    yield running
    running.monitor.stop()
    running.agent.close()
    for name in ("rs1", "rs2"):
        start_http(network, name)


def test_a_stopped_web_server_gets_weight_0_and_comes_back_after_rise(network: Lab, director: Director, apply_all):
    check = {"type": "http", "path": "/", "body": "rs", **FAST}
    apply_all({"rs1": labdocs.tun_real_server("rs1"), "rs2": labdocs.tun_real_server("rs2")})
    director.apply(labdocs.director([checked(RS1, check), checked(RS2, check)]))
    director.monitor.start()
    wait_for(lambda: director.monitor.statuses() and set(director.monitor.statuses().values()) == {"up"}, 20, "both up")
    assert weights(network) == {f"{RS1}:80": 1, f"{RS2}:80": 1}

    stop_http(network, "rs1")
    stopped = time.time()
    wait_for(lambda: weights(network).get(f"{RS1}:80") == 0, 20, "rs1 at weight 0")
    # Down after fall (2) failed probes 1 s apart (each fails at once: connection refused), with some slack
    # for a loaded emulated VM; the kernel follows with the re-apply.
    down_at = director.transition_time(RS1, "down")
    assert down_at - stopped < 2 * 1.0 + 1.5
    assert weights(network)[f"{RS2}:80"] == 1
    assert network["client"].fetch(6) == ["rs2"] * 6, director.transitions()

    start_http(network, "rs1")
    started = time.time()
    wait_for(lambda: weights(network).get(f"{RS1}:80") == 1, 20, "rs1 back at weight 1")
    up_at = director.transition_time(RS1, "up", after="down")
    assert up_at - started < 2 * 1.0 + 1.5, "back after rise (2) successful probes"
    assert sorted(network["client"].fetch(4)) == ["rs1", "rs1", "rs2", "rs2"], director.transitions()
    assert (RS1, "up", "down") in director.transitions()
    assert (RS1, "down", "up") in director.transitions()


def test_removal_instead_of_weight_0(network: Lab, director: Director, apply_all):
    check = {"type": "tcp", "on_failure": "remove", **FAST}
    apply_all({"rs1": labdocs.tun_real_server("rs1"), "rs2": labdocs.tun_real_server("rs2")})
    director.apply(labdocs.director([checked(RS1, check), checked(RS2, check)], drain_timeout=0))
    director.monitor.start()
    stop_http(network, "rs2")
    wait_for(lambda: f"{RS2}:80" not in weights(network), 20, "rs2 removed from the service")
    assert network["client"].fetch(4) == ["rs1"] * 4, director.transitions()


def test_after_a_restart_health_is_unknown_and_takes_nobody_out_before_fall(
    network: Lab, director: Director, apply_all
):
    # rs1 is already down when the agent starts: probes at 0, 3 and 6 s fail, so it is down at 6 s, not before.
    check = {"type": "tcp", "interval": 3, "timeout": 1, "rise": 2, "fall": 3}
    stop_http(network, "rs1")
    apply_all({"rs1": labdocs.tun_real_server("rs1"), "rs2": labdocs.tun_real_server("rs2")})
    director.apply(labdocs.director([checked(RS1, check), checked(RS2, check)]))
    started = time.time()
    director.monitor.start()
    wait_for(lambda: director.monitor.snapshot()[0]["checked_at"], 10, "a first probe of rs1")
    assert director.monitor.statuses()[f"tcp {VIP}:80 -> {RS1}:80"] == "unknown"
    assert weights(network) == {f"{RS1}:80": 1, f"{RS2}:80": 1}
    down_at = director.transition_time(RS1, "down")
    assert down_at - started >= 2 * 3 - 0.5, "down only at the third failed probe (fall 3)"
    wait_for(lambda: weights(network).get(f"{RS1}:80") == 0, 20, "rs1 at weight 0 after fall failures")
    assert (RS1, "unknown", "down") in director.transitions()


def test_quorum_lost_sends_clients_to_the_sorry_server(network: Lab, director: Director, apply_all):
    check = {"type": "http", **FAST}
    apply_all(
        {
            "rs1": labdocs.tun_real_server("rs1"),
            "rs2": labdocs.tun_real_server("rs2"),
            "dr1": labdocs.dr_real_server("dr1"),
        }
    )
    document = labdocs.director([checked(RS1, check), checked(RS2, check)])
    sorry = labdocs.real_server(DR1, forward="dr")
    document["director"]["services"][0]["quorum"] = {"min_up": 1, "sorry_server": sorry}
    director.apply(document)
    director.monitor.start()
    wait_for(lambda: set(director.monitor.statuses().values()) == {"up"}, 20, "both up")
    assert f"{DR1}:80" not in weights(network)

    stop_http(network, "rs1")
    wait_for(lambda: weights(network).get(f"{RS1}:80") == 0, 20, "rs1 at weight 0")
    assert f"{DR1}:80" not in weights(network), "one healthy real server is still a quorum of 1"
    stop_http(network, "rs2")
    wait_for(lambda: weights(network).get(f"{DR1}:80") == 1, 20, "the sorry server in the service")
    assert network["client"].fetch(3) == ["dr1"] * 3, director.transitions()

    start_http(network, "rs2")
    wait_for(lambda: weights(network).get(f"{RS2}:80") == 1, 20, "rs2 back")
    assert network["client"].fetch(3) == ["rs2"] * 3, director.transitions()


def tunnel_and_plain(address: str, port: int = 80, timeout: float = 1.0) -> tuple:
    """From the director: (tunnel-path probe, plain TCP connect to the real server's own address)."""
    from lvsweb_agent.kernel import in_netns
    from lvsweb_agent.probes import TunnelProber, tcp_probe

    async def both():
        prober = TunnelProber()
        prober.open()
        try:
            return await prober.probe(address, VIP, port, timeout), await tcp_probe(address, port, timeout)
        finally:
            prober.close()

    with in_netns("director"):
        return asyncio.run(both())


def test_the_tunnel_path_check_sees_what_a_plain_tcp_check_misses(network: Lab, agent_on, apply_all):
    rs1 = network["rs1"]
    apply_all({"director": labdocs.tun_director(), "rs1": labdocs.tun_real_server("rs1")})
    through, plain = tunnel_and_plain(RS1)
    assert through.ok, through.message
    assert plain.ok, plain.message

    # rp_filter 1: the decapsulated SYN (from the director, arriving on tunl0) fails the reverse-path test.
    rs1.set_sysctls({"net.ipv4.conf.all.rp_filter": "1"})
    through, plain = tunnel_and_plain(RS1)
    assert not through.ok and "no SYN-ACK" in through.message
    assert plain.ok, plain.message
    rs1.set_sysctls({"net.ipv4.conf.all.rp_filter": "0"})
    assert tunnel_and_plain(RS1)[0].ok

    # The VIP missing on tunl0: the inner packet is not for this host.
    rs1.ip("addr", "del", f"{VIP}/32", "dev", "tunl0")
    through, plain = tunnel_and_plain(RS1)
    assert not through.ok and plain.ok
    rs1.ip("addr", "add", f"{VIP}/32", "dev", "tunl0")
    assert tunnel_and_plain(RS1)[0].ok

    # No working ipip tunnel device (what a missing ipip module leaves): nothing decapsulates.
    rs1.ip("link", "set", "tunl0", "down")
    through, plain = tunnel_and_plain(RS1)
    assert not through.ok and plain.ok
    rs1.ip("link", "set", "tunl0", "up")
    rs1.ip("addr", "replace", f"{VIP}/32", "dev", "tunl0")
    assert tunnel_and_plain(RS1)[0].ok


def test_a_tunnel_path_failure_takes_the_real_server_out(network: Lab, director: Director, apply_all):
    check = {"type": "tcp", "tunnel": True, **FAST}
    apply_all({"rs1": labdocs.tun_real_server("rs1"), "rs2": labdocs.tun_real_server("rs2")})
    director.apply(labdocs.director([checked(RS1, check), checked(RS2, check)]))
    director.monitor.start()
    wait_for(lambda: set(director.monitor.statuses().values()) == {"up"}, 20, "both up through the tunnel")

    network["rs1"].set_sysctls({"net.ipv4.conf.all.rp_filter": "1"})
    wait_for(lambda: weights(network).get(f"{RS1}:80") == 0, 20, "rs1 at weight 0")
    message = [t["message"] for r in director.reports for t in r["transitions"] if t["address"] == RS1][-1]
    assert "tunnel path" in message and "no SYN-ACK" in message
    assert network["client"].fetch(4) == ["rs2"] * 4, director.transitions()


@pytest.fixture
def rs3(network: Lab) -> Iterator[str]:
    """A real server (10.20.0.13, web server on port 80, the VIP on lo) whose network namespace has no ipip
    tunnel device at all: what a host without the ipip module looks like from the network. (The module is
    loaded once for the whole VM; net.core.fb_tunnels_only_for_init_net=1 keeps tunl0 out of a new namespace.)"""
    from labnet import run

    fallback = "/proc/sys/net/core/fb_tunnels_only_for_init_net"
    with open(fallback) as current:
        before = current.read().strip()
    with open(fallback, "w") as setting:
        setting.write("1")
    try:
        run("ip", "netns", "add", "rs3")
    finally:
        with open(fallback, "w") as setting:
            setting.write(before)
    server = None
    try:
        run("ip", "link", "add", "rs3-eth0", "type", "veth", "peer", "name", "eth0", "netns", "rs3")
        run("ip", "link", "set", "rs3-eth0", "master", "br-back", "up")
        for command in (
            ("link", "set", "lo", "up"),
            ("link", "set", "eth0", "up"),
            ("addr", "add", "10.20.0.13/24", "dev", "eth0"),
            ("addr", "add", f"{VIP}/32", "dev", "lo"),
            ("route", "add", "default", "via", "10.20.0.1"),
        ):
            run("ip", "-n", "rs3", *command)
        www = network.workdir / "www" / "rs3"
        www.mkdir(parents=True, exist_ok=True)
        (www / "index.html").write_text("rs3\n")
        with inside("rs3"):
            server = subprocess.Popen(["busybox", "httpd", "-f", "-p", "80", "-h", str(www)])
        wait_for(lambda: network["router"].http_get("10.20.0.13", timeout=1) == "rs3", 10, "rs3's web server")
        yield "10.20.0.13"
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=5)
        run("ip", "netns", "del", "rs3", check=False)


def test_the_tunnel_path_check_sees_a_real_server_without_ipip(network: Lab, rs3: str, apply_all):
    from labnet import run

    assert "tunl0" not in run("ip", "-n", "rs3", "link", "show")
    apply_all({"director": labdocs.tun_director()})
    through, plain = tunnel_and_plain(rs3)
    assert plain.ok, plain.message
    assert not through.ok and "no SYN-ACK" in through.message


KEEPALIVED_CHECKED = f"""
virtual_server {VIP} 80 {{
    delay_loop 1
    lb_algo rr
    lb_kind TUN
    protocol TCP
    real_server {RS1} 80 {{
        inhibit_on_failure
        HTTP_GET {{
            url {{
                path /
                status_code 200
            }}
            connect_timeout 1
            retry 1
        }}
    }}
    real_server {RS2} 80 {{
        inhibit_on_failure
        HTTP_GET {{
            url {{
                path /
                status_code 200
            }}
            connect_timeout 1
            retry 1
        }}
    }}
}}
"""


def agent_check(fields: dict) -> dict:
    """An imported check (HealthCheck fields, as the console keeps it) as the document's health_check."""
    return {
        "type": fields["check_type"],
        "port": fields.get("port"),
        "path": fields.get("path", "/"),
        "host": fields.get("host_header", ""),
        "expect": [fields.get("expect_status_min", 200), fields.get("expect_status_max", 399)],
        "interval": fields["interval"],
        "timeout": fields["timeout"],
        "rise": fields["rise"],
        "fall": fields["fall"],
        "on_failure": fields["on_failure"],
    }


def test_checks_imported_from_keepalived_take_a_stopped_server_out_as_keepalived_would(
    network: Lab, director: Director, apply_all
):
    # keepalived: HTTP_GET of / expecting 200 every second, down after the failed check and its retry,
    # inhibit_on_failure: weight 0 (not removal); back after one good check.
    from clusters.interchange import keepalived

    parsed = keepalived.parse(KEEPALIVED_CHECKED)
    assert not parsed.errors and not parsed.not_imported, (parsed.errors, parsed.not_imported)
    (check,) = parsed.checks.values()
    assert (check["check_type"], check["interval"], check["fall"], check["rise"]) == ("http", 1.0, 2, 1)
    assert (check["on_failure"], check["expect_status_min"], check["expect_status_max"]) == ("weight0", 200, 200)
    health = agent_check(check)
    apply_all({"rs1": labdocs.tun_real_server("rs1"), "rs2": labdocs.tun_real_server("rs2")})
    director.apply(labdocs.director([checked(RS1, health), checked(RS2, health)], scheduler="rr"))
    director.monitor.start()
    wait_for(lambda: set(director.monitor.statuses().values()) == {"up"}, 20, "both up")

    stop_http(network, "rs1")
    wait_for(lambda: weights(network).get(f"{RS1}:80") == 0, 20, "rs1 at weight 0, as keepalived's inhibit does")
    assert network["client"].fetch(4) == ["rs2"] * 4, director.transitions()
    start_http(network, "rs1")
    wait_for(lambda: weights(network).get(f"{RS1}:80") == 1, 20, "rs1 back after one good check")
