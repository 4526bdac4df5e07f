"""Enumerations of the inventory, named as the kernel and ipvsadm name them."""

from django.db import models
from lvsweb_agent.model import SCHEDULER_DESCRIPTIONS


class Protocol(models.TextChoices):
    """How a virtual service matches packets: by protocol + VIP + port, or by firewall mark."""

    TCP = "tcp", "TCP"
    UDP = "udp", "UDP"
    SCTP = "sctp", "SCTP"
    FWMARK = "fwmark", "Firewall mark"


class AddressFamily(models.TextChoices):
    """IP version of a firewall-mark service (other services take it from their VIP)."""

    IPV4 = "ipv4", "IPv4"
    IPV6 = "ipv6", "IPv6"


#: IPVS scheduling algorithms (the kernel module is ip_vs_<value>), from the agent's one list: Scheduler.WLC is
#: "wlc", labelled "wlc: weighted least connection".
#: (django-stubs types only the class form of choices, hence the ignore.)
Scheduler = models.TextChoices(  # type: ignore[call-overload]
    "Scheduler", {name.upper(): (name, f"{name}: {what}") for name, what in SCHEDULER_DESCRIPTIONS.items()}
)


#: Schedulers that take the fallback/port flags (sh-fallback, sh-port, mh-fallback, mh-port).
SCHEDULERS_WITH_FLAGS = frozenset({Scheduler.SH, Scheduler.MH})


class ForwardMethod(models.TextChoices):
    """How the director forwards a packet to a real server."""

    TUN = "tun", "tun: IP tunnelling (direct server return)"
    DR = "dr", "dr: direct routing (direct server return)"
    NAT = "nat", "nat: masquerading (replies pass the director)"


#: Forwarding methods in which the kernel cannot rewrite the destination port.
FORWARD_METHODS_WITHOUT_PORT_MAPPING = frozenset({ForwardMethod.TUN, ForwardMethod.DR})


class TunnelType(models.TextChoices):
    """Encapsulation used in tunnel mode."""

    IPIP = "ipip", "ipip: IP-in-IP"
    GUE = "gue", "gue: generic UDP encapsulation"
    GRE = "gre", "gre: generic routing encapsulation"


class TunnelChecksum(models.TextChoices):
    """Checksum option of a GUE or GRE tunnel."""

    NONE = "none", "none"
    CSUM = "csum", "csum"
    REMCSUM = "remcsum", "remcsum (remote checksum offload)"


class RealServerState(models.TextChoices):
    """Operator intent for a real server."""

    ACTIVE = "active", "active"
    DRAINING = "draining", "draining (weight 0, existing connections finish)"
    DISABLED = "disabled", "disabled (removed from the kernel)"


class HostRole(models.TextChoices):
    """What a host does in a cluster."""

    DIRECTOR = "director", "director"
    REAL_SERVER = "real_server", "real server"


class AgentStatus(models.TextChoices):
    """What the console knows of a host's agent."""

    NEVER_ENROLLED = "never_enrolled", "never enrolled"
    ONLINE = "online", "online"
    OFFLINE = "offline", "agent offline"
    REVOKED = "revoked", "revoked"


class SyncState(models.TextChoices):
    """Whether a host's kernel matches what the console last sent it."""

    IN_SYNC = "in_sync", "in sync"
    DRIFTED = "drifted", "drifted"
    UNKNOWN = "unknown", "unknown (the agent cannot read the kernel)"
    OFFLINE = "offline", "agent offline"
    WAITING = "waiting", "waiting for first heartbeat"
    NEVER_ENROLLED = "never_enrolled", "never enrolled"
    REVOKED = "revoked", "revoked"


class HealthCheckType(models.TextChoices):
    """How the director's agent checks a real server."""

    NONE = "none", "none (not checked)"
    TCP = "tcp", "TCP connect"
    HTTP = "http", "HTTP GET"
    HTTPS = "https", "HTTPS GET"
    UDP = "udp", "UDP exchange"
    DNS = "dns", "DNS query (UDP)"
    SCTP = "sctp", "SCTP connect"


#: The checks that fit each service protocol (firewall-mark services may carry any: the operator knows).
#: A UDP or SCTP service may also be checked over TCP when its servers listen on TCP too (a DNS server checked by a
#: TCP connect to port 53: keepalived's TCP_CHECK on UDP services, common in the configurations users import);
#: its own protocol's checks come first (the form's default). A TCP service is never "checked" by a datagram.
CHECKS_FOR_PROTOCOL = {
    "tcp": (HealthCheckType.TCP, HealthCheckType.HTTP, HealthCheckType.HTTPS),
    "udp": (HealthCheckType.UDP, HealthCheckType.DNS, HealthCheckType.TCP, HealthCheckType.HTTP, HealthCheckType.HTTPS),
    "sctp": (HealthCheckType.SCTP, HealthCheckType.TCP, HealthCheckType.HTTP, HealthCheckType.HTTPS),
}


class ReplyMatch(models.TextChoices):
    """What a UDP check expects back (keepalived's UDP_CHECK: no ICMP error, or `require_reply`)."""

    NONE = "none", "no reply needed: down only on an ICMP port unreachable"
    ANY = "any", "any reply"
    PREFIX = "prefix", "a reply starting with the pattern"
    REGEX = "regex", "a reply matching the pattern (regular expression)"


class DnsQueryType(models.TextChoices):
    """Record types a DNS check may ask for."""

    A = "A", "A"
    AAAA = "AAAA", "AAAA"
    NS = "NS", "NS"
    SOA = "SOA", "SOA"
    CNAME = "CNAME", "CNAME"
    MX = "MX", "MX"
    TXT = "TXT", "TXT"
    PTR = "PTR", "PTR"
    SRV = "SRV", "SRV"
    ANY = "ANY", "ANY"


class HealthFailureAction(models.TextChoices):
    """What happens to a real server whose check fails `fall` times in a row."""

    WEIGHT_ZERO = "weight0", "weight 0 (existing connections finish)"
    REMOVE = "remove", "remove from the service (drained first)"


class HealthStatus(models.TextChoices):
    """A real server's health as its director's agent last reported it."""

    UNKNOWN = "unknown", "unknown"
    UP = "up", "up"
    DOWN = "down", "down"
