"""Hypothesis strategies for rule sets: any the text formats can carry, or only those the inventory accepts.

`model_valid=True` keeps within the model's rules (DR, NAT and ipip TUN in the VIP's family, GRE without remcsum,
one-packet scheduling for UDP and firewall marks, a lower threshold not above the upper one), so that every
example can be committed; without it the strategies range over everything the formats can write.
"""

from hypothesis import strategies as st
from lvsweb_agent.model import SCHEDULERS, Persistence, RealServer, Service, ServiceKey, Tunnel, normalize_address

from clusters.interchange.ruleset import MAX_THRESHOLD

FAMILIES = ["ipv4", "ipv6"]
V4 = st.builds(lambda a, b: f"10.{a}.{b}.1", st.integers(0, 255), st.integers(0, 255))
V6 = st.builds(lambda a, b: normalize_address(f"2001:db8:{a:x}::{b:x}"), st.integers(0, 0xFFFF), st.integers(1, 0xFFFF))
MASKS = {
    "ipv4": st.sampled_from(["255.255.255.255", "255.255.255.0", "255.255.0.0", "255.0.0.0", "255.255.255.252"]),
    "ipv6": st.integers(1, 128).map(str),
}
CHECKSUMS = st.sampled_from(["none", "csum", "remcsum"])


def addresses(family: str):
    return V4 if family == "ipv4" else V6


@st.composite
def service_keys(draw) -> ServiceKey:
    family = draw(st.sampled_from(FAMILIES))
    if draw(st.booleans()):
        return ServiceKey.for_fwmark(draw(st.integers(1, 2**32 - 1)), family)
    protocol = draw(st.sampled_from(["tcp", "udp", "sctp"]))
    return ServiceKey.for_address(protocol, draw(addresses(family)), draw(st.integers(1, 65535)))


@st.composite
def real_servers(draw, key: ServiceKey, model_valid: bool) -> RealServer:
    forward = draw(st.sampled_from(["tun", "dr", "nat"]))
    if key.fwmark:
        port = draw(st.integers(0, 65535)) if forward == "nat" else 0
    else:
        port = draw(st.integers(1, 65535)) if forward == "nat" else key.port
    tunnel = None
    if forward == "tun":
        gre_checksums = st.sampled_from(["none", "csum"]) if model_valid else CHECKSUMS
        tunnel = draw(
            st.one_of(
                st.just(Tunnel()),
                st.builds(Tunnel, st.just("gue"), st.integers(1, 65535), CHECKSUMS),
                st.builds(Tunnel, st.just("gre"), st.just(0), gre_checksums),
            )
        )
    # Only GUE and GRE tunnels may cross the address family in the inventory: an ipip real server of the other
    # family would need an ip6tnl/sit device that no recipe sets up (RealServer.clean refuses it).
    crosses = not model_valid or (tunnel is not None and tunnel.type != "ipip")
    family = draw(st.sampled_from(FAMILIES)) if crosses else key.family
    # The kernel counts to 2^32 - 1; the inventory's integer columns to 2^31 - 1.
    highest = 2**31 - 1 if model_valid else MAX_THRESHOLD
    upper = draw(st.one_of(st.just(0), st.integers(1, highest)))
    lower_limit = upper if model_valid and upper else highest
    return RealServer(
        address=draw(addresses(family)),
        port=port,
        weight=draw(st.integers(0, 65535)),
        forward=forward,
        tunnel=tunnel,
        upper_threshold=upper,
        lower_threshold=draw(st.one_of(st.just(0), st.integers(1, lower_limit))),
    )


@st.composite
def services(draw, model_valid: bool, keepalived: bool = False) -> Service:
    key = draw(service_keys())
    scheduler = draw(st.sampled_from(SCHEDULERS))
    flags = frozenset()
    if scheduler in ("sh", "mh"):
        flags = frozenset(f"{scheduler}-{flag}" for flag in draw(st.sets(st.sampled_from(["fallback", "port"]))))
    persistence = None
    if draw(st.booleans()):
        timeout = draw(st.integers(1, 86400 if model_valid else 2**31 - 1))
        persistence = Persistence(timeout, draw(MASKS[key.family]))
    one_packet = draw(st.booleans()) and (key.protocol in (None, "udp") or not (model_valid or keepalived))
    dests = draw(
        st.lists(
            real_servers(key, model_valid),
            min_size=1 if keepalived else 0,
            max_size=3 if model_valid else 5,
            unique_by=lambda d: d.key,
        )
    )
    return Service(
        key=key,
        scheduler=scheduler,
        flags=flags,
        persistence=persistence,
        one_packet=one_packet,
        real_servers=tuple(dests),
    )


def rule_sets(*, model_valid: bool = False, max_size: int = 6, keepalived: bool = False):
    """Lists of services with distinct keys; `keepalived`: only what keepalived installs as written (a service
    has real servers, one-packet scheduling only for UDP and firewall marks)."""
    return st.lists(
        services(model_valid, keepalived), min_size=1, max_size=max_size, unique_by=lambda service: service.key
    )
