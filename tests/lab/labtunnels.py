"""The tunnel matrix's own topology: one director, four real servers, one client, IPv4 and IPv6 on one bridge.

```
  br-tun 10.40.0.0/24, fd40::/64
    t-client  .10  ::10    routes the VIPs (10.41.0.0/24, fd41::/64) through the director
    t-dir      .2  ::2     IPVS, VIPs on eth0
    t-v4      .11  ::11    decapsulates what is sent to its IPv4 address (tunl0, sit0; fou)
    t-v6      .12  ::12    decapsulates what is sent to its IPv6 address (ip6tnl0, in mode any; fou)
    t-gre     .13  ::13    gre0 and ip6gre0
    t-csum    .14  ::14    GRE with checksums (lvsgre4, lvsgre6); GUE with checksums
```
Every row of the matrix is one virtual service with one real server: its VIP, the real server's address the
director sends to (outer family), the tunnel type, the protocol. Rows are grouped on these hosts so that one
topology serves them all (one set of agent runs). Real servers answer with their name: HTTP (busybox httpd,
both families), UDP and SCTP (threads of the test process with sockets opened in the namespace; UDP replies
leave from the address the request was sent to, the VIP, as a real service does).
"""

from __future__ import annotations

import contextlib
import socket
import struct
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path

from labnet import inside, run

BRIDGE = "br-tun"
CLIENT, DIRECTOR = "t-client", "t-dir"
HOSTS = {CLIENT: 10, DIRECTOR: 2, "t-v4": 11, "t-v6": 12, "t-gre": 13, "t-csum": 14}
REAL_SERVERS = ("t-v4", "t-v6", "t-gre", "t-csum")
UDP_PORT, HTTP_PORT, GUE_PORT, GUE_CSUM_PORT = 5353, 80, 6080, 6081
IP_PKTINFO = 8  # <linux/in.h>; Python's socket module does not name it


def v4(host: str) -> str:
    return f"10.40.0.{HOSTS[host]}"


def v6(host: str) -> str:
    return f"fd40::{HOSTS[host]}"


@dataclass(frozen=True)
class Row:
    """One matrix row: PROTOCOL to VIP, tunnelled by TYPE to real server HOST at its `outer` address."""

    name: str
    vip: str
    host: str
    outer: str  # "ipv4" | "ipv6": which of the host's addresses the director sends to
    type: str = "ipip"
    protocol: str = "tcp"
    checksum: str = "none"
    fwmark: int = 0

    @property
    def port(self) -> int:
        return UDP_PORT if self.protocol == "udp" else HTTP_PORT

    @property
    def address(self) -> str:
        return v4(self.host) if self.outer == "ipv4" else v6(self.host)

    @property
    def tunnel_port(self) -> int | None:
        if self.type != "gue":
            return None
        return GUE_CSUM_PORT if self.checksum != "none" else GUE_PORT

    @property
    def stats_key(self) -> str:
        """The service as `ipvsadm -Ln --stats` names it."""
        if self.fwmark:
            return f"FWM {self.fwmark}"
        host = f"[{self.vip}]" if ":" in self.vip else self.vip
        return f"{self.protocol.upper()} {host}:{self.port}"


def _rows() -> list[Row]:
    rows = []
    # Each (type, inner family, outer family) on its own VIP, TCP and UDP on the same VIP.
    combos = [
        ("ipip", "10.41.0.1", "t-v4", "ipv4"),
        ("ipip", "fd41::1", "t-v6", "ipv6"),
        ("ipip", "10.41.0.2", "t-v6", "ipv6"),
        ("ipip", "fd41::2", "t-v4", "ipv4"),
        ("gue", "10.41.0.3", "t-v4", "ipv4"),
        ("gue", "fd41::3", "t-v6", "ipv6"),
        ("gue", "10.41.0.4", "t-v6", "ipv6"),
        ("gue", "fd41::4", "t-v4", "ipv4"),
        ("gre", "10.41.0.5", "t-gre", "ipv4"),
        ("gre", "fd41::5", "t-gre", "ipv6"),
        ("gre", "10.41.0.6", "t-gre", "ipv6"),
        ("gre", "fd41::6", "t-gre", "ipv4"),
    ]
    for kind, vip, host, outer in combos:
        inner = "ipv6" if ":" in vip else "ipv4"
        for protocol in ("tcp", "udp"):
            rows.append(Row(f"{kind}-{inner}-in-{outer}-{protocol}", vip, host, outer, kind, protocol))
    rows += [
        Row("gre-csum-ipv4-in-ipv4-tcp", "10.41.0.7", "t-csum", "ipv4", "gre", checksum="csum"),
        Row("gre-csum-ipv6-in-ipv6-tcp", "fd41::7", "t-csum", "ipv6", "gre", checksum="csum"),
        Row("gue-csum-ipv4-in-ipv4-tcp", "10.41.0.8", "t-csum", "ipv4", "gue", checksum="csum"),
        Row("gue-remcsum-ipv6-in-ipv6-tcp", "fd41::8", "t-csum", "ipv6", "gue", checksum="remcsum"),
        Row("ipip-ipv4-in-ipv4-sctp", "10.41.0.1", "t-v4", "ipv4", protocol="sctp"),
        Row("ipip-ipv4-in-ipv4-fwmark", "10.41.0.9", "t-v4", "ipv4", fwmark=7),
    ]
    return rows


ROWS = _rows()


# -- documents ---------------------------------------------------------------------------------------------


def _service(row: Row) -> dict:
    key = (
        {"fwmark": row.fwmark, "family": "ipv4"}
        if row.fwmark
        else {
            "protocol": row.protocol,
            "address": row.vip,
            "port": row.port,
        }
    )
    tunnel = {"type": row.type, "port": row.tunnel_port, "checksum": row.checksum}
    dest = {"address": row.address, "port": row.port, "weight": 1, "forward": "tun", "tunnel": tunnel}
    return {**key, "scheduler": "rr", "flags": [], "persistence": None, "real_servers": [dest]}


def director_document() -> dict:
    vips = []
    for row in ROWS:
        vip = {"address": row.vip, "prefix": 128 if ":" in row.vip else 32, "interface": "eth0"}
        if vip not in vips:
            vips.append(vip)
    director = {"owns_ipvs_table": True, "drain_timeout": 0, "ip_forward": False, "vips": vips}
    director["services"] = [_service(row) for row in ROWS]
    return {"version": 1, "host": DIRECTOR, "revision": 1, "director": director, "real_server": None}


def real_server_document(host: str) -> dict:
    """What the console's compiler gives HOST (clusters/compiler.py): its VIPs, and how each arrives."""
    vips: list[str] = []
    tunnels: list[dict] = []
    for row in ROWS:
        if row.host != host:
            continue
        if row.vip not in vips:
            vips.append(row.vip)
        entry = {"vip": row.vip, "type": row.type, "address": row.address, "port": row.tunnel_port}
        entry["checksum"] = row.checksum
        if entry not in tunnels:
            tunnels.append(entry)
    plain = {
        vip
        for vip in vips
        if all(e["type"] == "ipip" and (":" in e["address"]) == (":" in vip) for e in tunnels if e["vip"] == vip)
    }
    recipe = {"vips": vips, "uplinks": ["eth0"], "tunnels": [e for e in tunnels if e["vip"] not in plain]}
    return {"version": 1, "host": host, "revision": 1, "director": None, "real_server": {"tun": recipe, "dr": None}}


# -- the topology ------------------------------------------------------------------------------------------


class Servers:
    """UDP echo and SCTP servers (threads) answering with the host's name."""

    def __init__(self) -> None:
        self.sockets: list[socket.socket] = []
        self.stop = threading.Event()

    def udp(self, host: str) -> None:
        with inside(host):
            for family in (socket.AF_INET, socket.AF_INET6):
                sock = socket.socket(family, socket.SOCK_DGRAM)
                if family == socket.AF_INET6:
                    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVPKTINFO, 1)
                else:
                    sock.setsockopt(socket.IPPROTO_IP, IP_PKTINFO, 1)
                sock.bind(("", UDP_PORT))
                sock.settimeout(0.5)
                self.sockets.append(sock)
                threading.Thread(target=self._echo, args=(sock, host.encode()), daemon=True).start()

    def _echo(self, sock: socket.socket, name: bytes) -> None:
        while not self.stop.is_set():
            try:
                _, ancillary, _, peer = sock.recvmsg(2048, 256)
            except (TimeoutError, OSError):
                continue
            # Answer from the address the request was sent to (the VIP), as the request's pktinfo says.
            reply = []
            for level, kind, data in ancillary:
                if level == socket.IPPROTO_IP and kind == IP_PKTINFO:
                    _, _, destination = struct.unpack("=I4s4s", data[:12])
                    reply = [(level, kind, struct.pack("=I4s4s", 0, destination, b"\0" * 4))]
                elif level == socket.IPPROTO_IPV6 and kind == socket.IPV6_PKTINFO:
                    reply = [(level, kind, data[:16] + struct.pack("=I", 0))]
            with contextlib.suppress(OSError):
                sock.sendmsg([name + b"\n"], reply, 0, peer)

    def sctp(self, host: str, address: str) -> None:
        with inside(host):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_SCTP)
        sock.bind((address, HTTP_PORT))
        sock.listen(8)
        sock.settimeout(0.5)
        self.sockets.append(sock)
        threading.Thread(target=self._sctp, args=(sock, host.encode()), daemon=True).start()

    def _sctp(self, sock: socket.socket, name: bytes) -> None:
        while not self.stop.is_set():
            try:
                connection, _ = sock.accept()
            except (TimeoutError, OSError):
                continue
            with connection, contextlib.suppress(OSError):
                connection.sendall(name + b"\n")

    def close(self) -> None:
        self.stop.set()
        for sock in self.sockets:
            sock.close()


class TunnelLab:
    """Builds the topology, runs the web servers, answers the client's requests, tears it all down."""

    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.processes: list[subprocess.Popen] = []
        self.servers = Servers()
        self.problems: dict[str, str] = {}

    def build(self) -> None:
        self.destroy()
        run("ip", "link", "add", BRIDGE, "type", "bridge")
        run("ip", "link", "set", BRIDGE, "up")
        for host, last in HOSTS.items():
            run("ip", "netns", "add", host)
            run("ip", "link", "add", f"{host}-e", "type", "veth", "peer", "name", "eth0", "netns", host)
            run("ip", "link", "set", f"{host}-e", "master", BRIDGE, "up")
            commands = [
                "link set lo up",
                "link set eth0 up",
                f"addr add 10.40.0.{last}/24 dev eth0",
                f"addr add fd40::{last}/64 dev eth0 nodad",
            ]
            if host == CLIENT:
                commands += ["route add 10.41.0.0/24 via 10.40.0.2", "route add fd41::/64 via fd40::2"]
            run("ip", "-n", host, "-batch", "-", input="\n".join(commands) + "\n")
            if host in REAL_SERVERS:
                with inside(host):
                    for scope in ("all", "default", "eth0"):  # what the agent must change
                        Path(f"/proc/sys/net/ipv4/conf/{scope}/rp_filter").write_text("1")
                www = self.workdir / "www" / host
                www.mkdir(parents=True, exist_ok=True)
                (www / "index.html").write_text(host + "\n")
                with inside(host):
                    command = ["busybox", "httpd", "-f", "-p", str(HTTP_PORT), "-h", str(www)]
                    self.processes.append(subprocess.Popen(command))
                self.servers.udp(host)
        # The director's marking rule for the fwmark row: the user's, as docs/agent-spec.md shows (tc here:
        # the lab VM has no nft).
        marked = next(row for row in ROWS if row.fwmark)
        with inside(DIRECTOR):
            run("tc", "qdisc", "add", "dev", "eth0", "clsact")
            run(
                "tc", "filter", "add", "dev", "eth0", "ingress", "protocol", "ip", "u32",
                "match", "ip", "dst", f"{marked.vip}/32", "action", "skbedit", "mark", str(marked.fwmark),
            )  # fmt: skip

    def start_sctp(self) -> None:
        """SCTP answers from the address it is bound to: bind to the VIP once the agent put it there."""
        for row in ROWS:
            if row.protocol == "sctp":
                try:
                    self.servers.sctp(row.host, row.vip)
                except OSError as exc:
                    self.problems[row.host] = f"SCTP server on {row.vip}: {exc}"

    def request(self, row: Row, timeout: float = 2) -> str:
        """One request from the client to the row's VIP (a new connection or datagram): the answer."""
        family = socket.AF_INET6 if ":" in row.vip else socket.AF_INET
        kind = socket.SOCK_DGRAM if row.protocol == "udp" else socket.SOCK_STREAM
        protocol = socket.IPPROTO_SCTP if row.protocol == "sctp" else 0
        with inside(CLIENT):
            sock = socket.socket(family, kind, protocol)
        with sock:
            sock.settimeout(timeout)
            try:
                sock.connect((row.vip, row.port))
                if row.protocol == "udp":
                    sock.send(b"hello\n")
                    return sock.recv(2048).decode().strip()
                if row.protocol == "sctp":
                    return sock.recv(2048).decode().strip()
                sock.sendall(f"GET / HTTP/1.0\r\nHost: {row.vip}\r\n\r\n".encode())
                reply = b""
                while chunk := sock.recv(65536):
                    reply += chunk
            except OSError:
                return ""
        head, _, body = reply.partition(b"\r\n\r\n")
        return body.decode().strip() if b" 200 " in head.split(b"\r\n")[0] else ""

    def destroy(self) -> None:
        self.servers.close()
        self.servers = Servers()
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=5)
        self.processes.clear()
        for host in HOSTS:
            run("ip", "netns", "del", host, check=False)
        run("ip", "link", "del", BRIDGE, check=False)
