"""Virtual services: what clients connect to (a VIP and port, or a firewall mark)."""

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q

from clusters.choices import (
    SCHEDULERS_WITH_FLAGS,
    AddressFamily,
    ForwardMethod,
    HostRole,
    Protocol,
    Scheduler,
)
from clusters.validators import MAX_FWMARK, family_of, validate_persistence_netmask

#: A virtual service's settings, in the order the form, the API and the inventory snapshot (clusters/compiler.py)
#: list them: the one list. The API adds its own read-only fields around it (id, cluster, endpoint, counts).
VIRTUAL_SERVICE_FIELDS = (
    "name",
    "protocol",
    "address",
    "port",
    "fwmark",
    "address_family",
    "scheduler",
    "sched_fallback",
    "sched_port",
    "persistence_timeout",
    "persistence_netmask",
    "one_packet",
    "forward_method",
    "enabled",
    "description",
)


def service_endpoint(protocol: str, address: str | None, port: int | None, fwmark: int | None, family: str) -> str:
    """A service's endpoint (`VirtualService.endpoint`) from its values, without a model instance: /metrics
    writes 20,000 of them."""
    if protocol == Protocol.FWMARK:
        return f"FWM {fwmark}" + (" IPv6" if family == AddressFamily.IPV6 else "")
    host = f"[{address}]" if address and ":" in address else address
    return f"{protocol.upper()} {host}:{port}"


class VirtualService(models.Model):
    """An IPVS virtual service of a cluster, and the defaults for its real servers."""

    cluster = models.ForeignKey(
        "clusters.Cluster",
        on_delete=models.CASCADE,
        related_name="virtual_services",
    )
    name = models.CharField(
        max_length=100,
        blank=True,
        help_text="Optional label, e.g. “shop https”.",
    )
    protocol = models.CharField(
        max_length=10,
        choices=Protocol.choices,
        default=Protocol.TCP,
    )
    address = models.GenericIPAddressField(
        null=True,
        blank=True,
        verbose_name="VIP",
        help_text="The virtual IP clients connect to (IPv4 or IPv6). Empty for firewall-mark services.",
    )
    port = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(65535)],
        help_text="1–65535. Empty for firewall-mark services.",
    )
    fwmark = models.PositiveBigIntegerField(
        null=True,
        blank=True,
        verbose_name="firewall mark",
        validators=[MinValueValidator(1), MaxValueValidator(MAX_FWMARK)],
        help_text="For firewall-mark services only: the mark (≥ 1) set by your nftables/iptables rules.",
    )
    address_family = models.CharField(
        max_length=4,
        choices=AddressFamily.choices,
        default=AddressFamily.IPV4,
        help_text="Taken from the VIP; choose it only for firewall-mark services.",
    )
    scheduler = models.CharField(
        max_length=5,
        choices=Scheduler.choices,
        default=Scheduler.WLC,
    )
    sched_fallback = models.BooleanField(
        default=False,
        verbose_name="scheduler flag: fallback",
        help_text="sh/mh only: pick another real server when the hashed one is unavailable.",
    )
    sched_port = models.BooleanField(
        default=False,
        verbose_name="scheduler flag: port",
        help_text="sh/mh only: include the source port in the hash.",
    )
    persistence_timeout = models.PositiveIntegerField(
        default=0,
        help_text="Seconds a client sticks to the same real server; 0 turns persistence off.",
    )
    persistence_netmask = models.CharField(
        max_length=39,
        blank=True,
        help_text="Clients grouped for persistence: an IPv4 netmask (255.255.255.0) or an IPv6 prefix "
        "length (64). Empty means one client address.",
    )
    one_packet = models.BooleanField(
        default=False,
        verbose_name="one-packet scheduling",
        help_text="UDP only: schedule every datagram on its own (ipvsadm -o).",
    )
    forward_method = models.CharField(
        max_length=3,
        choices=ForwardMethod.choices,
        default=ForwardMethod.TUN,
        verbose_name="default forwarding method",
        help_text="Used for new real servers of this service.",
    )
    enabled = models.BooleanField(
        default=True,
        help_text="A disabled service stays in the inventory but is removed from the directors.",
    )
    description = models.TextField(
        blank=True,
    )
    vip_group = models.ForeignKey(
        "clusters.VipGroup",
        # delete_vip_group refuses a group with services; a cluster's deletion takes both along.
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="virtual_services",
        verbose_name="VIP group",
        help_text="The VIP group whose active director holds this VIP (docs/ha.md). Empty: every director of "
        "the cluster holds it.",
    )
    created_at = models.DateTimeField(
        auto_now_add=True,
    )
    updated_at = models.DateTimeField(
        auto_now=True,
    )

    class Meta:
        ordering = ["cluster", "address", "port", "fwmark", "protocol"]
        constraints = [
            models.UniqueConstraint(
                fields=["cluster", "protocol", "address", "port"],
                condition=Q(fwmark__isnull=True),
                name="%(app_label)s_%(class)s_unique_vip_port",
            ),
            models.UniqueConstraint(
                fields=["cluster", "fwmark", "address_family"],
                condition=Q(fwmark__isnull=False),
                name="%(app_label)s_%(class)s_unique_fwmark",
            ),
        ]

    def __str__(self) -> str:
        return self.endpoint

    @property
    def is_fwmark(self) -> bool:
        """True for a firewall-mark service."""
        return self.protocol == Protocol.FWMARK

    @property
    def identity(self) -> tuple:
        """What makes a service the same service in another cluster or revision: protocol, VIP and port, or the
        firewall mark and family — as dispatch.revisions.service_key reads it from an inventory snapshot."""
        if self.is_fwmark:
            return (str(Protocol.FWMARK), self.fwmark, self.address_family)
        return (self.protocol, self.address, self.port)

    @property
    def endpoint(self) -> str:
        """The service as ipvsadm writes it: `TCP 10.0.0.1:80`, `UDP [2001:db8::1]:53`, `FWM 5`."""
        return service_endpoint(self.protocol, self.address, self.port, self.fwmark, self.address_family)

    def validate_constraints(self, exclude=None):
        # clean() checks the same uniqueness with a message on the right field; the database constraints
        # remain as the guard against two concurrent saves.
        pass

    def clean(self, known=None) -> None:
        """Every rule of a service; `known` (an import's InventoryIndex) answers the questions about other rows
        from what it loaded once, instead of a query per service."""
        errors: dict[str, list[str]] = {}

        def error(field: str, message: str) -> None:
            errors.setdefault(field, []).append(message)

        if self.is_fwmark:
            if self.fwmark is None:
                error("fwmark", "A firewall-mark service needs a mark (1 or more).")
            if self.address:
                error("address", "A firewall-mark service has no VIP: the mark selects the packets.")
            if self.port is not None:
                error("port", "A firewall-mark service has no port: the mark selects the packets.")
        else:
            if self.fwmark is not None:
                error("fwmark", "Only firewall-mark services take a mark; choose protocol “fwmark” or clear it.")
            if not self.address:
                error("address", f"A {self.get_protocol_display()} service needs a VIP.")
            else:
                self.address_family = family_of(self.address)
            if self.port is None:
                error("port", f"A {self.get_protocol_display()} service needs a port from 1 to 65535.")

        if self.scheduler not in SCHEDULERS_WITH_FLAGS:
            for field in ("sched_fallback", "sched_port"):
                if getattr(self, field):
                    error(field, f"Scheduler flags apply only to the sh and mh schedulers, not to {self.scheduler}.")
        if self.one_packet and self.protocol not in (Protocol.UDP, Protocol.FWMARK):
            error("one_packet", "One-packet scheduling applies only to UDP (and firewall-mark) services.")
        if self.persistence_netmask:
            if not self.persistence_timeout:
                error("persistence_netmask", "A persistence netmask needs a persistence timeout above 0.")
            else:
                try:
                    validate_persistence_netmask(self.persistence_netmask, self.address_family)
                except ValidationError as exc:
                    errors.setdefault("persistence_netmask", []).extend(exc.messages)

        if self.vip_group is not None:
            if self.vip_group.cluster_id != self.cluster_id:
                error("vip_group", f"VIP group “{self.vip_group}” belongs to another cluster.")
            elif self.is_fwmark:
                error("vip_group", "A firewall-mark service has no VIP to move: leave its VIP group empty.")
            elif self.vip_group.auth_pass and self.address and ":" in self.address:
                error(
                    "vip_group",
                    f"VIP group “{self.vip_group}” has a VRRP password, which only VRRP version 2 (IPv4) carries: "
                    "an IPv6 VIP needs a group without one.",
                )
        if not errors:
            self._check_unique_in_cluster(error, known)
            self._check_vip_on_shared_directors(error, known)
        if errors:
            raise ValidationError(errors)

    def _check_unique_in_cluster(self, error, known) -> None:
        if known is not None:
            taken = known.service_taken(self)
        else:
            others = VirtualService.objects.filter(cluster_id=self.cluster_id).exclude(pk=self.pk)
            if self.is_fwmark:
                taken = others.filter(fwmark=self.fwmark, address_family=self.address_family).exists()
            else:
                taken = others.filter(protocol=self.protocol, address=self.address, port=self.port).exists()
        if taken and self.is_fwmark:
            error("fwmark", f"This cluster already has a service for firewall mark {self.fwmark}.")
        elif taken:
            error("port", f"This cluster already has a service on {self.endpoint}.")

    def _check_vip_on_shared_directors(self, error, known) -> None:
        if self.is_fwmark or not self.cluster_id:
            return
        if known is not None:
            clash = known.vip_clash(self.address)
        else:
            clash = self.shared_director_vips(self.cluster_id).filter(address=self.address).first()
        if clash is not None:
            error(
                "address",
                f"VIP {self.address} is already used by cluster “{clash.cluster}”, which shares a director "
                "with this cluster; a director can hold a VIP for one cluster only.",
            )

    @staticmethod
    def shared_director_vips(cluster_id: int) -> "models.QuerySet[VirtualService]":
        """The services of other clusters that share a director with cluster `cluster_id` (their VIPs are taken)."""
        # One filter() call: both conditions name the same role of the other cluster (a director), whose host
        # also directs cluster `cluster_id`.
        return (
            VirtualService.objects.exclude(cluster_id=cluster_id)
            .filter(
                cluster__cluster_hosts__role=HostRole.DIRECTOR,
                cluster__cluster_hosts__host__cluster_roles__role=HostRole.DIRECTOR,
                cluster__cluster_hosts__host__cluster_roles__cluster_id=cluster_id,
            )
            .select_related("cluster")
        )
