"""The real server's side of a tunnel: which device decapsulates it, which module makes that device, what it needs.

Measured in the lab VM (kernel 6.1, DESIGN.md "Tunnel types on real servers"): the director's packet to a
TUN real server is the client's packet (inner: the VIP's family) inside an outer header addressed to the
real server (outer: the real server's family), plain (ipip), in UDP (gue) or in GRE (gre). The kernel
hands the inner packet to the device that owns that combination:

==========  ===========  ===========  =====================================================================
type        outer        inner        device (module)
==========  ===========  ===========  =====================================================================
ipip, gue   IPv4         IPv4         tunl0 (ipip)
ipip, gue   IPv4         IPv6         sit0 (sit)
ipip, gue   IPv6         IPv6         ip6tnl0 (ip6_tunnel)
ipip, gue   IPv6         IPv4         ip6tnl0 in mode any (ip6_tunnel): in its default mode ip6ip6 it drops them
gre         IPv4         any          gre0 (ip_gre); with checksums lvsgre4, a gre device with icsum
gre         IPv6         any          ip6gre0 (ip6_gre); with checksums lvsgre6, an ip6gre device with icsum
==========  ===========  ===========  =====================================================================

GUE needs a fou listener on its UDP port too (module fou). A GRE packet with a checksum is dropped by the
fallback devices gre0 and ip6gre0 (they count it as a checksum error): it needs a device of its own with
`icsum` bound to the real server's address (one bound to any address would clash with the fallback).
"""

from __future__ import annotations

from dataclasses import dataclass

from lvsweb_agent.model import Recipe, family_of

#: The fallback device each tunnel module creates in every network namespace.
MODULE_OF_DEVICE = {
    "tunl0": "ipip",
    "sit0": "sit",
    "ip6tnl0": "ip6_tunnel",
    "gre0": "ip_gre",
    "ip6gre0": "ip6_gre",
}
#: The link kind of each fallback device (asking for a link of that kind autoloads the module).
KIND_OF_DEVICE = {"tunl0": "ipip", "sit0": "sit", "ip6tnl0": "ip6tnl", "gre0": "gre", "ip6gre0": "ip6gre"}
#: The devices made for GRE with checksums, per outer family, and their kind.
CSUM_DEVICES = {"ipv4": ("lvsgre4", "gre", "gre0"), "ipv6": ("lvsgre6", "ip6gre", "ip6gre0")}
#: IFLA_GRE_IFLAGS' checksum bit (GRE_CSUM, in network byte order as pyroute2 encodes it).
GRE_CSUM = 0x8000
#: ip6tnl's IFLA_IPTUN_PROTO: 0 is "any" (IPv4 and IPv6 inside IPv6), 41 (IPv6) its default.
IP6TNL_ANY = 0


@dataclass(frozen=True)
class Endpoint:
    """How one VIP arrives at this real server: encapsulation, this host's outer address, GUE port, checksum.

    `address` None: the VIP's own family, on any of this host's addresses (the plain IPv4 IPIP recipe).
    """

    vip: str
    type: str = "ipip"
    address: str | None = None
    port: int = 0
    checksum: str = "none"

    @property
    def inner(self) -> str:
        return family_of(self.vip)

    @property
    def outer(self) -> str:
        return family_of(self.address) if self.address else self.inner

    @property
    def device(self) -> str:
        """The device the decapsulated packet arrives on (where its VIP goes when it is the VIP's first)."""
        if self.type == "gre":
            if self.checksum == "csum":
                return CSUM_DEVICES[self.outer][0]
            return "gre0" if self.outer == "ipv4" else "ip6gre0"
        if self.outer == "ipv6":
            return "ip6tnl0"
        return "tunl0" if self.inner == "ipv4" else "sit0"

    @property
    def module(self) -> str:
        """The module that makes the device (the csum devices are made on top of the fallback one's module)."""
        device = self.device
        for name, _kind, fallback in CSUM_DEVICES.values():
            if device == name:
                return MODULE_OF_DEVICE[fallback]
        return MODULE_OF_DEVICE[device]

    @property
    def needs_mode_any(self) -> bool:
        """IPv4 inside IPv6 (ipip or gue): ip6tnl0 must accept any inner protocol."""
        return self.device == "ip6tnl0" and self.inner == "ipv4"

    def describe(self) -> str:
        text = f"{self.vip} by {self.type}"
        if self.type == "gue":
            text += f" port {self.port}"
        if self.checksum != "none":
            text += f" checksum {self.checksum}"
        return text + f" over {self.outer.replace('ipv', 'IPv')}" + (f" to {self.address}" if self.address else "")


@dataclass(frozen=True)
class CsumDevice:
    """A GRE device with checksums for one outer family, bound to this host's address."""

    name: str
    kind: str
    local: str


@dataclass(frozen=True)
class Decapsulation:
    """Everything a TUN real server's kernel needs for its endpoints, each list in a stable order."""

    modules: tuple[str, ...]
    devices: tuple[str, ...]
    csum_devices: tuple[CsumDevice, ...]
    fou_ports: tuple[tuple[int, str], ...]
    mode_any: bool
    vip_devices: tuple[tuple[str, str], ...]
    ipv4_devices: tuple[str, ...]


def decapsulation(endpoints: tuple[Endpoint, ...]) -> Decapsulation:
    """What `endpoints` need; a VIP goes on the device of its first endpoint (the VIP is local there, which is
    all the other devices need: delivery to a local address does not depend on the device it is on)."""
    modules: list[str] = []
    devices: list[str] = []
    csum: dict[str, CsumDevice] = {}
    fou: list[tuple[int, str]] = []
    vip_devices: dict[str, str] = {}
    ipv4_devices: list[str] = []
    for endpoint in endpoints:
        device = endpoint.device
        for item, into in ((endpoint.module, modules), (device, devices)):
            if item not in into:
                into.append(item)
        if endpoint.type == "gue" and "fou" not in modules:
            modules.append("fou")
        if endpoint.type == "gue" and (endpoint.port, endpoint.outer) not in fou:
            fou.append((endpoint.port, endpoint.outer))
        if endpoint.type == "gre" and endpoint.checksum == "csum" and endpoint.address:
            name, kind, _ = CSUM_DEVICES[endpoint.outer]
            csum.setdefault(name, CsumDevice(name=name, kind=kind, local=endpoint.address))
        vip_devices.setdefault(endpoint.vip, device)
        if endpoint.inner == "ipv4" and device not in ipv4_devices:
            ipv4_devices.append(device)
    return Decapsulation(
        modules=tuple(modules),
        devices=tuple(devices),
        csum_devices=tuple(csum.values()),
        fou_ports=tuple(fou),
        mode_any=any(endpoint.needs_mode_any for endpoint in endpoints),
        vip_devices=tuple(vip_devices.items()),
        ipv4_devices=tuple(ipv4_devices),
    )


def endpoints_of(recipe: Recipe | None) -> tuple[Endpoint, ...]:
    """The recipe's endpoints; a recipe made without any (tests, older code) gets plain ipip for each VIP."""
    if recipe is None:
        return ()
    return recipe.tunnels or tuple(Endpoint(vip=vip) for vip in recipe.vips)
