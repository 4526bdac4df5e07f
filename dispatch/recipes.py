"""The hand recipe: the commands that configure a host as its document says, for hosts run without an agent.

Plain Python, no Django (the lab runs it against a real kernel). The recipe is a shell script in two parts:

* `lvsweb-recipe` (written to /usr/local/sbin): makes the kernel match the document, as the agent's own
  planner orders it on a bare host (`modprobe`, `ip link`, `sysctl`, the VIPs, the director's IPVS table).
  Every command is one that succeeds when its work is already done (`ip addr replace`, `ipvsadm -E` on an
  existing service), so any number of runs give the same end state. It keeps the list of addresses, IPVS
  services and real servers it added in /var/lib/lvsweb-recipe and removes, on the next run, those the
  document no longer has; what it did not add (it was there before its first run) it never touches.
  `lvsweb-recipe remove` removes everything it added, and its own files.
* the recipe shown on the enrollment page: writes the files the agent itself would write (sysctl.d,
  modules-load.d: so that the agent's plan on a host set up by hand is empty), that script, and the systemd
  oneshot unit `lvsweb-recipe.service` that runs it at boot; then runs it once.

Dropped on purpose: the agent drains a real server before deleting it; the recipe deletes at once (set the
weight to 0 in the console and run it again first to drain by hand). Sysctls it no longer needs keep their
values until the next boot and modules stay loaded, as with the agent.
"""

from __future__ import annotations

import ipaddress
import shlex
from dataclasses import dataclass, field

from lvsweb_agent.ipvsadm import render_dest, render_service, service_switch
from lvsweb_agent.model import ActualState, DesiredState, Director
from lvsweb_agent.persist import wanted_files
from lvsweb_agent.planner import Operation, plan

#: tunl0's MTU: 1500 minus the 20 bytes of the outer IPv4 header (the kernel's default for tunl0).
TUNL0_MTU = 1480
#: Where the recipe keeps what it needs at boot, relative to the root (as the agent's files are).
SCRIPT = "usr/local/sbin/lvsweb-recipe"
UNIT = "etc/systemd/system/lvsweb-recipe.service"
STATE = "var/lib/lvsweb-recipe"
UNIT_NAME = "lvsweb-recipe.service"

#: The script's own functions and bookkeeping, before the host's commands.
PRELUDE = r"""set -eu
set -f # no file-name expansion: IPv6 services are written [2001:db8::1]:80
state=@STATE@
mode=${1:-apply}
case $mode in
apply | remove) ;;
*) echo "usage: $0 [remove]" >&2 && exit 2 ;;
esac
mkdir -p "$state"
# What this recipe added, one line each: $state/addresses, services, real-servers (written at the end of a
# run). The .new lists collect what this run configures; what the old lists have and the new ones have not
# is removed at the end.
for list in addresses services real-servers; do
    touch "$state/$list"
    : >"$state/$list.new"
done

# claim LIST LINE WAS_THERE: LINE is this recipe's if an earlier run added it or it was not there before.
claim() {
    if [ "$3" = no ] || grep -qxF -e "$2" "$state/$1"; then
        echo "$2" >>"$state/$1.new"
    fi
}

# address ADDRESS/PREFIX DEVICE [OPTIONS...]: hold the address on DEVICE ("replace": no error when it is there
# already); OPTIONS as `ip addr` takes them (nodad, preferred_lft 0).
address() {
    cidr=$1 dev=$2
    shift 2
    if ip -o addr show dev "$dev" to "$cidr" | grep -q .; then there=yes; else there=no; fi
    ip addr replace "$cidr" dev "$dev" "$@"
    claim addresses "$cidr $dev" "$there"
}

# only_on ADDRESS/PREFIX DEVICE...: remove ADDRESS from every other interface (held there, the host would
# answer ARP for the VIP and take the director's traffic).
only_on() {
    target=$1
    shift
    ip -o addr show to "$target" | while read -r _ dev _ cidr _; do
        dev=${dev%@*}
        case " $* " in
        *" $dev "*) ;;
        *) ip addr del "$cidr" dev "$dev" ;;
        esac
    done
}

# service KEY OPTIONS...: add the IPVS service, or set its options when it exists.
service() {
    key=$1
    shift
    if grep -qF -e "-A $key " "$state/kernel"; then
        ipvsadm -E $key "$@"
        claim services "$key" yes
    else
        ipvsadm -A $key "$@"
        claim services "$key" no
    fi
}

# real_server KEY ADDRESS:PORT OPTIONS...: add the real server to the service, or set its options.
real_server() {
    key="$1 -r $2"
    shift 2
    if grep -qF -e "-a $key " "$state/kernel"; then
        ipvsadm -e $key "$@"
        claim real-servers "$key" yes
    else
        ipvsadm -a $key "$@"
        claim real-servers "$key" no
    fi
}

# gone LIST: what the last run added and this one did not (the inventory no longer has it).
gone() {
    grep -vxF -f "$state/$1.new" "$state/$1" || true
}
"""

#: Removals, then the new lists; in remove mode also the recipe's own files.
POSTLUDE = r"""
# What an earlier run added and the document no longer has: real servers, services, then addresses (the
# agent's order). "|| true": it may be gone already (removed by hand, or by a reboot).
gone real-servers | while read -r key; do
    echo "lvsweb-recipe: removing real server $key"
    ipvsadm -d $key 2>/dev/null || true
done
gone services | while read -r key; do
    echo "lvsweb-recipe: removing service $key"
    ipvsadm -D $key 2>/dev/null || true
done
gone addresses | while read -r cidr dev; do
    echo "lvsweb-recipe: removing $cidr from $dev"
    ip addr del "$cidr" dev "$dev" 2>/dev/null || true
done
for list in addresses services real-servers; do
    mv "$state/$list.new" "$state/$list"
done
rm -f "$state/kernel"

if [ "$mode" = remove ]; then
    if [ -d /run/systemd/system ]; then
        systemctl disable @UNIT_NAME@ || true
    fi
    rm -f @FILES@
    rm -rf "$state"
    echo "lvsweb-recipe: removed; sysctls keep their values until the next boot, loaded modules stay loaded"
fi
"""


@dataclass
class Step:
    """One step of the recipe: why, and the commands that do it."""

    why: str
    commands: list[str] = field(default_factory=list)


def render_script(steps: list[Step]) -> str:
    """The steps as one shell script, the reasons as comments."""
    lines = ["#!/bin/sh", "set -eu"]
    for step in steps:
        lines.extend(f"# {line}" for line in step.why.splitlines())
        lines.extend(step.commands)
    return "\n".join(lines) + "\n"


def _path(root: str, relative: str) -> str:
    return f"{root.rstrip('/')}/{relative}"


def _full_prefix(address: str) -> str:
    """ADDRESS/32 or ADDRESS/128: the one address, for `ip addr show to`."""
    return f"{address}/{ipaddress.ip_address(address).max_prefixlen}"


def _director_interfaces(director: Director | None, address: str) -> list[str]:
    return [vip.interface for vip in (director.vips if director else ()) if vip.address == address]


def _apply_commands(operation: Operation, desired: DesiredState) -> list[str]:
    """The idempotent command(s) for one of the planner's operations on a bare host."""
    kind = operation.kind
    if kind == "load-module":
        return [f"modprobe {operation.target}"]
    if kind == "link-up":
        commands = [f"ip link set {shlex.quote(operation.target)} up"]
        if operation.target == "tunl0":
            commands.append(f"ip link set tunl0 mtu {TUNL0_MTU}")
        return commands
    if kind == "set-sysctl":
        return [f"sysctl -q -w {shlex.quote(f'{operation.name}={operation.value}')}"]
    if kind == "add-link" and operation.address is not None:
        name = shlex.quote(operation.target)
        add = f"ip link add {name} type {operation.value} local {operation.address.address} icsum"
        return [f"ip link show {name} >/dev/null 2>&1 || {add}"]
    if kind == "set-link":
        return ["ip -6 tunnel change ip6tnl0 mode any"]
    if kind == "add-fou":
        six = " -6" if operation.name == "ipv6" else ""
        listener = f"port {operation.value} gue{six}"
        return [f"ip fou show | grep -qxF '{listener}' || ip{six} fou add port {operation.value} gue"]
    if kind == "add-address" and operation.address is not None:
        held = operation.address
        options = " nodad" if held.nodad else ""
        options += " preferred_lft 0" if held.deprecated else ""
        commands = [f"address {held.address}/{held.prefix} {shlex.quote(held.interface)}{options}"]
        if held.interface not in _director_interfaces(desired.director, held.address):
            # A real server's VIP: on that interface only.
            keep = [held.interface, *_director_interfaces(desired.director, held.address)]
            commands.append(f"only_on {_full_prefix(held.address)} {' '.join(map(shlex.quote, keep))}")
        return commands
    return []  # IPVS operations: one call per service and real server (see _ipvs_step); files: the recipe


def _ipvs_step(director: Director) -> Step:
    """The director's table: every service and real server added or set, those of an earlier run removed."""
    commands = ['ipvsadm -Sn >"$state/kernel"']
    if director.owns_ipvs_table:
        # The document owns the whole table: whatever the kernel has counts as this recipe's, so that what
        # the document lacks is removed.
        commands += [
            'sed -n \'s/^-A \\(.*\\) -s .*/\\1/p\' "$state/kernel" >>"$state/services"',
            'sed -n \'s/^-a \\(.* -r [^ ]*\\) .*/\\1/p\' "$state/kernel" >>"$state/real-servers"',
        ]
    for service in director.services:
        key = service_switch(service.key)
        commands.append(f"service {shlex.quote(key)} {render_service(service).removeprefix(f'-A {key} ')}")
        for dest in service.real_servers:
            line = render_dest(service.key, dest, thresholds=True)
            address, options = line.removeprefix(f"-a {key} -r ").split(" ", 1)
            commands.append(f"real_server {shlex.quote(key)} {address} {options}")
    why = "the IPVS table (what ipvsadm-save prints): added, or set where it exists"
    if director.owns_ipvs_table:
        why += "; the document owns the table: any other service is removed"
    return Step(why=why, commands=commands)


def apply_steps(desired: DesiredState) -> list[Step]:
    """The kernel part, in the agent's order: what `lvsweb-recipe` does on each run."""
    steps: list[Step] = []
    for operation in plan(desired, ActualState(ipvs_loaded=False)).operations:
        commands = _apply_commands(operation, desired)
        if not commands:
            continue
        # The planner's reasons end with the state it found ("; not set yet"): on a bare host that goes unsaid.
        why = operation.reason.rsplit("; ", 1)[0]
        if steps and steps[-1].why == why:
            steps[-1].commands.extend(commands)
        else:
            steps.append(Step(why=why, commands=commands))
    if desired.director is not None and desired.director.services:
        steps.append(_ipvs_step(desired.director))
    return steps


def render_apply_script(desired: DesiredState, root: str = "/") -> str:
    """The text of `lvsweb-recipe`: the host's commands between the bookkeeping that makes runs repeatable."""
    files = " ".join(_path(root, relative) for relative in (UNIT, *wanted_files(desired), SCRIPT))
    lines = [
        "#!/bin/sh",
        f"# lvsweb hand recipe for {desired.host} (its document, revision {desired.revision}): makes this host's",
        "# kernel hold what the console's inventory gives it, as the lvsweb agent would. Run at boot by",
        f"# {UNIT_NAME}; any number of runs give the same end state.",
        "#   lvsweb-recipe          configure; remove what an earlier run added and the inventory no longer has",
        "#   lvsweb-recipe remove   remove all it added (addresses, IPVS services, real servers) and its files",
        PRELUDE.replace("@STATE@", _path(root, STATE)).rstrip("\n"),
        "",
        'if [ "$mode" = apply ]; then',
    ]
    for step in apply_steps(desired):
        lines.extend(f"    # {line}" for line in step.why.splitlines())
        lines.extend(f"    {command}" for command in step.commands)
    lines += ["    :", "fi"]
    lines.append(POSTLUDE.replace("@UNIT_NAME@", UNIT_NAME).replace("@FILES@", files).rstrip("\n"))
    return "\n".join(lines) + "\n"


def render_unit(root: str = "/") -> str:
    """The systemd oneshot unit that runs `lvsweb-recipe` at boot."""
    return (
        "[Unit]\n"
        "Description=lvsweb hand recipe: the VIPs and IPVS table the console's inventory gives this host\n"
        "Wants=network-online.target\n"
        "After=network-online.target systemd-modules-load.service systemd-sysctl.service\n"
        "\n"
        "[Service]\n"
        "Type=oneshot\n"
        "RemainAfterExit=yes\n"
        f"ExecStart={_path(root, SCRIPT)}\n"
        "\n"
        "[Install]\n"
        "WantedBy=multi-user.target\n"
    )


def _write(path: str, content: str, mode: str | None = None) -> list[str]:
    # A quoted heredoc: nothing in it is expanded. The delimiter cannot occur in what the recipe writes.
    body = content.rstrip("\n")
    commands = [f"mkdir -p {path.rsplit('/', 1)[0]}", f"cat >{path} <<'LVSWEB_EOF'\n{body}\nLVSWEB_EOF"]
    if mode:
        commands.append(f"chmod {mode} {path}")
    return commands


def recipe_steps(desired: DesiredState, root: str = "/") -> list[Step]:
    """The hand recipe of `desired`, files under `root`: nothing when the host has nothing to configure."""
    if not apply_steps(desired):
        return []
    persisted: list[str] = []
    for relative, content in wanted_files(desired).items():
        path = _path(root, relative)
        persisted += _write(path, content) if content is not None else [f"rm -f {path}"]
    script = _path(root, SCRIPT)
    steps = [
        Step(
            why="the files the agent itself writes: the sysctls and modules again at boot",
            commands=persisted,
        ),
        Step(
            why="the script that makes the kernel match (and removes what an earlier run added that is gone)",
            commands=_write(script, render_apply_script(desired, root), mode="755"),
        ),
        Step(
            why=f"{UNIT_NAME} runs it at every boot",
            commands=[
                *_write(_path(root, UNIT), render_unit(root)),
                "if [ -d /run/systemd/system ]; then",
                f"    systemctl daemon-reload && systemctl enable {UNIT_NAME}",
                "else",
                f'    echo "no systemd here: run {script} at boot" >&2',
                "fi",
            ],
        ),
        Step(why="and now", commands=[script]),
    ]
    if desired.tun is not None:
        steps.append(
            Step(
                why=f"optional, and not done by the agent: IP-in-IP costs 20 bytes (tunl0 MTU {TUNL0_MTU});\n"
                "if clients send full-size packets, clamp the MSS this host announces for its VIPs (uncomment):",
                commands=[
                    f"# iptables -t mangle -A OUTPUT -s {vip} -p tcp --tcp-flags SYN,RST SYN "
                    f"-j TCPMSS --set-mss {TUNL0_MTU - 40}"
                    for vip in desired.tun.vips
                    if ":" not in vip
                ],
            )
        )
    return steps
