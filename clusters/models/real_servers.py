"""Real servers: the machines behind a virtual service."""

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from clusters.choices import (
    FORWARD_METHODS_WITHOUT_PORT_MAPPING,
    ForwardMethod,
    RealServerState,
    TunnelChecksum,
    TunnelType,
)
from clusters.validators import MAX_WEIGHT, family_of

#: A real server's settings as the kernel knows them, in the order the form, the API and the inventory snapshot
#: list them: the one list. The form and the API add the console's own fields after it (the host that runs it,
#: configured_by_hand, the description); the snapshot adds the description.
REAL_SERVER_FIELDS = (
    "address",
    "port",
    "weight",
    "forward_method",
    "tunnel_type",
    "tunnel_port",
    "tunnel_checksum",
    "upper_threshold",
    "lower_threshold",
    "state",
)


def endpoint_of(address: str, port: int | None) -> str:
    """A real server's `address:port` as the console writes it (without loading the row: /metrics reads values)."""
    host = f"[{address}]" if ":" in address else address
    return f"{host}:{port}" if port else host


class RealServer(models.Model):
    """A destination of a virtual service, with its weight, forwarding method and intent."""

    virtual_service = models.ForeignKey(
        "clusters.VirtualService",
        on_delete=models.CASCADE,
        related_name="real_servers",
    )
    address = models.GenericIPAddressField(
        verbose_name="real server address",
        help_text="The real server's own address (RIP), IPv4 or IPv6.",
    )
    port = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(65535)],
        help_text="In TUN and DR mode this must equal the virtual port. Empty for firewall-mark services "
        "(packets keep their own port).",
    )
    weight = models.PositiveIntegerField(
        default=1,
        validators=[MaxValueValidator(MAX_WEIGHT)],
        help_text="0–65535. Weight 0 sends no new connections to this server.",
    )
    forward_method = models.CharField(
        max_length=3,
        choices=ForwardMethod.choices,
        default=ForwardMethod.TUN,
        verbose_name="forwarding method",
    )
    tunnel_type = models.CharField(
        max_length=4,
        choices=TunnelType.choices,
        default=TunnelType.IPIP,
        help_text="TUN only. ipip needs the ipip module on the real server; gue needs fou.",
    )
    tunnel_port = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(65535)],
        help_text="GUE only: the UDP port the real server's fou listener uses.",
    )
    tunnel_checksum = models.CharField(
        max_length=7,
        choices=TunnelChecksum.choices,
        default=TunnelChecksum.NONE,
        help_text="GUE and GRE only; remcsum is for GUE only.",
    )
    upper_threshold = models.PositiveIntegerField(
        default=0,
        help_text="Stop sending new connections above this many connections; 0 means no limit.",
    )
    lower_threshold = models.PositiveIntegerField(
        default=0,
        help_text="After reaching the upper threshold, resume below this many; 0 means no limit.",
    )
    state = models.CharField(
        max_length=10,
        choices=RealServerState.choices,
        default=RealServerState.ACTIVE,
    )
    host = models.ForeignKey(
        "clusters.Host",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="real_server_entries",
        help_text="The host that runs this real server, when its agent is managed by lvsweb: it receives the "
        "TUN/DR recipe (the VIP on tunl0 or lo, rp_filter off). Empty: the host of the cluster's team that "
        "has this address (its management address or one of its other addresses), if there is one.",
    )
    configured_by_hand = models.BooleanField(
        default=False,
        verbose_name="configured by hand",
        help_text="TUN/DR: an administrator sets up this server's VIP and sysctls himself (e.g. with the hand "
        "recipe of the enrollment page), so no lvsweb host needs to configure it.",
    )
    description = models.TextField(
        blank=True,
    )
    created_at = models.DateTimeField(
        auto_now_add=True,
    )
    updated_at = models.DateTimeField(
        auto_now=True,
    )

    class Meta:
        ordering = ["virtual_service", "address", "port"]
        constraints = [
            models.UniqueConstraint(
                fields=["virtual_service", "address", "port"],
                name="%(app_label)s_%(class)s_unique_address_port",
            ),
        ]

    def __str__(self) -> str:
        return self.endpoint

    @property
    def endpoint(self) -> str:
        """`10.0.1.11:80`, `[2001:db8::11]:80`, or the bare address when the port is empty."""
        return endpoint_of(self.address, self.port)

    def validate_constraints(self, exclude=None):
        # clean() checks the same uniqueness with a message on the right field; the database constraint
        # remains as the guard against two concurrent saves.
        pass

    def clean(self, known=None) -> None:
        """Every rule of a real server; `known` (an import's InventoryIndex) answers the questions about other
        rows from what it loaded once, instead of a query per real server."""
        errors: dict[str, list[str]] = {}

        def error(field: str, message: str) -> None:
            errors.setdefault(field, []).append(message)

        # A service being imported has no id yet (clusters/actions/import_batch.py): its object counts.
        linked = self.virtual_service_id is not None or RealServer.virtual_service.is_cached(self)
        service = self.virtual_service if linked else None
        method = ForwardMethod(self.forward_method) if self.forward_method in ForwardMethod.values else None
        if service is not None and method is not None:
            self._check_port(service, method, error)
            if self.address and service.address_family:
                family = family_of(self.address)
                if family != service.address_family and method != ForwardMethod.TUN:
                    error(
                        "address",
                        f"A {method.name} real server must be {service.get_address_family_display()} like "
                        f"the virtual service: {method.name} forwards the packet as it is, it cannot change "
                        "its address family.",
                    )
        if method is not None:
            self._check_tunnel(method, error)
        if (
            service is not None
            and method == ForwardMethod.DR
            and service.address_family == "ipv6"
            and not service.is_fwmark
            and self.host_id is not None
            and not self.configured_by_hand
        ):
            # The agents' DR recipe (VIP on lo, arp_ignore/arp_announce) is IPv4's: the agent of the linked host
            # would put no IPv6 VIP on it, which would then drop every packet the director sends it. (A real server
            # linked to no host is configured by no agent: the cluster page already says so.)
            error(
                "forward_method",
                "The agents configure the DR recipe for IPv4 VIPs only: for an IPv6 VIP use TUN (ip6tnl0, configured "
                "by the agent), or tick “configured by hand” and put the VIP/128 on the real server's lo yourself.",
            )
        if self.upper_threshold and self.lower_threshold > self.upper_threshold:
            error(
                "lower_threshold",
                f"The lower threshold ({self.lower_threshold}) must not exceed the upper threshold "
                f"({self.upper_threshold}).",
            )
        if not errors and service is not None and method == ForwardMethod.TUN and self.tunnel_type == TunnelType.GRE:
            self._check_gre_checksum(service, error, known)
        if not errors and service is not None and self.address:
            if known is not None:
                duplicate = known.real_server_taken(service, self.address, self.port)
            else:
                duplicate = (
                    RealServer.objects.filter(virtual_service_id=service.pk, address=self.address, port=self.port)
                    .exclude(pk=self.pk)
                    .exists()
                )
            if duplicate:
                error("address", f"{self.endpoint} is already a real server of {service.endpoint}.")
        if errors:
            raise ValidationError(errors)

    def _check_port(self, service, method: ForwardMethod, error) -> None:
        if service.is_fwmark:
            if self.port is not None and method in FORWARD_METHODS_WITHOUT_PORT_MAPPING:
                error(
                    "port",
                    f"Leave the port empty: in {method.name} mode packets keep their own destination port, "
                    "the kernel cannot map ports.",
                )
            return
        if self.port is None:
            if method in FORWARD_METHODS_WITHOUT_PORT_MAPPING:
                self.port = service.port
            else:
                error("port", "A NAT real server needs a port from 1 to 65535.")
        elif method in FORWARD_METHODS_WITHOUT_PORT_MAPPING and self.port != service.port:
            error(
                "port",
                f"In {method.name} mode the real server port must equal the virtual port ({service.port}): "
                f"the kernel cannot map ports when it {'tunnels' if method == ForwardMethod.TUN else 'routes'} "
                "packets to the real server. Use NAT to map ports, or change the port to "
                f"{service.port}.",
            )

    def _check_gre_checksum(self, service, error, known=None) -> None:
        # One GRE device on the real server takes all GRE packets sent to this address: with checksums
        # (its own device, icsum) or without (the fallback gre0/ip6gre0), never both.
        other = known.gre_other_checksum(self) if known is not None else self._gre_other_checksum(service)
        if other is not None:
            error(
                "tunnel_checksum",
                f"{self.address} already takes GRE {'with' if other.tunnel_checksum == 'csum' else 'without'} "
                f"checksums (in {other.virtual_service.endpoint}): one GRE device on the real server takes all "
                "GRE packets sent to this address, so every GRE tunnel to it must use the same checksum setting.",
            )

    def _gre_other_checksum(self, service) -> "RealServer | None":
        return (
            RealServer.objects.filter(
                virtual_service__cluster_id=service.cluster_id,
                address=self.address,
                forward_method=ForwardMethod.TUN,
                tunnel_type=TunnelType.GRE,
            )
            .exclude(pk=self.pk)
            .exclude(tunnel_checksum=self.tunnel_checksum)
            .select_related("virtual_service")
            .first()
        )

    def _check_tunnel(self, method: ForwardMethod, error) -> None:
        if method != ForwardMethod.TUN:
            if self.tunnel_type != TunnelType.IPIP:
                error("tunnel_type", f"Tunnel settings apply only to TUN, not to {method.name}.")
            if self.tunnel_port is not None:
                error("tunnel_port", f"Tunnel settings apply only to TUN, not to {method.name}.")
            if self.tunnel_checksum != TunnelChecksum.NONE:
                error("tunnel_checksum", f"Tunnel settings apply only to TUN, not to {method.name}.")
            return
        if self.tunnel_type == TunnelType.GUE:
            if self.tunnel_port is None:
                error("tunnel_port", "A GUE tunnel needs the UDP port of the real server's fou listener.")
        elif self.tunnel_port is not None:
            error(
                "tunnel_port",
                f"Leave the tunnel port empty for {self.tunnel_type}: only GUE, which runs over UDP, takes one.",
            )
        if self.tunnel_type == TunnelType.IPIP and self.tunnel_checksum != TunnelChecksum.NONE:
            error("tunnel_checksum", "Tunnel checksums apply only to GUE and GRE, not to ipip.")
        if self.tunnel_type == TunnelType.GRE and self.tunnel_checksum == TunnelChecksum.REMCSUM:
            error(
                "tunnel_checksum",
                "Remote checksum offload (remcsum) exists only for GUE; a GRE tunnel takes none or csum.",
            )
