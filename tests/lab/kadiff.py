"""The keepalived differential harness: keepalived 2.2.7 and lvsweb install one configuration side by side.

keepalived runs only its checker process (`-C`: the IPVS part; VRRP is not started) in namespace `ka-keep`;
lvsweb reads the same text (clusters.interchange.keepalived, plain Python) and its agent applies the result
in namespace `ka-lvsweb`. `sorted_save(ns)` is what both tables are compared by: the lines of `ipvsadm -Sn`.
Health checkers are stripped from the text keepalived runs (they would take the real servers of these
address-only labs out); the checks' import is tested on its own (tests/lab/test_health.py).
"""

from __future__ import annotations

import gzip
import re
import signal
import subprocess
import time
from pathlib import Path

from labnet import run

KEEPALIVED = "/usr/sbin/keepalived"
SAMPLES = Path("/usr/share/doc/keepalived/samples")
NAMESPACES = ("ka-keep", "ka-lvsweb")
CHECKERS = re.compile(r"\b(TCP_CHECK|HTTP_GET|SSL_GET|MISC_CHECK|SMTP_CHECK|UDP_CHECK|DNS_CHECK|PING_CHECK)\s*\{")


def setup() -> None:
    for ns in NAMESPACES:
        run("ip", "netns", "add", ns, check=False)
        run("ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up")


def teardown() -> None:
    for ns in NAMESPACES:
        run("ip", "netns", "del", ns, check=False)


def sorted_save(ns: str) -> list[str]:
    return sorted(line for line in run("ip", "netns", "exec", ns, "ipvsadm", "-Sn").splitlines() if line.strip())


def clear(ns: str) -> None:
    run("ip", "netns", "exec", ns, "ipvsadm", "-C")


def strip_checkers(text: str) -> str:
    """The text without its checker blocks (brace-matched)."""
    while match := CHECKERS.search(text):
        depth, index = 1, match.end()
        while depth and index < len(text):
            depth += {"{": 1, "}": -1}.get(text[index], 0)
            index += 1
        text = text[: match.start()] + text[index:]
    return text


def samples() -> dict[str, str]:
    """Debian's keepalived samples that hold virtual servers, by name."""
    found = {}
    for path in sorted(SAMPLES.glob("keepalived.conf.*")):
        raw = path.read_bytes()
        text = gzip.decompress(raw).decode() if path.suffix == ".gz" else raw.decode()
        if "virtual_server" in text:
            found[path.name.removesuffix(".gz")] = text
    return found


def keepalived_table(
    text: str, workdir: Path, expected: list[str] | None = None, timeout: float = 15
) -> tuple[list[str], str]:
    """What keepalived installs for `text` (checkers stripped) in ka-keep, and its log.

    Read as soon as it equals `expected` (lvsweb's table), else once it has not changed for 0.6 s.
    """
    ns = NAMESPACES[0]
    clear(ns)
    conf = workdir / f"keepalived-{time.monotonic_ns()}.conf"
    conf.write_text(strip_checkers(text))
    pids = {flag: str(workdir / f"{flag[1]}-{conf.stem}.pid") for flag in ("-p", "-c", "-r", "-b")}
    command = ["ip", "netns", "exec", ns, KEEPALIVED, "-n", "-l", "-C", "-G", "-f", str(conf)]
    for flag, path in pids.items():
        command += [flag, path]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    table: list[str] = []
    try:
        deadline, stable_since = time.monotonic() + timeout, None
        while time.monotonic() < deadline and process.poll() is None:
            current = sorted_save(ns)
            if current == expected:
                table = current
                break
            if current and current == table:
                stable_since = stable_since or time.monotonic()
                if time.monotonic() - stable_since >= 0.6:
                    break
            else:
                table, stable_since = current, None
            time.sleep(0.3)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            log, _ = process.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            log, _ = process.communicate()
        clear(ns)
    return table, log


def service_document(service) -> dict:
    """A rule-set service (lvsweb_agent.model.Service) as a desired-state document's service."""
    key = service.key
    entry: dict = {"scheduler": service.scheduler, "flags": sorted(service.flags), "one_packet": service.one_packet}
    if key.fwmark:
        entry.update(fwmark=key.fwmark, family=key.family)
    else:
        entry.update(protocol=key.protocol, address=key.address, port=key.port)
    entry["persistence"] = (
        {"timeout": service.persistence.timeout, "netmask": service.persistence.netmask}
        if service.persistence
        else None
    )
    entry["real_servers"] = [
        {
            "address": dest.address,
            "port": dest.port,
            "weight": dest.weight,
            "forward": dest.forward,
            "tunnel": (
                {"type": dest.tunnel.type, "port": dest.tunnel.port or None, "checksum": dest.tunnel.checksum}
                if dest.forward == "tun" and dest.tunnel
                else None
            ),
            "upper_threshold": dest.upper_threshold,
            "lower_threshold": dest.lower_threshold,
        }
        for dest in service.real_servers
    ]
    return entry


def lvsweb_table(services, agent_factory, revision: int) -> list[str]:
    """What lvsweb's agent installs in ka-lvsweb for the imported `services`."""
    ns = NAMESPACES[1]
    clear(ns)
    document = {
        "version": 1,
        "host": ns,
        "revision": revision,
        "director": {
            "owns_ipvs_table": False,
            "drain_timeout": 0,
            "ip_forward": False,
            "vips": [],
            "services": [service_document(service) for service in services],
        },
        "real_server": None,
    }
    agent = agent_factory(revision)
    try:
        result = agent.apply(document)
        assert result.ok, f"the agent refused the imported document: {result.error}"
        return sorted_save(ns)
    finally:
        agent.close()
        clear(ns)
