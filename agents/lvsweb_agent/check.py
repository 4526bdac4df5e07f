"""What this kernel supports for LVS, and what a document needs that is missing."""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lvsweb_agent.errors import MODULE_PURPOSES
from lvsweb_agent.kernel import in_netns
from lvsweb_agent.model import SCHEDULERS, DesiredState
from lvsweb_agent.persist import wanted_modules

TUNNEL_MODULES = {"ipip": "ipip", "gue": "fou", "gre": "ip_gre"}
#: IPVS's tunnel types (IPVS_DEST_ATTR_TUN_TYPE): GUE in 5.2, GRE in 5.3.
TUN_TYPE_KERNEL = (5, 3)


@dataclass
class CheckReport:
    """Kernel capabilities; `missing` lists what the checked document needs and cannot get.

    `document` tells whether a document was checked at all: without one nothing is needed, so `missing` is
    empty and `ok` true, but the text must not claim the host is ready for anything.
    """

    kernel: str
    ip_vs: str
    schedulers: dict[str, str] = field(default_factory=dict)
    tunnels: dict[str, str] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)
    document: bool = False

    @property
    def ok(self) -> bool:
        return not self.missing

    def __str__(self) -> str:
        lines = [f"kernel {self.kernel}", f"ip_vs: {self.ip_vs}"]
        lines.append("schedulers: " + ", ".join(f"{name} ({state})" for name, state in self.schedulers.items()))
        lines.append("tunnels: " + ", ".join(f"{name} ({state})" for name, state in self.tunnels.items()))
        if self.missing:
            lines += [f"MISSING: {item}" for item in self.missing]
        elif self.document:
            lines.append("everything the document needs is available")
        else:
            if self.ip_vs == "missing":
                lines.append("IPVS (ip_vs) is missing: this host cannot be a director")
            if self.tunnels.get("ipip") == "missing":
                lines.append("ipip is missing: this host cannot be a TUN real server (no tunl0)")
            lines.append("no document checked: `lvsweb-agent check FILE` says whether this kernel has what FILE needs")
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "kernel": self.kernel,
            "ip_vs": self.ip_vs,
            "schedulers": self.schedulers,
            "tunnels": self.tunnels,
            "missing": self.missing,
        }


class _Modules:
    """Modules loaded (/proc/modules), built in (modules.builtin) or loadable (a .ko file)."""

    def __init__(self, release: str, modules_dir: str = "/lib/modules"):
        base = Path(modules_dir) / release
        self.loaded = set()
        with contextlib.suppress(OSError):
            self.loaded = {line.split()[0] for line in Path("/proc/modules").read_text().splitlines() if line}
        self.builtin, self.files = set(), set()
        try:
            for line in (base / "modules.builtin").read_text().splitlines():
                self.builtin.add(_module_name(line))
        except OSError:
            pass
        for sub in ("kernel/net/netfilter/ipvs", "kernel/net/ipv4", "kernel/net/ipv6"):
            with contextlib.suppress(OSError):
                self.files |= {_module_name(name) for name in os.listdir(base / sub)}

    def state(self, name: str) -> str:
        if name in self.loaded:
            return "loaded"
        if name in self.builtin:
            return "built in"
        if name in self.files:
            return "loadable"
        return "missing"


def _module_name(path: str) -> str:
    name = os.path.basename(path.strip())
    return name.split(".ko")[0].replace("-", "_")


def check_kernel(
    desired: DesiredState | None,
    netns: str | None = None,
    release: str | None = None,
    modules_dir: str = "/lib/modules",
) -> CheckReport:
    """Inspect the running kernel (or `release` under `modules_dir`) against an optional document."""
    release = release or os.uname().release
    modules = _Modules(release, modules_dir)
    with in_netns(netns):
        proc = os.path.exists("/proc/net/ip_vs")
    ip_vs = "loaded" if proc else modules.state("ip_vs")
    report = CheckReport(kernel=release, ip_vs=ip_vs)
    for scheduler in SCHEDULERS:
        report.schedulers[scheduler] = modules.state(f"ip_vs_{scheduler}")
    for tunnel, module in TUNNEL_MODULES.items():
        report.tunnels[tunnel] = modules.state(module)
    if desired is None:
        return report
    report.document = True
    director = desired.director
    if director is not None and director.services:
        if ip_vs == "missing":
            report.missing.append("ip_vs: IPVS is not available in this kernel")
        for scheduler in sorted({service.scheduler for service in director.services}):
            if report.schedulers[scheduler] == "missing":
                report.missing.append(f"scheduler {scheduler}: module ip_vs_{scheduler} not found")
        typed = sorted(
            {
                dest.tunnel.type
                for service in director.services
                for dest in service.real_servers
                if dest.tunnel is not None and dest.tunnel.type != "ipip"
            }
        )
        if typed and _kernel_version(release) < TUN_TYPE_KERNEL:
            report.missing.append(
                f"{' and '.join(typed)} tunnels: this kernel's IPVS sends only ipip (tunnel types need Linux 5.3 "
                "or later; an older one would silently send ipip, which the real server does not expect)"
            )
    for module in wanted_modules(desired):
        if module != "ip_vs" and modules.state(module) == "missing":
            report.missing.append(f"{module}: the TUN recipe needs it ({MODULE_PURPOSES.get(module, 'its tunnels')})")
    return report


def _kernel_version(release: str) -> tuple[int, int]:
    """(major, minor) of a release like 6.1.0-13-amd64; (0, 0) when unreadable."""
    parts = release.split(".")
    try:
        return int(parts[0]), int("".join(ch for ch in parts[1] if ch.isdigit()) or 0)
    except (IndexError, ValueError):
        return (0, 0)
