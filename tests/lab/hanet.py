"""Two directors for director HA (docs/ha.md) on the lab network of labnet.py, and TCP streams through them.

```
  br-front 10.10.0.0/24                      br-back 10.20.0.0/24
    client .10 ─┐                           ┌─ rs1 .11  echo server :9000 (TUN)
    ha1     .3 ─┼─ .1 router .1 ────────────┤
    ha2     .4 ─┘   VIP 10.10.0.150 (VRRP)   └─ rs2 .12
```
ha1 and ha2 are directors of their own (namespaces added to the session's lab, removed after the module);
each runs an in-process agent, its HA follower and keepalived. The real servers run an echo server that
greets each connection with its name, so a stream knows which real server it reaches.
"""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from labnet import FRONT, ROUTER_FRONT, Host, Lab, inside, run

HA_VIP = "10.10.0.150"
ECHO_PORT = 9000
DIRECTORS = {"ha1": f"{FRONT}.3", "ha2": f"{FRONT}.4"}


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
) -> dict:
    """A director document: TCP HA_VIP:9000 round robin to rs1 and rs2 (TUN), the VIP moved by VRRP."""
    servers = [
        {"address": address, "port": ECHO_PORT, "weight": 1, "forward": "tun"}
        for address in ("10.20.0.11", "10.20.0.12")
    ]
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
            "backup_only": False,
        }
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


class HaNet:
    """ha1 and ha2 added to the lab's front bridge, echo servers on rs1 and rs2."""

    def __init__(self, lab: Lab, workdir: Path):
        self.lab = lab
        self.workdir = workdir
        self.hosts = {
            name: Host(name, {"eth0": ("br-front", f"{address}/24")}, gateway=ROUTER_FRONT)
            for name, address in DIRECTORS.items()
        }
        self.echo: list[EchoServer] = []

    def __getitem__(self, name: str) -> Host:
        return self.hosts[name] if name in self.hosts else self.lab[name]

    def build(self) -> None:
        from pyroute2 import IPRoute

        self.destroy()
        with IPRoute() as vm:
            bridge = vm.link_lookup(ifname="br-front")[0]
            for host in self.hosts.values():
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
            host.ip("route", "replace", "default", "via", ROUTER_FRONT)

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
