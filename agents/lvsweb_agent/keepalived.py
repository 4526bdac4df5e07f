"""keepalived for director HA: its configuration (VRRP only), its helper scripts, and the process.

The agent writes everything under `<root>/var/lib/lvsweb-agent/ha/` and runs Debian's keepalived with
`--vrrp` (no health checker, no virtual_server: IPVS is the agent's), its pid files there too, so several
directors (network namespaces) can share one machine. keepalived daemonizes: an agent restart does not
move the VIPs.

Two small shell scripts connect keepalived and the agent, both rewritten with the configuration:
- `notify.sh` (vrrp_instance `notify`): keepalived runs it at every transition with
  `INSTANCE <name> <MASTER|BACKUP|FAULT|STOP> <priority>`; it writes `state/i-<name>`
  (`STATE PRIORITY UNIXTIME`), which the agent follows (hastate.py), also after its own restart.
- `track.sh` (vrrp_script, tracked by instances with `track_agent`): exits 0 while the agent's fitness
  file says `fit` and was written less than TRACK_STALE seconds ago, or says `hold <until>` and that time
  has not passed. A track_file alone would keep a dead agent's last word for ever; the freshness test makes a
  dead or hung agent unfit too. `hold` is what an agent that stops in order (SIGTERM: a restart, an upgrade)
  leaves behind, so that its restart does not move the VIPs; one that does not come back is unfit after it.

keepalived outlives the agent (the systemd unit's KillMode=process): a new agent adopts the keepalived that
runs on its configuration, found by its pid file or, when that is gone, by its command line — never a second
one next to it.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import subprocess
import time
from pathlib import Path

from lvsweb_agent.hadoc import HighAvailability, VrrpInstance

HA_DIR = "var/lib/lvsweb-agent/ha"
CONFIG, PID, VRRP_PID = "keepalived.conf", "keepalived.pid", "vrrp.pid"
NOTIFY, TRACK, FITNESS, STATES, LOG = "notify.sh", "track.sh", "fitness", "state", "keepalived.log"
KEEPALIVED = "/usr/sbin/keepalived"
#: The agent rewrites the fitness file every second; older than this, keepalived counts the agent gone.
TRACK_STALE = 5
TRACK_SCRIPT = "lvsweb_agent_fit"


def ha_dir(root: Path) -> Path:
    return root / HA_DIR


def _format_seconds(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def render_instance(instance: VrrpInstance, directory: Path) -> str:
    """One vrrp_instance block."""
    lines = [
        f"vrrp_instance {instance.name} {{",
        "    state BACKUP",  # every director starts as backup; the election decides
        f"    interface {instance.interface}",
        f"    virtual_router_id {instance.vrid}",
        f"    priority {instance.priority}",
        f"    advert_int {_format_seconds(instance.advert_int)}",
    ]
    if instance.vrrp_version == 3:
        lines.append("    version 3")
    if not instance.preempt:
        lines.append("    nopreempt")
    elif instance.preempt_delay:
        lines.append(f"    preempt_delay {instance.preempt_delay}")
    if instance.unicast_source is not None:
        lines.append(f"    unicast_src_ip {instance.unicast_source}")
        lines.append("    unicast_peer {")
        lines += [f"        {peer}" for peer in instance.unicast_peers]
        lines.append("    }")
    if instance.auth_pass is not None:
        lines += ["    authentication {", "        auth_type PASS", f"        auth_pass {instance.auth_pass}", "    }"]
    lines.append("    virtual_ipaddress {")
    lines += [f"        {vip.address}/{vip.prefix} dev {vip.interface}" for vip in instance.vips]
    lines.append("    }")
    if instance.track_agent:
        lines += ["    track_script {", f"        {TRACK_SCRIPT}", "    }"]
    lines.append(f'    notify "{directory / NOTIFY}"')
    lines.append("}")
    return "\n".join(lines)


def render_config(ha: HighAvailability, directory: Path) -> str:
    """keepalived.conf: global_defs, the agent's track script when tracked, one vrrp_instance per VIP group."""
    parts = [
        "# Written by lvsweb-agent from the desired-state document (director.ha); rewritten on every change.",
        "global_defs {",
        f"    router_id {ha.router_id}",
        "    script_user root",
        "    enable_script_security",
        "}",
    ]
    if ha.tracked:
        parts += [
            f"vrrp_script {TRACK_SCRIPT} {{",
            f'    script "{directory / TRACK}"',
            "    interval 1",
            "    timeout 2",
            "    fall 2",
            "    rise 2",
            "}",
        ]
    parts += [render_instance(instance, directory) for instance in ha.instances]
    return "\n".join(parts) + "\n"


def render_notify_script(directory: Path) -> str:
    """The notify hook: keepalived's words about a transition into state/<instance>, atomically."""
    states = directory / STATES
    return f"""#!/bin/sh
# Written by lvsweb-agent. keepalived runs it: notify.sh INSTANCE|GROUP NAME STATE PRIORITY
[ "$1" = INSTANCE ] || exit 0
printf '%s %s %s\\n' "$3" "$4" "$(date +%s.%N)" > "{states}/.$2.tmp" && mv -f "{states}/.$2.tmp" "{states}/i-$2"
"""


def render_track_script(directory: Path) -> str:
    """The track script: fit while the agent's fitness file says so and is fresh, or holds until a time to come."""
    return f"""#!/bin/sh
# Written by lvsweb-agent. Exit 0 (fit) while {FITNESS} says "fit" and is at most {TRACK_STALE} s old, or
# "hold UNTIL" (an agent stopped in order, restarting) and UNTIL has not passed.
read -r word stamp rest < "{directory / FITNESS}" || exit 1
case "$word" in
    fit) [ $(( $(date +%s) - ${{stamp%.*}} )) -le {TRACK_STALE} ] ;;
    hold) [ "$(date +%s)" -le "${{stamp%.*}}" ] ;;
    *) exit 1 ;;
esac
"""


def write_files(directory: Path, config: str, program: str | None = KEEPALIVED) -> None:
    """The configuration and both scripts, each replaced atomically (root-only: keepalived's script security).

    With `program`, the configuration is first checked by keepalived itself (`--config-test`): one it refuses
    is not written, and the running keepalived keeps the configuration it has.
    """
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    (directory / STATES).mkdir(exist_ok=True, mode=0o700)
    for name, text, mode in (
        (NOTIFY, render_notify_script(directory), 0o700),
        (TRACK, render_track_script(directory), 0o700),
        (CONFIG, config, 0o600),
    ):
        path = directory / name
        tmp = path.with_name(f".{name}.tmp")
        tmp.write_text(text)
        os.chmod(tmp, mode)
        if name == CONFIG and program is not None:
            check_config(tmp, program)
        os.replace(tmp, path)


def refresh_scripts(directory: Path) -> list[str]:
    """Both scripts as this agent writes them, where they differ (an upgraded agent's first round): keepalived
    runs them by path, so a new track script counts at once, without a reload. Returns the names rewritten."""
    rewritten = []
    for name, text in ((NOTIFY, render_notify_script(directory)), (TRACK, render_track_script(directory))):
        path = directory / name
        try:
            if path.read_text() == text:
                continue
        except FileNotFoundError:
            pass
        tmp = path.with_name(f".{name}.tmp")
        tmp.write_text(text)
        os.chmod(tmp, 0o700)
        os.replace(tmp, path)
        rewritten.append(name)
    return rewritten


def check_config(path: Path, program: str = KEEPALIVED) -> None:
    """Raise OSError(EINVAL) with keepalived's words when it refuses the configuration in `path`."""
    done = subprocess.run(
        [program, "--config-test", "--use-file", str(path)], capture_output=True, text=True, timeout=60, check=False
    )
    if done.returncode != 0:
        words = " ".join((done.stderr or done.stdout).split())
        raise OSError(errno.EINVAL, f"keepalived refuses the configuration: {words}")


def _runs_our_config(pid: int, directory: Path) -> bool:
    """Whether process `pid` is a keepalived started on `directory`'s configuration."""
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    # A recycled pid is another program, or a keepalived of another configuration.
    return bool(command) and command[0].endswith(b"keepalived") and str(directory / CONFIG).encode() in command


def running_pid(directory: Path) -> int | None:
    """keepalived's (parent) pid when the one started from `directory` runs, else None (its pid file only)."""
    try:
        pid = int((directory / PID).read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return pid if _runs_our_config(pid, directory) else None


def _parent_pid(pid: int) -> int | None:
    try:
        # /proc/PID/stat: "pid (comm) state ppid …"; comm may hold spaces and parentheses: split after the last ")".
        return int(Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[1])
    except (OSError, ValueError, IndexError):
        return None


def find_running(directory: Path) -> int | None:
    """The keepalived running on `directory`'s configuration: by its pid file, else by every process's command
    line (a pid file removed by hand must not lead to a second keepalived). Its parent process's pid, or None."""
    pid = running_pid(directory)
    if pid is not None:
        return pid
    ours = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and _runs_our_config(int(entry.name), directory):
            ours.add(int(entry.name))
    # keepalived --vrrp is a parent and its VRRP child, both with the same command line: the parent is the one
    # whose own parent is not one of them.
    parents = sorted(pid for pid in ours if _parent_pid(pid) not in ours)
    return parents[0] if parents else None


def clear_states(directory: Path) -> None:
    """Forget the last run's VRRP states: a new keepalived starts every instance afresh."""
    for entry in (directory / STATES).glob("*"):
        entry.unlink(missing_ok=True)


def adopt(directory: Path) -> int | None:
    """The keepalived already running on `directory`'s configuration (see find_running), its pid file written
    again if it was gone (so that the next rounds see it running); None when none runs."""
    pid = find_running(directory)
    if pid is not None and running_pid(directory) is None:
        tmp = directory / f".{PID}.tmp"
        tmp.write_text(f"{pid}\n")
        os.replace(tmp, directory / PID)
    return pid


def start(directory: Path, program: str = KEEPALIVED, wait: float = 10.0) -> int:
    """Start keepalived (VRRP only) on the configuration in `directory`, in the caller's network namespace;
    returns its pid once it has written its pid file (so the next plan sees it running).

    One already running on this configuration is adopted instead (its pid is returned): two keepalived on one
    director would both speak VRRP for it.
    """
    adopted = adopt(directory)
    if adopted is not None:
        return adopted
    for name in (PID, VRRP_PID):
        (directory / name).unlink(missing_ok=True)
    clear_states(directory)
    command = [
        program,
        "--vrrp",
        "--use-file",
        str(directory / CONFIG),
        "--pid",
        str(directory / PID),
        "--vrrp_pid",
        str(directory / VRRP_PID),
    ]
    # Its output goes to a file, not a pipe: the daemon inherits what it is given and would hold a pipe open.
    with open(directory / LOG, "w") as log:
        done = subprocess.run(command, stdin=subprocess.DEVNULL, stdout=log, stderr=log, timeout=30, check=False)
    if done.returncode != 0:
        words = " ".join((directory / LOG).read_text().split())
        raise OSError(errno.EIO, f"keepalived did not start (exit {done.returncode}): {words}")
    deadline = time.monotonic() + wait
    while (pid := running_pid(directory)) is None:
        if time.monotonic() > deadline:
            raise OSError(errno.ESRCH, f"keepalived exited at once: check `{program} -t -f {directory / CONFIG}`")
        time.sleep(0.05)
    return pid


def reload(pid: int) -> None:
    """Make keepalived re-read its configuration (SIGHUP): instances keep their state when unchanged."""
    os.kill(pid, signal.SIGHUP)


def stop(directory: Path, pid: int, wait: float = 10.0) -> None:
    """Stop keepalived (SIGTERM: it gives up its VIPs and sends priority 0, so a backup takes over at once)."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + wait
    while _runs_our_config(pid, directory) and time.monotonic() < deadline:
        time.sleep(0.05)
    clear_states(directory)
