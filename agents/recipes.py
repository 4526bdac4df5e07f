"""The commands that configure a host by hand as its document says, for hosts run without an agent.

Plain Python, no Django (the lab runs it against a real kernel): the operations come from the agent's own
planner against a host that has nothing yet, and each is written as the shell command that does the same
thing (`modprobe`, `ip`, `sysctl`, the persistence files, `ipvsadm-restore` for a director's table).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from agents.host.ipvsadm import render_save
from agents.host.model import ActualState, DesiredState
from agents.host.planner import plan

#: tunl0's MTU: 1500 minus the 20 bytes of the outer IPv4 header (the kernel's default for tunl0).
TUNL0_MTU = 1480


@dataclass
class Step:
    """One step of the recipe: why, and the commands that do it."""

    why: str
    commands: list[str] = field(default_factory=list)


def render_script(steps: list[Step]) -> str:
    """The steps as one shell script, the reasons as comments."""
    lines = ["#!/bin/sh", "set -e"]
    for step in steps:
        lines.extend(f"# {line}" for line in step.why.splitlines())
        lines.extend(step.commands)
    return "\n".join(lines) + "\n"


def _commands(operation, root: str) -> list[str]:
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
    if kind in ("add-address", "del-address"):
        address = operation.address
        verb = "add" if kind == "add-address" else "del"
        return [f"ip addr {verb} {address.address}/{address.prefix} dev {address.interface}"]
    if kind == "write-file":
        path = f"{root.rstrip('/')}/{operation.name}"
        content = operation.value.rstrip("\n")
        return [f"mkdir -p {path.rsplit('/', 1)[0]}", f"cat > {path} <<'EOF'\n{content}\nEOF"]
    return []  # IPVS operations: the director's table is restored in one step (see recipe_steps)


def recipe_steps(desired: DesiredState, root: str = "/") -> list[Step]:
    """The steps that configure a bare host as `desired` says, in the agent's order; files under `root`."""
    steps: list[Step] = []
    ipvs_table = False
    for operation in plan(desired, ActualState(ipvs_loaded=False)).operations:
        if operation.kind in ("add-service", "add-dest"):
            ipvs_table = True
            continue
        commands = _commands(operation, root)
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
                why=f"optional, and not done by the agent: IP-in-IP costs 20 bytes (tunl0 MTU {TUNL0_MTU});\n"
                "if clients send full-size packets, clamp the MSS this host announces for its VIPs (uncomment):",
                commands=[
                    f"# iptables -t mangle -A OUTPUT -s {vip} -p tcp --tcp-flags SYN,RST SYN "
                    f"-j TCPMSS --set-mss {TUNL0_MTU - 40}"
                    for vip in desired.tun.vips
                ],
            )
        )
    return steps
