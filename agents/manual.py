"""The exact commands to configure a host by hand, for a real server (or director) run without an agent.

The commands come from the same code the agent runs: the host's document from the compiler, its
operations from the agent's planner against a host that has nothing yet, each operation written as the
shell command that does the same thing (`modprobe`, `ip`, `sysctl`, the persistence files, `ipvsadm-restore`).
"""

from dataclasses import dataclass, field
from typing import Any

from agents.compiler import DOCUMENT_VERSION, compile_documents, inventory_snapshot
from agents.host.document import parse_document
from agents.host.ipvsadm import render_save
from agents.host.model import ActualState, DesiredState
from agents.host.planner import plan
from clusters.models import Cluster, Host

#: tunl0's MTU: 1500 minus the 20 bytes of the outer IPv4 header (the kernel's default for tunl0).
TUNL0_MTU = 1480


@dataclass
class Step:
    """One step of the recipe: why, and the commands that do it."""

    why: str
    commands: list[str] = field(default_factory=list)


@dataclass
class ManualRecipe:
    """The hand configuration of one host for the current inventory of its clusters."""

    host: Host
    document: dict[str, Any]
    steps: list[Step]

    @property
    def vips(self) -> list[str]:
        part = self.document.get("real_server") or {}
        return [vip for recipe in (part.get("tun"), part.get("dr")) if recipe for vip in recipe["vips"]]

    @property
    def script(self) -> str:
        """Every step as one shell script, the reasons as comments."""
        lines = ["#!/bin/sh", "set -e"]
        for step in self.steps:
            lines.append(f"# {step.why}")
            lines.extend(step.commands)
        return "\n".join(lines) + "\n"


def _heredoc(path: str, content: str) -> str:
    return f"cat > /{path} <<'EOF'\n{content.rstrip(chr(10))}\nEOF"


def _commands(operation) -> list[str]:
    kind = operation.kind
    if kind == "load-module":
        return [f"modprobe {operation.target}"]
    if kind == "link-up":
        commands = [f"ip link set {operation.name} up"]
        if operation.name == "tunl0":
            commands.append(f"ip link set tunl0 mtu {TUNL0_MTU}")
        return commands
    if kind == "set-sysctl":
        return [f"sysctl -w {operation.name}={operation.value}"]
    if kind == "add-address":
        address = operation.address
        return [f"ip addr add {address.address}/{address.prefix} dev {address.interface}"]
    if kind == "del-address":
        address = operation.address
        return [f"ip addr del {address.address}/{address.prefix} dev {address.interface}"]
    if kind == "write-file":
        return [f"mkdir -p /{operation.name.rsplit('/', 1)[0]}", _heredoc(operation.name, operation.value)]
    return []  # IPVS operations: the director's table is restored in one step (see below)


def host_document(host: Host) -> dict[str, Any]:
    """The host's document for the current inventory of every cluster it has a role in."""
    clusters = Cluster.objects.filter(cluster_hosts__host=host).distinct().order_by("pk")
    snapshots = [inventory_snapshot(cluster) for cluster in clusters]
    documents = compile_documents(snapshots, {host.hostname: host.document_serial})
    return documents.get(host.hostname) or {
        "version": DOCUMENT_VERSION,
        "host": host.hostname,
        "revision": host.document_serial,
        "director": None,
        "real_server": None,
    }


def recipe_steps(desired: DesiredState) -> list[Step]:
    """The steps that configure a host that has nothing yet as `desired` says, in the agent's order."""
    steps: list[Step] = []
    ipvs_table = False
    for operation in plan(desired, ActualState(ipvs_loaded=False)).operations:
        if operation.kind in ("add-service", "add-dest"):
            ipvs_table = True
            continue
        commands = _commands(operation)
        if not commands:
            continue
        # The planner's reasons end with the state it found ("; not set yet"): on a bare host that goes unsaid.
        why = operation.reason.rsplit("; ", 1)[0]
        if steps and steps[-1].why == why:
            steps[-1].commands.extend(commands)
        else:
            steps.append(Step(why=why, commands=commands))
    if ipvs_table and desired.director is not None:
        table = render_save(desired.director.services).rstrip("\n")
        steps.append(
            Step(
                why="the IPVS table (ipvsadm-save format); add it to the ipvsadm service's rules file to keep it",
                commands=[f"ipvsadm-restore <<'EOF'\n{table}\nEOF"],
            )
        )
    if desired.tun is not None:
        steps.append(
            Step(
                why=f"optional: TUN encapsulation costs 20 bytes, so tunl0 carries {TUNL0_MTU}-byte packets; if "
                "clients send full-size packets, clamp the MSS this host announces for its VIPs (uncomment; the "
                "agent does not do this)",
                commands=[
                    f"# iptables -t mangle -A OUTPUT -s {vip} -p tcp --tcp-flags SYN,RST SYN "
                    f"-j TCPMSS --set-mss {TUNL0_MTU - 40}"
                    for vip in desired.tun.vips
                ],
            )
        )
    return steps


def manual_recipe(host: Host) -> ManualRecipe:
    """The recipe of `host` from the current inventory (nothing is sent or changed)."""
    document = host_document(host)
    return ManualRecipe(host=host, document=document, steps=recipe_steps(parse_document(document)))
