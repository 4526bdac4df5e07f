"""Two directors for director HA (docs/ha.md) on the lab network of labnet.py, and TCP streams through them.

```
  br-front 10.10.0.0/24                      br-back 10.20.0.0/24
    client .10 ─┐                           ┌─ rs1 .11  echo server :9000 (TUN)
    ha1     .3 ─┼─ .1 router .1 ────────────┼─ rs2 .12
    ha2     .4 ─┘   VIP 10.10.0.150 (VRRP)   └─ ha3 .5   a director across the router (unicast VRRP)
```
ha1, ha2 and ha3 are directors of their own (namespaces added to the session's lab, removed after the module);
each runs an in-process agent, its HA follower and keepalived (or a real `lvsweb-agent run`, AgentProcess).
The real servers, and ha2 when it is also one, run an echo server that greets each connection with its name,
so a stream knows which real server it reaches.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from labnet import BACK, FRONT, ROUTER_BACK, ROUTER_FRONT, Host, Lab, inside, run

HA_VIP = "10.10.0.150"
ECHO_PORT = 9000
DIRECTORS = {"ha1": f"{FRONT}.3", "ha2": f"{FRONT}.4", "ha3": f"{BACK}.5"}


def ha_director(
    host: str,
    priority: int,
    *,
    sync: bool = True,
    preempt: bool = True,
    track: bool = True,
    advert_int: float = 1,
    ha: bool = True,
    revision: int = 1,
    unicast_peers: tuple[str, ...] = (),
    director_real_server: str | None = None,
) -> dict:
    """A director document: TCP HA_VIP:9000 round robin to rs1 and rs2 (TUN), the VIP moved by VRRP.

    `unicast_peers`: unicast VRRP to those directors' addresses, from this one's. `director_real_server`: that
    director is also a DR real server of the service (its document then has the DR recipe and backup_only).
    """
    servers = [
        {"address": address, "port": ECHO_PORT, "weight": 1, "forward": "tun"}
        for address in ("10.20.0.11", "10.20.0.12")
    ]
    if director_real_server is not None:
        servers.append({"address": DIRECTORS[director_real_server], "port": ECHO_PORT, "weight": 1, "forward": "dr"})
    document: dict = {
        "version": 1,
        "host": host,
        "revision": revision,
        "director": {
            "owns_ipvs_table": True,
            "drain_timeout": 0,
            "vips": [],
            "services": [
                {"protocol": "tcp", "address": HA_VIP, "port": ECHO_PORT, "scheduler": "rr", "real_servers": servers}
            ],
            "ha": None,
        },
    }
    if ha:
        document["director"]["ha"] = {
            "router_id": host,
            "instances": [
                {
                    "name": "web",
                    "vrid": 51,
                    "interface": "eth0",
                    "priority": priority,
                    "preempt": preempt,
                    "advert_int": advert_int,
                    "auth_pass": "lab",
                    "vips": [{"address": HA_VIP, "prefix": 32, "interface": "eth0"}],
                    "track_agent": track,
                }
            ],
            "sync": {"syncid": 7, "interface": "eth0"} if sync else None,
            "backup_only": director_real_server == host,
        }
        if unicast_peers:
            instance = document["director"]["ha"]["instances"][0]
            instance["unicast_source"], instance["unicast_peers"] = DIRECTORS[host], list(unicast_peers)
    if director_real_server == host:
        document["real_server"] = {"tun": None, "dr": {"vips": [HA_VIP], "uplinks": ["eth0"]}}
    return document


def ha_real_server(host: str) -> dict:
    return {
        "version": 1,
        "host": host,
        "revision": 1,
        "director": None,
        "real_server": {"tun": {"vips": [HA_VIP], "uplinks": ["eth0"]}, "dr": None},
    }


class EchoServer(threading.Thread):
    """Greets each connection with `name\\n`, then echoes what it receives (in the host's namespace)."""

    def __init__(self, host: str):
        super().__init__(name=f"echo-{host}", daemon=True)
        self.host = host
        with inside(host):
            self.listener = socket.create_server(("0.0.0.0", ECHO_PORT), backlog=64)  # noqa: S104  # the VIP on tunl0
        self.listener.settimeout(0.5)
        self.closing = False

    def run(self) -> None:
        while not self.closing:
            try:
                connection, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._echo, args=(connection,), daemon=True).start()

    def _echo(self, connection: socket.socket) -> None:
        with connection:
            try:
                connection.sendall(f"{self.host}\n".encode())
                while data := connection.recv(4096):
                    connection.sendall(data)
            except OSError:
                pass

    def close(self) -> None:
        self.closing = True
        self.listener.close()


@dataclass
class Stream:
    """One long-lived TCP connection from the client through the VIP, echoing 32 bytes every 0.2 s."""

    server: str
    sock: socket.socket
    sent: int = 0
    error: str = ""
    last_ok: float = field(default_factory=time.monotonic)
    longest_silence: float = 0.0

    def pump(self, stopping: threading.Event) -> None:
        payload = b"0123456789abcdef0123456789ABCDEF"
        self.sock.settimeout(0.5)
        while not stopping.is_set() and not self.error:
            try:
                self.sock.sendall(payload)
                got = b""
                while len(got) < len(payload) and not stopping.is_set():
                    try:
                        chunk = self.sock.recv(len(payload) - len(got))
                    except TimeoutError:
                        self._silence()
                        # TCP's retransmission back-off after two transitions in a row can reach tens of seconds.
                        if time.monotonic() - self.last_ok > 90:
                            self.error = "no echo for 90 s"
                            return
                        continue
                    if not chunk:
                        self.error = "closed by the other end"
                        return
                    got += chunk
            except OSError as exc:
                self.error = f"{type(exc).__name__}: {exc}"
                return
            if got == payload:
                self._silence()
                self.last_ok = time.monotonic()
                self.sent += 1
            time.sleep(0.2)

    def _silence(self) -> None:
        self.longest_silence = max(self.longest_silence, time.monotonic() - self.last_ok)


class Streams:
    """COUNT streams from the client to HA_VIP:9000, pumped by one thread each."""

    def __init__(self, client: Host, count: int = 20):
        self.stopping = threading.Event()
        self.streams = []
        for _ in range(count):
            with inside(client.name):
                sock = socket.create_connection((HA_VIP, ECHO_PORT), timeout=30)  # the emulated lab is slow
            greeting = b""
            while not greeting.endswith(b"\n"):
                chunk = sock.recv(64)
                if not chunk:
                    raise RuntimeError("the echo server closed before greeting")
                greeting += chunk
            self.streams.append(Stream(server=greeting.decode().strip(), sock=sock))
        self.threads = [threading.Thread(target=s.pump, args=(self.stopping,), daemon=True) for s in self.streams]
        for thread in self.threads:
            thread.start()

    def counts(self) -> list[int]:
        return [stream.sent for stream in self.streams]

    def all_advance(self, timeout: float) -> bool:
        """True once every stream has echoed again since now (False after TIMEOUT or when one broke)."""
        start = self.counts()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(stream.error for stream in self.streams):
                return False
            if all(now > before for now, before in zip(self.counts(), start, strict=True)):
                return True
            time.sleep(0.1)
        return False

    def broken(self) -> list[str]:
        return [stream.error for stream in self.streams if stream.error]

    def close(self) -> None:
        self.stopping.set()
        for thread in self.threads:
            thread.join(timeout=5)
        for stream in self.streams:
            stream.sock.close()


def greet(client: Host) -> str:
    """One short connection from the client to HA_VIP:9000: the name the real server greets it with."""
    with inside(client.name):
        sock = socket.create_connection((HA_VIP, ECHO_PORT), timeout=30)
    with sock:
        greeting = b""
        while not greeting.endswith(b"\n"):
            chunk = sock.recv(64)
            if not chunk:
                raise RuntimeError(f"closed before greeting (got {greeting!r})")
            greeting += chunk
    return greeting.decode().strip()


class HaNet:
    """ha1 and ha2 added to the lab's front bridge, ha3 to its back one, echo servers on rs1 and rs2."""

    def __init__(self, lab: Lab, workdir: Path):
        self.lab = lab
        self.workdir = workdir
        self.hosts = {
            name: Host(
                name,
                {"eth0": ("br-back" if address.startswith(BACK) else "br-front", f"{address}/24")},
                gateway=ROUTER_BACK if address.startswith(BACK) else ROUTER_FRONT,
            )
            for name, address in DIRECTORS.items()
        }
        self.echo: list[EchoServer] = []
        #: Directors that are also DR real servers: the VIP is on their lo for good; holding it means on eth0.
        self.vip_on_lo: set[str] = set()

    def __getitem__(self, name: str) -> Host:
        return self.hosts[name] if name in self.hosts else self.lab[name]

    def build(self) -> None:
        from pyroute2 import IPRoute

        self.destroy()
        with IPRoute() as vm:
            for host in self.hosts.values():
                bridge = vm.link_lookup(ifname=host.links["eth0"][0])[0]
                run("ip", "netns", "add", host.name)
                outside = f"{host.name}-eth0"
                vm.link("add", ifname=outside, kind="veth", peer={"ifname": "eth0", "net_ns_fd": host.name})
                vm.link("set", index=vm.link_lookup(ifname=outside)[0], master=bridge, state="up")
        for host in self.hosts.values():
            self.lab._configure(host)  # links up, address, default route (labnet's own steps)
        for name in ("rs1", "rs2"):
            server = EchoServer(name)
            server.start()
            self.echo.append(server)

    def uplink(self, name: str, up: bool) -> None:
        """Take a director's eth0 down or up again (with its default route, which goes away with the link)."""
        host = self.hosts[name]
        host.ip("link", "set", "eth0", "up" if up else "down")
        if up:
            host.ip("route", "replace", "default", "via", host.gateway)

    def echo_on(self, name: str) -> None:
        """An echo server on director NAME too (it is also a real server)."""
        server = EchoServer(name)
        server.start()
        self.echo.append(server)

    def holds(self, name: str) -> bool:
        """Whether director NAME holds the VIP: a socket bound to it there (one syscall; a netlink dump of the
        addresses parsed in Python, 20 times a second, slowed the emulated lab more than it measured)."""
        with inside(name):
            probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        with probe:
            try:
                probe.bind((HA_VIP, 0))
            except OSError:
                return False
        if name in self.vip_on_lo:
            return f" {HA_VIP}/32 " in self.hosts[name].run("ip", "-o", "-4", "addr", "show", "dev", "eth0")
        return True

    def holder(self) -> str | None:
        """The director holding the VIP (None: neither; both: 'ha1+ha2')."""
        return "+".join(name for name in self.hosts if self.holds(name)) or None

    def wait_for_holder(self, name: str, timeout: float) -> float | None:
        """Seconds until NAME alone holds the VIP, or None after TIMEOUT."""
        start = time.monotonic()
        while time.monotonic() - start < timeout:
            if self.holder() == name:
                return time.monotonic() - start
            time.sleep(0.05)
        return None

    def destroy(self) -> None:
        for server in self.echo:
            server.close()
        self.echo.clear()
        for host in self.hosts.values():
            host.close()
            run("ip", "netns", "del", host.name, check=False)


class AgentProcess:
    """`ip netns exec HOST lvsweb-agent run`, the installed agent as systemd runs it, on the director's root.

    Its broker is 127.0.0.1:6379 in the director's namespace, where nothing listens: the worker retries the
    connection for as long as it runs and every report it tries waits for it (15 s) and is dropped, while its HA
    follower works as on a director cut off from the console. `stop()` is systemd's stop with KillMode=process
    (SIGTERM to the agent alone), `kill()` a crash (SIGKILL).
    """

    def __init__(self, host: str, root: Path, program: list[str], grace: float):
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
        from lvsweb_agent.envelope import private_key_pem, public_key_text

        self.host, self.root, self.program, self.grace = host, root, program, grace
        etc = root / "etc" / "lvsweb-agent"
        etc.mkdir(parents=True, exist_ok=True, mode=0o700)
        key = etc / "host-key.pem"
        key.write_bytes(private_key_pem(Ed25519PrivateKey.generate()))
        key.chmod(0o600)
        self.config = etc / "agent.json"
        config = {
            "broker_url": "redis://127.0.0.1:6379/2",
            "host": host,
            "queue": f"lvsweb.host.{host}",
            "control_public_key": public_key_text(Ed25519PrivateKey.generate()),
            "private_key_file": str(key),
            "heartbeat_interval": 30,
            "root": str(root),
        }
        self.config.write_text(json.dumps(config))
        self.config.chmod(0o600)
        self.process: subprocess.Popen | None = None
        self.runs = 0

    def start(self) -> None:
        self.runs += 1
        log = open(self.root / f"agent-{self.runs}.log", "w")  # noqa: SIM115  # the process holds it
        environment = {**os.environ, "LVSWEB_AGENT_HA_RESTART_GRACE": str(self.grace), "LVSWEB_STATS_INTERVAL": "0"}
        with log:
            self.process = subprocess.Popen(
                ["ip", "netns", "exec", self.host, *self.program, "run", "--config", str(self.config)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=environment,
            )

    def log(self) -> str:
        return (self.root / f"agent-{self.runs}.log").read_text()[-3000:]

    def stop(self, timeout: float = 60) -> int:
        """SIGTERM to the agent's process alone (systemd, KillMode=process); its exit status."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=timeout)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=30)
