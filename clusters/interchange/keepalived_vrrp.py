"""keepalived.conf's director high availability: `vrrp_instance`, `vrrp_sync_group` and `lvs_sync_daemon` read
into VIP groups and connection sync (docs/ha.md), and written back.

Plain Python like the rest of clusters/interchange. keepalived.py's reader builds the keyword tree; `attach()`
takes the VRRP keywords from it (keepalived.py calls it once, after reading the virtual_server blocks) and puts
what it read on the result as `vrrp`, so the keywords it imports are no longer listed as "not imported".

What maps where:
- `vrrp_instance NAME` → a VIP group NAME: `virtual_router_id` → VRID, `advert_int`, `nopreempt` (preemption
  off), `preempt_delay`, `authentication { auth_type PASS auth_pass … }`, `unicast_src_ip`/`unicast_peer` (unicast
  on: the console makes the peers the other directors), `virtual_ipaddress` → the services on those VIPs join the
  group. `priority`, `state` and `interface` belong to one director: they are named, not imported (each director
  has its own priority on the cluster page; VRRP speaks on its uplink).
- `vrrp_sync_group NAME { group { A B } }` → its instances become one VIP group (they fail over together), named
  after the first instance, with its settings.
- `global_defs { lvs_sync_daemon IFACE INSTANCE [id N] [port P] [ttl T] [group G] }` → the cluster's connection
  sync (keepalived's default id is the instance's VRID).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from typing import Any, Protocol

from clusters.interchange.ruleset import ParsedRules, Problem, Problems

NAME = re.compile(r"[^A-Za-z0-9_.-]")
KEYWORDS = ("vrrp_instance", "vrrp_sync_group")
#: Settings of one director, or of keepalived itself: named as not imported, with why.
DIRECTOR_ONLY = {
    "priority": "each director has its own VRRP priority (cluster page, or PATCH /api/cluster-hosts/ID/)",
    "state": "the priorities decide which director starts as master",
    "interface": "VRRP speaks on each director's uplink (its host's uplinks)",
    "unicast_peer": "the console makes the peers the cluster's other directors",
    "unicast_src_ip": "each director sends from its management address",
}
TRACKS = ("track_script", "track_file", "track_interface", "track_process", "track_bfd")


class KeywordNode(Protocol):
    """A node of keepalived.py's keyword tree."""

    words: list[str]
    line: int
    children: list[Any] | None

    @property
    def keyword(self) -> str: ...

    @property
    def args(self) -> list[str]: ...


@dataclass
class VrrpGroup:
    """One VIP group read from a vrrp_instance (or a vrrp_sync_group's instances)."""

    name: str
    line: int
    vrid: int
    advert_int: float = 1.0
    preempt: bool = True
    preempt_delay: int = 0
    unicast: bool = False
    auth_pass: str = ""
    track_agent: bool = True
    vips: list[str] = field(default_factory=list)

    def fields(self) -> dict[str, Any]:
        """The VIP group's model fields."""
        return {
            "name": self.name,
            "vrid": self.vrid,
            "advert_int": self.advert_int,
            "preempt": self.preempt,
            "preempt_delay": self.preempt_delay if self.preempt else 0,
            "unicast": self.unicast,
            "auth_pass": self.auth_pass,
            "track_agent": self.track_agent,
        }


@dataclass
class SyncDaemon:
    """The connection sync read from lvs_sync_daemon."""

    line: int
    syncid: int
    port: int | None = None
    ttl: int | None = None
    mcast_group: str | None = None


@dataclass
class VrrpConfig:
    """What a keepalived.conf says of director high availability."""

    groups: list[VrrpGroup] = field(default_factory=list)
    sync: SyncDaemon | None = None
    errors: Problems = field(default_factory=Problems)
    warnings: Problems = field(default_factory=Problems)
    not_imported: Problems = field(default_factory=Problems)
    consumed: set[int] = field(default_factory=set)


def _number(node: KeywordNode, low: float, high: float, integer: bool = True) -> Any:
    if not node.args:
        raise ValueError(f"{node.keyword} needs a value")
    try:
        value = int(node.args[0]) if integer else float(node.args[0])
    except ValueError:
        raise ValueError(f"{node.keyword} “{node.args[0]}” is not a number") from None
    if not low <= value <= high:
        raise ValueError(f"{node.keyword} {node.args[0]} is out of range ({low:g}–{high:g})")
    return value


def _vip(words: list[str]) -> str:
    address = words[0].split("/", 1)[0]
    return str(ipaddress.ip_address(address))


class _Reader:
    def __init__(self) -> None:
        self.config = VrrpConfig()
        self.instances: dict[str, VrrpGroup] = {}
        self.by_name: dict[str, VrrpGroup] = {}
        self.sync_nodes: list[KeywordNode] = []

    def skip(self, node: KeywordNode, where: str, reason: str = "lvsweb has no equivalent") -> None:
        self.config.not_imported.append(Problem(node.line, f"{' '.join(node.words[:3])} ({where}): {reason}"))

    def instance(self, node: KeywordNode) -> None:
        if len(node.args) != 1 or node.children is None:
            self.config.errors.append(Problem(node.line, "write vrrp_instance NAME { … }"))
            return
        original = node.args[0]
        name = NAME.sub("-", original)[:32]
        if name != original:
            self.config.warnings.append(
                Problem(node.line, f"vrrp_instance “{original}” is imported as VIP group “{name}”")
            )
        group = VrrpGroup(name=name, line=node.line, vrid=0)
        where = f"in vrrp_instance {original}"
        for child in node.children:
            try:
                self.setting(group, child, where)
            except ValueError as exc:
                self.config.errors.append(Problem(child.line, str(exc)))
        if not group.vrid:
            self.config.errors.append(Problem(node.line, f"vrrp_instance {original} has no virtual_router_id"))
            return
        self.instances[original] = group

    def setting(self, group: VrrpGroup, node: KeywordNode, where: str) -> None:
        keyword = node.keyword
        if keyword == "virtual_router_id":
            group.vrid = _number(node, 1, 255)
        elif keyword == "advert_int":
            group.advert_int = _number(node, 0.01, 255, integer=False)
        elif keyword == "nopreempt":
            group.preempt = False
        elif keyword == "preempt_delay":
            group.preempt_delay = _number(node, 0, 1000)
        elif keyword in ("virtual_ipaddress", "virtual_ipaddress_excluded"):
            for item in node.children or []:
                try:
                    vip = _vip(item.words)
                except ValueError:
                    raise ValueError(f"“{item.words[0]}” is not an IP address") from None
                if vip not in group.vips:
                    group.vips.append(vip)
        elif keyword == "authentication":
            self.authentication(group, node, where)
        elif keyword in ("unicast_src_ip", "unicast_peer"):
            group.unicast = True
            self.skip(node, where, f"unicast VRRP is on; {DIRECTOR_ONLY[keyword]}")
        elif keyword in DIRECTOR_ONLY:
            self.skip(node, where, DIRECTOR_ONLY[keyword])
        elif keyword in TRACKS:
            self.skip(node, where, "the agent tracks its director (kernel in sync, uplink up, agent alive)")
        elif keyword in ("lvs_sync_daemon_interface",):
            self.skip(node, where, "keepalived 1.x syntax: set the cluster's sync id (docs/ha.md)")
        else:
            self.skip(node, where)

    def authentication(self, group: VrrpGroup, node: KeywordNode, where: str) -> None:
        kind = "PASS"
        for child in node.children or []:
            if child.keyword == "auth_type" and child.args:
                kind = child.args[0].upper()
            elif child.keyword == "auth_pass" and child.args:
                group.auth_pass = child.args[0][:8]
        if kind != "PASS":
            group.auth_pass = ""
            self.skip(node, where, f"auth_type {kind} is not supported (PASS only; AH is deprecated)")

    def sync_group(self, node: KeywordNode) -> None:
        names = [
            word
            for child in node.children or []
            if child.keyword == "group"
            for item in child.children or []
            for word in item.words
        ]
        for child in node.children or []:
            if child.keyword != "group":
                self.skip(child, f"in vrrp_sync_group {' '.join(node.args)}")
        known = [self.instances[name] for name in names if name in self.instances]
        if len(known) < 2:
            return
        first = known[0]
        for other in known[1:]:
            first.vips.extend(vip for vip in other.vips if vip not in first.vips)
            del self.instances[next(name for name, group in self.instances.items() if group is other)]
        self.config.warnings.append(
            Problem(
                node.line,
                f"vrrp_sync_group {' '.join(node.args)}: its instances fail over together, so they are imported as "
                f"one VIP group “{first.name}” (VRID {first.vrid})",
            )
        )

    def global_defs(self, node: KeywordNode) -> None:
        for child in node.children or []:
            if child.keyword != "lvs_sync_daemon":
                continue
            self.config.consumed.add(child.line)
            self.sync_nodes.append(child)

    def sync(self, node: KeywordNode) -> None:
        args = node.args
        if len(args) < 2:
            self.config.errors.append(Problem(node.line, "write lvs_sync_daemon INTERFACE VRRP_INSTANCE [id N] …"))
            return
        group = self.by_name.get(args[1])
        options = dict(zip(args[2::2], args[3::2], strict=False))
        try:
            syncid = int(options["id"]) if "id" in options else (group.vrid if group else 0)
            daemon = SyncDaemon(
                line=node.line,
                syncid=syncid,
                port=int(options["port"]) if "port" in options else None,
                ttl=int(options["ttl"]) if "ttl" in options else None,
                mcast_group=str(ipaddress.ip_address(options["group"])) if "group" in options else None,
            )
        except ValueError as exc:
            self.config.errors.append(Problem(node.line, f"lvs_sync_daemon: {exc}"))
            return
        if not 0 <= daemon.syncid <= 255:
            self.config.errors.append(Problem(node.line, f"lvs_sync_daemon id {daemon.syncid} is out of range (0–255)"))
            return
        self.config.sync = daemon
        self.config.warnings.append(
            Problem(
                node.line,
                f"lvs_sync_daemon is imported as the cluster's connection sync (id {daemon.syncid}); its interface "
                f"{args[0]} is not: the daemon runs on each director's uplink",
            )
        )


def read(nodes: list[KeywordNode]) -> VrrpConfig:
    """The VIP groups and connection sync of a keepalived.conf's keyword tree."""
    reader = _Reader()
    for node in nodes:
        if node.keyword == "vrrp_instance":
            reader.config.consumed.add(node.line)
            reader.instance(node)
        elif node.keyword == "global_defs":
            reader.global_defs(node)
    reader.by_name = dict(reader.instances)
    for node in nodes:
        if node.keyword == "vrrp_sync_group":
            reader.config.consumed.add(node.line)
            reader.sync_group(node)
    for node in reader.sync_nodes:
        reader.sync(node)
    reader.config.groups = sorted(reader.instances.values(), key=lambda group: group.line)
    return reader.config


def attach(result: ParsedRules, nodes: list[KeywordNode]) -> None:
    """Read the VRRP keywords of `nodes` onto `result.vrrp` (keepalived.py's hook); its problems join the result's."""
    config = read(nodes)
    for name in ("not_imported", "warnings", "errors"):
        before: Problems = getattr(result, name)
        kept = [problem for problem in before if name != "not_imported" or problem.line not in config.consumed]
        merged = Problems(sorted([*kept, *getattr(config, name)], key=lambda problem: problem.line))
        merged.omitted += before.omitted
        setattr(result, name, merged)
    result.vrrp = config  # type: ignore[attr-defined]


def vrrp_of(result: ParsedRules) -> VrrpConfig | None:
    """What `attach` read, if anything (None for ipvsadm text)."""
    return getattr(result, "vrrp", None)


def render(groups: list[dict[str, Any]], *, sync: dict[str, Any] | None, director: dict[str, Any]) -> str:
    """keepalived.conf text of one director's VRRP instances and sync daemon: `groups` as the compiler's
    `director.ha.instances` (one director's view), `sync` as `director.ha.sync`."""
    lines = ["global_defs {", f"    router_id {director['router_id']}"]
    if sync is not None and groups:
        words = f"    lvs_sync_daemon {sync['interface']} {groups[0]['name']} id {sync['syncid']}"
        for key, option in (("port", "port"), ("ttl", "ttl"), ("mcast_group", "group")):
            if sync.get(key) is not None:
                words += f" {option} {sync[key]}"
        lines.append(words)
    lines.append("}")
    for group in groups:
        lines += ["", f"vrrp_instance {group['name']} {{", "    state BACKUP"]
        lines.append(f"    interface {group['interface']}")
        lines.append(f"    virtual_router_id {group['vrid']}")
        lines.append(f"    priority {group['priority']}")
        lines.append(f"    advert_int {group['advert_int']}")
        if not group["preempt"]:
            lines.append("    nopreempt")
        elif group["preempt_delay"]:
            lines.append(f"    preempt_delay {group['preempt_delay']}")
        if group["auth_pass"]:
            lines += [
                "    authentication {",
                "        auth_type PASS",
                f"        auth_pass {group['auth_pass']}",
                "    }",
            ]
        if group["unicast_source"]:
            lines.append(f"    unicast_src_ip {group['unicast_source']}")
            lines += ["    unicast_peer {", *(f"        {peer}" for peer in group["unicast_peers"]), "    }"]
        lines.append("    virtual_ipaddress {")
        lines += [f"        {vip['address']}/{vip['prefix']} dev {vip['interface']}" for vip in group["vips"]]
        lines += ["    }", "}"]
    return "".join(line + "\n" for line in lines)
