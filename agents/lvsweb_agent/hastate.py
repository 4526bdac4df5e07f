"""What a director's HA parts hold right now: keepalived's configuration and process, each VRRP instance's
state (as keepalived's notify hook wrote it), the kernel's sync daemons and its backup-only mode."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from lvsweb_agent import keepalived
from lvsweb_agent.hadoc import SyncDaemon

#: keepalived's words -> the report's (docs/ha.md).
STATES = {"MASTER": "master", "BACKUP": "backup", "FAULT": "fault", "STOP": "stop"}
BACKUP_ONLY = "net.ipv4.vs.backup_only"


@dataclass(frozen=True)
class VrrpState:
    """One instance's last transition: state (master/backup/fault/stop), keepalived's priority, when."""

    state: str
    priority: int
    since: float


@dataclass
class HAActual:
    """The HA part of the actual state."""

    config: str | None = None
    pid: int | None = None
    vrrp: dict[str, VrrpState] = field(default_factory=dict)
    daemons: dict[str, SyncDaemon] = field(default_factory=dict)
    backup_only: str | None = None
    directory: str | None = None  # where the agent keeps keepalived's files (the plan renders paths in it)

    @property
    def running(self) -> bool:
        return self.pid is not None

    def state_of(self, instance: str) -> str:
        """What the instance is now: its last transition while keepalived runs, else 'stop'."""
        if not self.running:
            return "stop"
        found = self.vrrp.get(instance)
        return found.state if found else "backup"  # keepalived starts every instance as BACKUP


def parse_state_line(text: str) -> VrrpState | None:
    """`MASTER 150 1764150000.123` (notify.sh's line) as a VrrpState; None when it is not one."""
    parts = text.split()
    if len(parts) != 3 or parts[0] not in STATES:
        return None
    try:
        return VrrpState(state=STATES[parts[0]], priority=int(parts[1]), since=float(parts[2]))
    except ValueError:
        return None


def read_vrrp_states(directory: Path) -> dict[str, VrrpState]:
    """Every instance's state file under `directory/state`."""
    states = {}
    try:
        entries = list((directory / keepalived.STATES).iterdir())
    except FileNotFoundError:
        return {}
    for entry in entries:
        if not entry.name.startswith("i-"):  # i-<instance>; a name may be "." or start with one
            continue
        try:
            parsed = parse_state_line(entry.read_text())
        except OSError:
            continue
        if parsed is not None:
            states[entry.name[2:]] = parsed
    return states


def read_files(directory: Path) -> HAActual:
    """The parts kept in files and processes (the kernel's parts are filled in by the kernel adapter)."""
    try:
        config: str | None = (directory / keepalived.CONFIG).read_text()
    except FileNotFoundError:
        config = None
    return HAActual(
        config=config,
        pid=keepalived.running_pid(directory),
        vrrp=read_vrrp_states(directory),
        directory=str(directory),
    )
