"""What a host's document needs from its kernel that the host's last heartbeat says is missing."""

from typing import Any

MISSING = "missing"


def capability_gaps(document: dict[str, Any], facts: dict[str, Any]) -> list[str]:
    """Operator-worded gaps between `document` and the `check` facts of the host's last heartbeat.

    Empty when the host has not reported its kernel yet: nothing is known, so nothing is flagged.
    """
    check = facts.get("check") if isinstance(facts, dict) else None
    if not isinstance(check, dict):
        return []
    gaps = []
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
