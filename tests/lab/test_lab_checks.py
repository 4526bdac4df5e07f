"""Checks that fit UDP and SCTP services, and the tunnel-path check for GUE, GRE and IPv6, in a real kernel.

The director's agent and its health monitor run in-process in the director's namespace (as in
tests/lab/test_health.py); the real servers' UDP and SCTP services are sockets opened inside their
namespaces. What is asserted is read back from the kernel (`ipvsadm`) or is real traffic.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator

import labdocs
import pytest
from labnet import VIP, Lab, inside, run

pytestmark = pytest.mark.lab

RS1, RS2 = "10.20.0.11", "10.20.0.12"
FAST = {"interval": 1.0, "timeout": 1.0, "rise": 2, "fall": 2}
GUE_PORT = 6080
# IPv6 on top of the lab's IPv4 topology (labnet.py), added and removed by the test that uses it.
V6 = {
    "director": [("eth0", "2001:db8:10::2/64")],
    "router": [("front", "2001:db8:10::1/64"), ("back", "2001:db8:20::1/64")],
    "rs1": [("eth0", "2001:db8:20::11/64")],
}
VIP6, RS1_6 = "2001:db8:10::100", "2001:db8:20::11"


def wait_for(condition: Callable[[], object], timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        if time.monotonic() > deadline:
            raise AssertionError(f"after {timeout} s: {what}")
        time.sleep(0.2)
    return value


class UdpService:
    """A UDP service inside a lab host: answers every datagram with `<host> <datagram>`, on the VIP (what
    clients reach through the tunnel) and on the host's own address (what the health check probes)."""

    def __init__(self, host: str, addresses: list[str], port: int = 53):
        self.sockets = []
        with inside(host):
            for address in addresses:
                sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                sock.bind((address, port))
                self.sockets.append(sock)
        for sock in self.sockets:
            threading.Thread(target=self._serve, args=(sock, host.encode()), daemon=True).start()

    @staticmethod
    def _serve(sock: socket.socket, name: bytes) -> None:
        while True:
            try:
                data, peer = sock.recvfrom(2048)
                sock.sendto(name + b" " + data, peer)
            except OSError:
                return

    def stop(self) -> None:
        for sock in self.sockets:
            sock.close()


def udp_ask(lab_host: str, address: str, port: int = 53) -> str:
    """One datagram from LAB_HOST to ADDRESS:PORT from a new source port: the name in the answer ('' if none)."""
    with inside(lab_host):
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    with sock:
        sock.settimeout(1)
        sock.connect((address, port))
        sock.send(b"ping")
        try:
            return sock.recv(2048).split(b" ")[0].decode()
        except OSError:
            return ""


def udp_weights(lab: Lab) -> dict[str, int]:
    return {rs: row.weight for rs, row in lab["director"].ipvs_table().get(f"UDP {VIP}:53", {}).items()}


@pytest.fixture
def director(network: Lab, tmp_path) -> Iterator:
    from lvsweb_agent.agent import Agent
    from lvsweb_agent.monitor import HealthMonitor

    lock = threading.Lock()

    def reapply() -> dict:
        with lock:
            return {"ok": agent.reconcile().ok}

    monitor = HealthMonitor(host="director", on_change=reapply, netns="director", report_interval=60)
    agent = Agent(root=str(tmp_path / "director"), netns="director", health=monitor)
    yield agent, monitor
    monitor.stop()
    agent.close()


def test_a_udp_probe_takes_a_real_server_out_when_its_udp_service_stops(network: Lab, director, apply_all):
    agent, monitor = director
    apply_all({"rs1": labdocs.tun_real_server("rs1"), "rs2": labdocs.tun_real_server("rs2")})
    services = {name: UdpService(name, [VIP, address]) for name, address in (("rs1", RS1), ("rs2", RS2))}
    try:
        check = {"type": "udp", "payload": "ping", "reply_match": "prefix", "reply_pattern": "rs", **FAST}
        document = labdocs.director([labdocs.real_server(a, port=53, health_check=check) for a in (RS1, RS2)], port=53)
        document["director"]["services"][0]["protocol"] = "udp"
        assert agent.apply(document).ok
        monitor.start()
        wait_for(lambda: set(monitor.statuses().values()) == {"up"}, 20, "both up")
        assert sorted({udp_ask("client", VIP) for _ in range(6)}) == ["rs1", "rs2"]

        services["rs1"].stop()  # rs1 now answers the probe with an ICMP port unreachable
        wait_for(lambda: udp_weights(network).get(f"{RS1}:53") == 0, 20, "rs1 at weight 0")
        assert udp_weights(network)[f"{RS2}:53"] == 1
        assert {udp_ask("client", VIP) for _ in range(4)} == {"rs2"}
        [entry] = [e for e in monitor.snapshot() if e["address"] == RS1]
        assert entry["status"] == "down" and "port unreachable (ICMP)" in entry["message"], entry
    finally:
        for service in services.values():
            service.stop()


def in_director(coroutine_factory):
    from lvsweb_agent.kernel import in_netns

    with in_netns("director"):
        return asyncio.run(coroutine_factory())


def test_sctp_by_connect(network: Lab):
    from lvsweb_agent.datagram_probes import sctp_probe

    run("modprobe", "sctp")
    with inside("rs1"):
        server = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_SCTP)
    server.bind((RS1, 7000))
    server.listen()
    result = in_director(lambda: sctp_probe(RS1, 7000, 2.0))
    assert result.ok, result.message
    server.close()
    result = in_director(lambda: sctp_probe(RS1, 7000, 2.0))
    assert not result.ok and "SCTP connect to 10.20.0.11:7000" in result.message, result.message


def through(real_server: str, vip: str, port: int, tunnel):
    """The tunnel-path probe from the director."""
    from lvsweb_agent.probes import TunnelProber

    async def once():
        prober = TunnelProber()
        prober.open()
        try:
            return await prober.probe(real_server, vip, port, 1.5, tunnel)
        finally:
            prober.close()

    return in_director(once)


def test_the_tunnel_path_check_goes_through_gue_and_gre_and_fails_without_decapsulation(network: Lab, apply_all):
    from lvsweb_agent.model import Tunnel

    for module in ("fou", "ip_gre"):
        run("modprobe", module)
    apply_all({"director": labdocs.tun_director(), "rs1": labdocs.tun_real_server("rs1")})
    rs1 = network["rs1"]
    gue, gre = Tunnel("gue", GUE_PORT), Tunnel("gre")

    rs1.ip("fou", "add", "port", str(GUE_PORT), "gue")
    try:
        result = through(RS1, VIP, 80, gue)
        assert result.ok and "tunnel path (gue port 6080 checksum none)" in result.message, result.message
    finally:
        rs1.ip("fou", "del", "port", str(GUE_PORT))
    result = through(RS1, VIP, 80, gue)  # no fou listener: nothing decapsulates the GUE packet
    assert not result.ok and "no SYN-ACK" in result.message
    assert "fou listener on UDP port 6080 (ip fou add port 6080 gue)" in result.message

    rs1.ip("link", "set", "gre0", "up")
    rs1.ip("addr", "add", f"{VIP}/32", "dev", "gre0")
    rs1.set_sysctls({"net.ipv4.conf.gre0.rp_filter": "0"})
    try:
        assert through(RS1, VIP, 80, gre).ok
        rs1.ip("link", "set", "gre0", "down")
        result = through(RS1, VIP, 80, gre)
        assert not result.ok and "the ip_gre module and gre0 up" in result.message, result.message
    finally:
        rs1.ip("addr", "del", f"{VIP}/32", "dev", "gre0", check=False)
        rs1.ip("link", "set", "gre0", "down")


def test_the_tunnel_path_check_tells_a_reply_dropped_on_the_way_back(network: Lab, apply_all):
    from lvsweb_agent.model import Tunnel

    apply_all({"director": labdocs.tun_director(), "rs1": labdocs.tun_real_server("rs1")})
    assert through(RS1, VIP, 80, Tunnel()).ok
    # The router checks sources strictly: the reply from the VIP arrives on its back side, where the
    # VIP is not routed, and is dropped — what a provider's rp filtering does to TUN and DR replies.
    network["router"].set_sysctls({"net.ipv4.conf.all.rp_filter": "1"})
    result = through(RS1, VIP, 80, Tunnel())
    assert not result.ok
    assert "the real server answered" in result.message and "strict reverse-path filtering" in result.message
    # A broken decapsulation is told apart: nothing answers at all.
    network["rs1"].ip("link", "set", "tunl0", "down")
    result = through(RS1, VIP, 80, Tunnel())
    assert "the real server answered" not in result.message and "no SYN-ACK" in result.message


def ip_batch(host: str, lines: list[str], *, teardown: bool = False) -> None:
    """`ip` commands in one process per host (each process costs a second or two under emulation); a
    teardown goes on past errors (-force): it may follow a failure half-way through the setup."""
    force = ["-force"] if teardown else []
    run("ip", "-n", host, *force, "-batch", "-", input="\n".join(lines) + "\n", check=not teardown)


@pytest.fixture
def ipv6(network: Lab) -> Iterator[None]:
    run("modprobe", "ip6_tunnel")
    network["router"].set_sysctls({"net.ipv6.conf.all.forwarding": "1"})
    gateways = {"director": "2001:db8:10::1", "rs1": "2001:db8:20::1"}
    for host, links in V6.items():
        lines = [f"addr add {address} dev {interface} nodad" for interface, address in links]
        if host in gateways:
            lines.append(f"route add ::/0 via {gateways[host]}")
        if host == "director":
            # The VIP with preferred_lft 0, so it never becomes the outer source of the director's tunnel packets.
            lines.append(f"addr add {VIP6}/128 dev eth0 nodad preferred_lft 0")
        ip_batch(host, lines)
    try:
        yield
    finally:
        for host, links in V6.items():
            lines = [f"addr del {address} dev {interface}" for interface, address in links]
            lines += ["route del ::/0"] if host in gateways else []
            if host == "director":
                lines.append(f"addr del {VIP6}/128 dev eth0")
            if host == "rs1":
                lines += [f"addr del {VIP6}/128 dev ip6tnl0", "link set ip6tnl0 down"]
            ip_batch(host, lines, teardown=True)


def test_the_tunnel_path_check_goes_ipv6_in_ipv6_and_fails_without_decapsulation(network: Lab, ipv6):
    from lvsweb_agent.model import Tunnel

    rs1 = network["rs1"]
    with inside("rs1"):
        listener = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    with contextlib.closing(listener):
        listener.bind(("::", 8080))
        listener.listen()
        rs1.ip("link", "set", "ip6tnl0", "up")
        rs1.ip("-6", "addr", "add", f"{VIP6}/128", "dev", "ip6tnl0", "nodad")
        result = through(RS1_6, VIP6, 8080, Tunnel())
        assert result.ok, result.message
        rs1.ip("link", "set", "ip6tnl0", "down")
        result = through(RS1_6, VIP6, 8080, Tunnel())
        assert not result.ok and "the ip6_tunnel module and ip6tnl0 up" in result.message, result.message
