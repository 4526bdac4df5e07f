"""Health checks: how directors' agents check real servers, and what they last reported (docs/health.md)."""

import math
import re

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q

from clusters.choices import (
    CHECKS_FOR_PROTOCOL,
    FORWARD_METHODS_WITHOUT_PORT_MAPPING,
    DnsQueryType,
    ForwardMethod,
    HealthCheckType,
    HealthFailureAction,
    Protocol,
    ReplyMatch,
)
from clusters.validators import family_of

#: A URL path as an HTTP request line carries it: printable ASCII without spaces, starting with “/”.
PATH_PATTERN = re.compile(r"/[!-~]*")
HOST_PATTERN = re.compile(r"[!-~]*")


#: The settings of UDP and DNS checks, and their values on any other check.
DATAGRAM_DEFAULTS = {
    "payload": "",
    "payload_hex": False,
    "reply_match": "none",
    "reply_pattern": "",
    "query_name": ".",
    "query_type": "SOA",
}
#: A domain name as the DNS check asks for it: "." or labels of letters, digits, "-", "_" (and "*").
QUERY_NAME_PATTERN = re.compile(r"\.|([A-Za-z0-9_*-]{1,63}\.)*[A-Za-z0-9_*-]{1,63}\.?")


#: The settings of a check, in the order the forms, the API and the agent's document list them.
HEALTH_CHECK_FIELDS = (
    "check_type",
    "port",
    "path",
    "host_header",
    "expect_status_min",
    "expect_status_max",
    "body_match",
    "interval",
    "timeout",
    "rise",
    "fall",
    "on_failure",
    "tunnel_path",
    "payload",
    "payload_hex",
    "reply_match",
    "reply_pattern",
    "query_name",
    "query_type",
    "quorum",
    "sorry_address",
    "sorry_port",
    "sorry_forward_method",
)


class HealthCheck(models.Model):
    """The health check of a virtual service (for all its real servers), or one real server's override.

    A service's check also carries the quorum: with fewer than `quorum` healthy real servers, new
    connections go to the sorry server.
    """

    cluster = models.ForeignKey(
        "clusters.Cluster",
        on_delete=models.CASCADE,
        related_name="health_checks",
        editable=False,
    )
    virtual_service = models.OneToOneField(
        "clusters.VirtualService",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="health_check",
        help_text="The service whose real servers this check applies to.",
    )
    real_server = models.OneToOneField(
        "clusters.RealServer",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="health_check",
        help_text="The one real server this check overrides its service's check for.",
    )
    check_type = models.CharField(
        max_length=5,
        choices=HealthCheckType.choices,
        default=HealthCheckType.TCP,
        verbose_name="check",
    )
    port = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(65535)],
        help_text="Port to check; empty: the real server's port.",
    )
    path = models.CharField(
        max_length=1000,
        default="/",
        help_text="HTTP(S) only: the path to GET, e.g. /healthz.",
    )
    host_header = models.CharField(
        max_length=253,
        blank=True,
        help_text="HTTP(S) only: the Host header; empty: the real server's address.",
    )
    expect_status_min = models.PositiveIntegerField(
        default=200,
        validators=[MinValueValidator(100), MaxValueValidator(599)],
        verbose_name="lowest good status",
    )
    expect_status_max = models.PositiveIntegerField(
        default=399,
        validators=[MinValueValidator(100), MaxValueValidator(599)],
        verbose_name="highest good status",
    )
    body_match = models.CharField(
        max_length=1000,
        blank=True,
        help_text="HTTP(S) only: text the answer's body must contain; empty: any body.",
    )
    interval = models.FloatField(
        default=5.0,
        validators=[MinValueValidator(0.1), MaxValueValidator(3600)],
        help_text="Seconds between two checks of a real server.",
    )
    timeout = models.FloatField(
        default=3.0,
        validators=[MinValueValidator(0.1), MaxValueValidator(3600)],
        help_text="Seconds a check may take; at most the interval.",
    )
    rise = models.PositiveIntegerField(
        default=2,
        validators=[MinValueValidator(1), MaxValueValidator(100)],
        help_text="Successful checks in a row that bring a down real server back.",
    )
    fall = models.PositiveIntegerField(
        default=3,
        validators=[MinValueValidator(1), MaxValueValidator(100)],
        help_text="Failed checks in a row that take a real server out.",
    )
    on_failure = models.CharField(
        max_length=7,
        choices=HealthFailureAction.choices,
        default=HealthFailureAction.WEIGHT_ZERO,
    )
    tunnel_path = models.BooleanField(
        default=False,
        verbose_name="check through the tunnel",
        help_text="TUN real servers of TCP services: also send a SYN to VIP:port in the real server's "
        "encapsulation (ipip, IPv6-in-IPv6, gue, gre), as clients arrive, so a wrong rp_filter, a VIP missing on "
        "the tunnel device or missing decapsulation (module, fou port, device) shows as down.",
    )
    payload = models.CharField(
        max_length=1000,
        blank=True,
        help_text="UDP only: the datagram sent (text, or hex digits when “payload is hex” is set).",
    )
    payload_hex = models.BooleanField(
        default=False,
        verbose_name="payload is hex",
        help_text="UDP only: the payload and a prefix pattern are hex digits, e.g. 0a1b 2c3d.",
    )
    reply_match = models.CharField(
        max_length=6,
        choices=ReplyMatch.choices,
        default=ReplyMatch.NONE,
        verbose_name="expected reply",
        help_text="UDP only. Without a reply needed, a real server is down only when it answers with an ICMP "
        "port unreachable (a silent one counts as up).",
    )
    reply_pattern = models.CharField(
        max_length=1000,
        blank=True,
        help_text="UDP only: the prefix (text or hex) or regular expression the reply must match.",
    )
    query_name = models.CharField(
        max_length=253,
        default=".",
        verbose_name="DNS query name",
        help_text="DNS only: the name asked for; up on rcode NOERROR with at least one answer record.",
    )
    query_type = models.CharField(
        max_length=5,
        choices=DnsQueryType.choices,
        default=DnsQueryType.SOA,
        verbose_name="DNS query type",
    )
    quorum = models.PositiveIntegerField(
        default=0,
        validators=[MaxValueValidator(65535)],
        help_text="Service check only: with fewer healthy real servers than this, the sorry server takes new "
        "connections; 0: no quorum.",
    )
    sorry_address = models.GenericIPAddressField(
        null=True,
        blank=True,
        verbose_name="sorry server address",
    )
    sorry_port = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(65535)],
        verbose_name="sorry server port",
        help_text="Empty: the virtual port (TUN and DR cannot map ports).",
    )
    sorry_forward_method = models.CharField(
        max_length=3,
        choices=ForwardMethod.choices,
        default=ForwardMethod.DR,
        verbose_name="sorry server forwarding",
    )
    created_at = models.DateTimeField(
        auto_now_add=True,
    )
    updated_at = models.DateTimeField(
        auto_now=True,
    )

    class Meta:
        ordering = ["cluster", "virtual_service", "real_server"]
        constraints = [
            models.CheckConstraint(
                condition=Q(virtual_service__isnull=True, real_server__isnull=False)
                | Q(virtual_service__isnull=False, real_server__isnull=True),
                name="%(app_label)s_%(class)s_service_or_real_server",
            ),
        ]

    def __str__(self) -> str:
        target = self.real_server or self.virtual_service
        return f"{self.get_check_type_display()} check of {target}"

    @property
    def service(self):
        """The virtual service this check belongs to (directly or through its real server)."""
        if self.virtual_service_id:
            return self.virtual_service
        return self.real_server.virtual_service if self.real_server_id else None

    def clean(self, known=None) -> None:
        """Every rule of a check; `known` (an import's InventoryIndex) answers whether the sorry server is one of
        the service's real servers from what it loaded once, instead of a query per check."""
        errors: dict[str, list[str]] = {}

        def error(field: str, message: str) -> None:
            errors.setdefault(field, []).append(message)

        if bool(self.virtual_service_id) == bool(self.real_server_id):
            error("virtual_service", "A health check belongs to a virtual service or to one of its real servers.")
            raise ValidationError(errors)
        service = self.service
        self.cluster_id = service.cluster_id
        if self.sorry_address == "":
            self.sorry_address = None  # an empty form field: no sorry server
        http = self.check_type in (HealthCheckType.HTTP, HealthCheckType.HTTPS)
        if http:
            if not PATH_PATTERN.fullmatch(self.path or ""):
                error("path", "Give a path starting with “/”, without spaces, e.g. /healthz.")
            if not HOST_PATTERN.fullmatch(self.host_header):
                error("host_header", "A Host header has no spaces or line breaks, e.g. shop.example.net.")
            if self.expect_status_min > self.expect_status_max:
                error(
                    "expect_status_max",
                    f"The highest good status ({self.expect_status_max}) is below the lowest "
                    f"({self.expect_status_min}).",
                )
        else:
            if self.path not in ("", "/") or self.host_header or self.body_match:
                field = "path" if self.path not in ("", "/") else "host_header" if self.host_header else "body_match"
                error(
                    field,
                    f"Path, Host header and body match apply only to HTTP and HTTPS checks, not to "
                    f"{self.get_check_type_display()}.",
                )
            self.path = "/"
        self._check_protocol(service, error)
        self._check_datagram(error)
        for name in ("interval", "timeout"):
            if not math.isfinite(getattr(self, name)):
                error(name, "Give a number of seconds, e.g. 5.")
        if math.isfinite(self.timeout) and math.isfinite(self.interval) and self.timeout > self.interval:
            error("timeout", f"The timeout ({self.timeout:g} s) must not exceed the interval ({self.interval:g} s).")
        if self.check_type != HealthCheckType.NONE and service.is_fwmark and self.port is None:
            error("port", "Real servers of a firewall-mark service have no port: give the port to check.")
        if self.tunnel_path:
            self._check_tunnel_path(service, error)
        if self.real_server_id:
            if self.quorum:
                error("quorum", "A quorum belongs to the service's check, not to one real server's.")
            if self.sorry_address:
                error("sorry_address", "A sorry server belongs to the service's check, not to one real server's.")
        else:
            self._check_sorry_server(service, error, known)
        if errors:
            raise ValidationError(errors)

    def _check_protocol(self, service, error) -> None:
        """The check must speak the service's protocol: a UDP service is not checked by a TCP connect."""
        fitting = CHECKS_FOR_PROTOCOL.get(service.protocol)
        if self.check_type == HealthCheckType.NONE or fitting is None or self.check_type in fitting:
            return
        names = " or ".join(HealthCheckType(kind).label for kind in fitting)
        error(
            "check_type",
            f"A {service.get_protocol_display()} service needs a check that speaks {service.get_protocol_display()}: "
            f"{names} (a {self.get_check_type_display()} says nothing about it).",
        )

    def _check_datagram(self, error) -> None:
        """UDP and DNS settings: only on their checks; hex that decodes, a regular expression that compiles."""
        kind = self.check_type
        if kind != HealthCheckType.UDP:
            for name in ("payload", "payload_hex", "reply_match", "reply_pattern"):
                if getattr(self, name) != DATAGRAM_DEFAULTS[name]:
                    error(name, f"{self._meta.get_field(name).verbose_name.capitalize()} applies only to UDP checks.")
        if kind != HealthCheckType.DNS:
            for name in ("query_name", "query_type"):
                if getattr(self, name) != DATAGRAM_DEFAULTS[name]:
                    error(name, f"The {self._meta.get_field(name).verbose_name} applies only to DNS checks.")
        elif not QUERY_NAME_PATTERN.fullmatch(self.query_name) or len(self.query_name.rstrip(".")) > 253:
            error("query_name", "Give a domain name such as www.example.net, or “.” for the root.")
        if kind != HealthCheckType.UDP:
            return
        if self.payload_hex:
            for name in ("payload", "reply_pattern"):
                if name == "reply_pattern" and self.reply_match != ReplyMatch.PREFIX:
                    continue
                try:
                    bytes.fromhex(getattr(self, name))
                except ValueError:
                    error(name, "Give hex digits in pairs (spaces allowed), e.g. 0a1b 2c3d.")
        if self.reply_match in (ReplyMatch.NONE, ReplyMatch.ANY):
            if self.reply_pattern:
                error("reply_pattern", f"“{self.get_reply_match_display()}” takes no pattern: leave it empty.")
        elif not self.reply_pattern:
            error("reply_pattern", "Give the pattern the reply must match.")
        elif self.reply_match == ReplyMatch.REGEX:
            try:
                re.compile(self.reply_pattern.encode())
            except re.error as exc:
                error("reply_pattern", f"Not a regular expression: {exc}.")

    def _check_tunnel_path(self, service, error) -> None:
        if self.check_type == HealthCheckType.NONE:
            error("tunnel_path", "Choose a check (TCP, HTTP or HTTPS) to check through the tunnel.")
        elif service.protocol != Protocol.TCP:
            error("tunnel_path", "A tunnel-path check sends a TCP SYN to the VIP: it needs a TCP service.")
        elif self.real_server_id and self.real_server.forward_method != ForwardMethod.TUN:
            error("tunnel_path", "A tunnel-path check needs a TUN real server.")
        elif self.real_server_id and family_of(self.real_server.address) != service.address_family:
            error(
                "tunnel_path",
                "A tunnel-path check needs the real server in the VIP's address family; for mixed families "
                "rely on the real server's own check.",
            )

    def _check_sorry_server(self, service, error, known=None) -> None:
        if self.quorum and not self.sorry_address:
            error("sorry_address", "A quorum needs a sorry server to take the traffic when it is lost.")
        if self.sorry_address and not self.quorum:
            error("quorum", "Set a quorum for the sorry server (1: when no real server is healthy).")
        if not self.sorry_address:
            if self.sorry_port is not None:
                error("sorry_port", "A sorry server port needs a sorry server address.")
            return
        method = self.sorry_forward_method
        if method != ForwardMethod.TUN and service.address and family_of(self.sorry_address) != service.address_family:
            error("sorry_address", f"A {method} sorry server must use the service's address family.")
        if method in FORWARD_METHODS_WITHOUT_PORT_MAPPING:
            if self.sorry_port is not None and self.sorry_port != service.port:
                error(
                    "sorry_port",
                    f"In {method} mode the sorry server port must equal the virtual port ({service.port}).",
                )
        elif self.sorry_port is None and service.port is None:
            error("sorry_port", "A NAT sorry server needs a port.")
        port = self.sorry_port or service.port
        if known is not None:
            clash = known.real_server_taken(service, self.sorry_address, port, any_port=port is None)
        else:
            same = service.real_servers.filter(address=self.sorry_address)
            clash = (same if port is None else same.filter(port=port)).exists()
        if clash:
            error("sorry_address", f"{self.sorry_address} is already a real server of {service}.")
