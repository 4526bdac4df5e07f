"""What the recipes need from sysctls and modules, and the files that keep it across a reboot."""

from __future__ import annotations

from lvsweb_agent.decap import decapsulation, endpoints_of
from lvsweb_agent.model import DesiredState

SYSCTL_CONF = "etc/sysctl.d/90-lvsweb.conf"
MODULES_CONF = "etc/modules-load.d/lvsweb.conf"
HEADER = "# Written by lvsweb-agent from its desired-state document; changes here are overwritten.\n"


def sysctl_name(*parts: str) -> str:
    """A sysctl name; dots inside an interface name become '/' as in sysctl.d files."""
    return ".".join(part.replace(".", "/") for part in parts)


def sysctl_path(name: str) -> str:
    """The /proc/sys path of a sysctl name."""
    return "/proc/sys/" + "/".join(part.replace("/", ".") for part in name.split("."))


#: The last document's sysctls (it is asked for them several times per plan; compared by identity).
_last_sysctls: tuple[DesiredState, list[tuple[str, str, str]]] | None = None


def wanted_sysctls(desired: DesiredState) -> list[tuple[str, str, str]]:
    """(name, value, why) for every sysctl the document needs, in a stable order, without duplicates."""
    global _last_sysctls
    last = _last_sysctls
    if last is not None and last[0] is desired:
        return list(last[1])
    found = _wanted_sysctls(desired)
    _last_sysctls = (desired, found)
    return list(found)


def _wanted_sysctls(desired: DesiredState) -> list[tuple[str, str, str]]:
    wanted: dict[str, tuple[str, str]] = {}
    director = desired.director
    if director is not None:
        nat_families = {
            service.key.family
            for service in director.services
            for dest in service.real_servers
            if dest.forward == "nat"
        }
        if director.ip_forward or "ipv4" in nat_families:
            why = "NAT replies are routed through the director" if "ipv4" in nat_families else "ip_forward: true"
            wanted[sysctl_name("net", "ipv4", "ip_forward")] = ("1", why)
        if "ipv6" in nat_families:
            wanted[sysctl_name("net", "ipv6", "conf", "all", "forwarding")] = (
                "1",
                "IPv6 NAT replies are routed through the director",
            )
    devices = decapsulation(endpoints_of(desired.tun)).ipv4_devices
    if desired.tun is not None and devices:
        # IPv4 only: IPv6 has no rp_filter sysctl (its reverse-path filter is netfilter's rpfilter match, the
        # firewall's business), and IPv6 VIPs skip duplicate address detection by their nodad flag instead.
        why = (
            f"TUN: the decapsulated packet (source = client) arrives on {', '.join(devices)} "
            "and reverse-path filtering drops it"
        )
        for interface in ("all", "default", "lo", *devices, *desired.tun.uplinks):
            wanted[sysctl_name("net", "ipv4", "conf", interface, "rp_filter")] = ("0", why)
    if desired.dr is not None:
        for interface in ("all", *desired.dr.uplinks):
            wanted[sysctl_name("net", "ipv4", "conf", interface, "arp_ignore")] = (
                "1",
                "DR: answer ARP only for addresses on the receiving interface (never for the VIP on lo)",
            )
            wanted[sysctl_name("net", "ipv4", "conf", interface, "arp_announce")] = (
                "2",
                "DR: never use the VIP as ARP source address",
            )
    return [(name, value, why) for name, (value, why) in wanted.items()]


def wanted_modules(desired: DesiredState) -> list[str]:
    """Kernel modules to load at boot."""
    modules = []
    if desired.director is not None and desired.director.services:
        modules.append("ip_vs")
    if desired.tun is not None:
        modules += decapsulation(endpoints_of(desired.tun)).modules
    return modules


def render_sysctl_conf(desired: DesiredState) -> str | None:
    """Content of <root>/etc/sysctl.d/90-lvsweb.conf, or None when nothing needs persisting."""
    sysctls = wanted_sysctls(desired)
    if not sysctls:
        return None
    lines = [HEADER]
    made = {csum.name for csum in decapsulation(endpoints_of(desired.tun)).csum_devices}
    for name, value, why in sysctls:
        # "-": a device the agent makes after boot (not there yet when this file is read); `default` covers it.
        optional = "-" if any(f".{device}." in name for device in made) else ""
        lines.append(f"# {why}\n{optional}{name} = {value}\n")
    return "".join(lines)


def render_modules_conf(desired: DesiredState) -> str | None:
    """Content of <root>/etc/modules-load.d/lvsweb.conf, or None when no module is needed."""
    modules = wanted_modules(desired)
    if not modules:
        return None
    return HEADER + "".join(f"{module}\n" for module in modules)


def parse_sysctl_conf(text: str) -> dict[str, str]:
    """name -> value from a sysctl.d file (comments and blank lines ignored)."""
    values = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")) or "=" not in line:
            continue
        name, _, value = line.partition("=")
        values[name.strip().lstrip("-")] = value.strip()
    return values


def wanted_files(desired: DesiredState) -> dict[str, str | None]:
    """Relative path under root -> wanted content (None: the file should not exist)."""
    return {SYSCTL_CONF: render_sysctl_conf(desired), MODULES_CONF: render_modules_conf(desired)}
