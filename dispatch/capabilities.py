"""What a host's document needs from its agent and kernel that the host's last heartbeat says is missing."""

from typing import Any

MISSING = "missing"
#: The document format of agents whose heartbeat does not say: they came before `document_version` was sent,
#: and read format 1 only.
FORMAT_OF_AGENTS_THAT_DO_NOT_SAY = 1


def document_format(facts: Any) -> int | None:
    """The document format the host's agent reads, from its last heartbeat; None when it never reported."""
    if not isinstance(facts, dict) or not facts:
        return None
    speaks = facts.get("document_version")
    if isinstance(speaks, int) and not isinstance(speaks, bool):
        return speaks
    return FORMAT_OF_AGENTS_THAT_DO_NOT_SAY


def capability_gaps(document: dict[str, Any], facts: dict[str, Any]) -> list[str]:
    """Operator-worded gaps between `document` and the host's last heartbeat: its agent's document format
    and its kernel's `check` facts.

    Empty when the host has not reported yet: nothing is known, so nothing is flagged.
    """
    gaps = _agent_gaps(document, facts)
    check = facts.get("check") if isinstance(facts, dict) else None
    if not isinstance(check, dict):
        return gaps
    director = document.get("director") or {}
    services = director.get("services") or []
    if services and check.get("ip_vs") == MISSING:
        gaps.append("IPVS (ip_vs) is not available in this host's kernel.")
    schedulers = check.get("schedulers") or {}
    for scheduler in sorted({service["scheduler"] for service in services}):
        if schedulers.get(scheduler) == MISSING:
            gaps.append(f"Scheduler {scheduler}: the kernel module ip_vs_{scheduler} is missing on this host.")
    tunnels = check.get("tunnels") or {}
    needed = {
        (rs.get("tunnel") or {}).get("type", "ipip")
        for service in services
        for rs in service.get("real_servers", [])
        if rs.get("forward") == "tun"
    }
    if (document.get("real_server") or {}).get("tun"):
        needed.add("ipip")
    modules = {"ipip": "ipip", "gue": "fou", "gre": "ip_gre"}
    for tunnel in sorted(needed):
        if tunnels.get(tunnel) == MISSING:
            gaps.append(
                f"Tunnel type {tunnel}: the kernel module {modules.get(tunnel, tunnel)} is missing on this host."
            )
    return gaps


def _agent_gaps(document: dict[str, Any], facts: dict[str, Any]) -> list[str]:
    """The agent is too old for the document: it would refuse the document at apply, so say so in the plan."""
    needs, speaks = document.get("version"), document_format(facts)
    if speaks is None or not isinstance(needs, int) or needs <= speaks:
        return []
    version = facts.get("agent_version")
    agent = f"Agent {version}" if version and version != "unknown" else "The agent"
    return [
        f"{agent} on this host reads document format {speaks}, and this document is format {needs}: "
        "upgrade lvsweb-agent on this host before applying, or it refuses the document."
    ]
