"""The HA part of a plan (pure): keepalived's configuration and process, the sync daemons' roles, backup-only.

The sync daemons follow the VRRP state the actual state reports: a director that is master of any instance
runs the sync master, one that is backup (or fault, or stopped) in any instance the sync backup — both
when it is master of one VIP group and backup of another. `net.ipv4.vs.backup_only` is 1 only while the
director is master of nothing: a new master left in backup-only mode drops every synced connection
(DESIGN.md: 0/20 survive).
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from lvsweb_agent import keepalived
from lvsweb_agent.hadoc import HighAvailability, SyncDaemon
from lvsweb_agent.hastate import BACKUP_ONLY, HAActual
from lvsweb_agent.model import DesiredState
from lvsweb_agent.operations import Operation

#: The operation kinds the HA follower executes on a VRRP transition (the rest is the apply's).
ROLE_KINDS = frozenset(("sync-daemon", "set-sysctl"))
DEFAULT_DIRECTORY = Path("/") / keepalived.HA_DIR


def wanted_roles(ha: HighAvailability, actual: HAActual) -> tuple[set[str], str]:
    """The sync roles this director should run now, and why (in the VRRP state's words)."""
    states = {instance.name: actual.state_of(instance.name) for instance in ha.instances}
    roles = set()
    if any(state == "master" for state in states.values()):
        roles.add("master")
    if any(state != "master" for state in states.values()):
        roles.add("backup")
    why = ", ".join(f"{name} is {state}" for name, state in sorted(states.items()))
    return roles, f"VRRP: {why}"


def _sync_ops(ha: HighAvailability | None, actual: HAActual, why: str, roles: set[str]) -> list[Operation]:
    ops = []
    sync = ha.sync if ha is not None else None
    for role in ("master", "backup"):
        have = actual.daemons.get(role)
        want: SyncDaemon | None = sync if role in roles else None
        if have == want:
            continue
        if have is not None:
            reason = "settings changed" if want is not None else f"not wanted: {why}"
            ops.append(Operation("sync-daemon", role, f"stop ({have.describe()})", reason, name=role))
        if want is not None:
            ops.append(
                Operation(
                    "sync-daemon",
                    role,
                    f"start IPVS sync daemon {role} {want.describe()}",
                    why,
                    name=role,
                    value=json.dumps(asdict(want)),
                )
            )
    return ops


def ha_operations(desired: DesiredState, actual: HAActual | None) -> list[Operation]:
    """What makes keepalived, the sync daemons and backup-only mode match the document and the VRRP state."""
    ha = desired.director.ha if desired.director is not None else None
    if actual is None:
        actual = HAActual()
    directory = Path(actual.directory) if actual.directory else DEFAULT_DIRECTORY
    ops: list[Operation] = []
    if ha is None:
        if actual.config is None and not actual.running:
            return ops  # this director never ran HA (or it is cleaned up)
        ops += _sync_ops(None, actual, "the document has no ha section", set())
        if actual.backup_only == "1":
            ops.append(
                Operation(
                    "set-sysctl", BACKUP_ONLY, "= 0", "no ha section: a lone director", name=BACKUP_ONLY, value="0"
                )
            )
        ops.append(
            Operation(
                "ha-stop",
                "keepalived",
                "stop keepalived and remove its configuration",
                "the document has no ha section: its VIPs go to the other directors",
                name=str(directory),
            )
        )
        return ops
    config = keepalived.render_config(ha, directory)
    count = len(ha.instances)
    instances = f"{count} VRRP instance{'s' if count != 1 else ''}"
    if actual.config != config or not actual.running:
        if not actual.running:
            detail, reason = (
                f"write keepalived configuration ({instances}) and start keepalived",
                "keepalived is not running",
            )
        else:
            detail, reason = f"write keepalived configuration ({instances}) and reload", "configuration differs"
        ops.append(Operation("ha-config", "keepalived", detail, reason, name=str(directory), value=config))
    roles, why = wanted_roles(ha, actual)
    ops += _sync_ops(ha, actual, why, roles if ha.sync is not None else set())
    want = "1" if ha.backup_only and "master" not in roles else "0"
    if actual.backup_only is not None and actual.backup_only != want:
        reason = "also a real server: backup-only while it is master of nothing" if want == "1" else why
        ops.append(
            Operation(
                "set-sysctl",
                BACKUP_ONLY,
                f"= {want}",
                f"{reason}; now {actual.backup_only}",
                name=BACKUP_ONLY,
                value=want,
            )
        )
    return ops
