"""Hosts (directors and real servers) and the role each plays in a cluster."""

import ipaddress

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from clusters.choices import AgentStatus, HostRole, SyncState
from clusters.ha_compiler import DRAINED_PRIORITY
from clusters.models.ha_checks import director_problems
from clusters.models.virtual_services import VirtualService
from clusters.validators import (
    address_list,
    validate_address_list,
    validate_hostname,
    validate_interface_list,
    validate_interface_name,
)

#: A host's agent reads a broker queue named after its hostname, so a hostname is unique across the console. The
#: refusal reads the same whoever registered the name, so that it does not tell which team has the machine.
HOSTNAME_TAKEN = (
    "This hostname cannot be used: it is already registered in the console (hostnames are unique across all "
    "teams, since each agent's queue is named after its host)."
)


class Host(models.Model):
    """A machine that runs `lvsweb-agent`: a director, a real server, or both in different clusters."""

    team = models.ForeignKey(
        "teams.Team",
        on_delete=models.PROTECT,
        related_name="hosts",
        help_text="The team that registered the machine; its operators may change, enroll and revoke it.",
    )
    hostname = models.CharField(
        max_length=253,
        unique=True,
        # New names only: hosts saved before this rule keep theirs (the migration checks nothing), but
        # changing such a host asks for a valid name.
        validators=[validate_hostname],
        error_messages={"unique": HOSTNAME_TAKEN},
        help_text="The host's name as operators know it (its FQDN is a good choice): letters, digits, "
        "hyphens and dots.",
    )
    management_address = models.GenericIPAddressField(
        help_text="Address the console and operators use to reach the host (not a VIP).",
    )
    other_addresses = models.CharField(
        max_length=1000,
        blank=True,
        default="",
        validators=[validate_address_list],
        help_text="Its other addresses, comma-separated: e.g. the address the directors reach it at as a real "
        "server when that is not its management address. Real servers of its team's clusters at any of its "
        "addresses are linked to it, so that it gets their TUN/DR recipe.",
    )
    description = models.TextField(
        blank=True,
    )
    agent_status = models.CharField(
        max_length=20,
        choices=AgentStatus.choices,
        default=AgentStatus.NEVER_ENROLLED,
    )
    agent_version = models.CharField(
        max_length=50,
        blank=True,
    )
    kernel_version = models.CharField(
        max_length=100,
        blank=True,
    )
    last_heartbeat_at = models.DateTimeField(
        null=True,
        blank=True,
    )
    vip_interface = models.CharField(
        max_length=15,
        default="lo",
        validators=[validate_interface_name],
        help_text="Director: the interface that holds the VIPs (lo answers ARP for them on Linux; use the "
        "client-facing interface, e.g. eth0, to make that explicit).",
    )
    uplinks = models.CharField(
        max_length=200,
        default="eth0",
        blank=True,
        validators=[validate_interface_list],
        help_text="Real server: its normal interfaces, comma-separated; TUN sets rp_filter 0 on them, "
        "DR sets arp_ignore/arp_announce.",
    )
    public_key = models.CharField(
        max_length=64,
        blank=True,
        help_text="The agent's Ed25519 public key (base64), set by enrollment.",
    )
    enrolled_at = models.DateTimeField(
        null=True,
        blank=True,
    )
    revoked_at = models.DateTimeField(
        null=True,
        blank=True,
    )
    document_serial = models.PositiveBigIntegerField(
        default=0,
        help_text="Serial of the last document issued to this host (agents refuse older ones).",
    )
    applied_serial = models.PositiveBigIntegerField(
        default=0,
        help_text="Serial the agent last reported as applied.",
    )
    drift = models.JSONField(
        default=list,
        blank=True,
        help_text="Operations the agent would run to repair the kernel, from its last heartbeat.",
    )
    facts = models.JSONField(
        default=dict,
        blank=True,
        help_text="What the agent reported of its kernel in its last heartbeat.",
    )
    created_at = models.DateTimeField(
        auto_now_add=True,
    )
    updated_at = models.DateTimeField(
        auto_now=True,
    )

    class Meta:
        ordering = ["hostname"]

    def __str__(self) -> str:
        return self.hostname

    def clean(self) -> None:
        # Stored in normal form, so that a real server's address finds the host by a plain text match.
        self.other_addresses = ", ".join(dict.fromkeys(address_list(self.other_addresses)))

    @property
    def queue(self) -> str:
        """The broker queue the host's agent consumes."""
        return f"lvsweb.host.{self.hostname}"

    @property
    def addresses(self) -> set[str]:
        """Every address the host declares (management and other), each in its normal form."""
        declared = set()
        for text in (self.management_address or "", *(self.other_addresses or "").split(",")):
            try:
                declared.add(str(ipaddress.ip_address(text.strip())))
            except ValueError:  # empty, or not validated yet: the valid ones count
                continue
        return declared

    @property
    def uplink_list(self) -> list[str]:
        """The uplink interfaces as a list."""
        return [name.strip() for name in self.uplinks.split(",") if name.strip()]


def sync_state(host: Host) -> SyncState:
    """In sync, drifted, offline, never enrolled or revoked, from what the console last heard.

    The one place every page takes a host's badge from. Enrollment leaves the agent "offline" until its first
    heartbeat; an agent that has not beaten since it enrolled is not known to be down, so it reads "waiting for
    first heartbeat" rather than a red "agent offline" right after a successful enrollment.
    """
    if host.revoked_at is not None:
        return SyncState.REVOKED
    if not host.public_key:
        return SyncState.NEVER_ENROLLED
    if host.agent_status != AgentStatus.ONLINE:
        enrolled, beat = host.enrolled_at, host.last_heartbeat_at
        if enrolled is not None and (beat is None or beat < enrolled):
            return SyncState.WAITING
        return SyncState.OFFLINE
    if host.facts.get("drift_error"):
        return SyncState.UNKNOWN
    return SyncState.DRIFTED if host.drift else SyncState.IN_SYNC


class ClusterHost(models.Model):
    """The role a host plays in one cluster (a machine may be a real server in several clusters)."""

    cluster = models.ForeignKey(
        "clusters.Cluster",
        on_delete=models.CASCADE,
        related_name="cluster_hosts",
    )
    host = models.ForeignKey(
        "clusters.Host",
        on_delete=models.PROTECT,
        related_name="cluster_roles",
    )
    role = models.CharField(
        max_length=20,
        choices=HostRole.choices,
    )
    vrrp_priority = models.PositiveSmallIntegerField(
        default=100,
        verbose_name="VRRP priority",
        validators=[MinValueValidator(DRAINED_PRIORITY + 1), MaxValueValidator(254)],
        help_text="Director: its priority in the cluster's VIP groups, 2–254; the highest holds the VIPs. "
        "(1 is what a drained director gets.)",
    )
    drained = models.BooleanField(
        default=False,
        help_text="Director: drained for maintenance; it holds the VIP groups only when no other director can.",
    )

    class Meta:
        ordering = ["cluster", "role", "host"]
        constraints = [
            models.UniqueConstraint(
                fields=["cluster", "host"],
                name="%(app_label)s_%(class)s_unique_host_per_cluster",
                violation_error_message="This host already has a role in this cluster.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.host} as {self.get_role_display()} in {self.cluster}"

    def validate_constraints(self, exclude=None):
        # clean() checks the same uniqueness with a message on the host field; the database constraint
        # remains as the guard against two concurrent saves.
        pass

    def clean(self) -> None:
        if not (self.cluster_id and self.host_id):
            return
        existing = ClusterHost.objects.filter(cluster_id=self.cluster_id, host_id=self.host_id).exclude(pk=self.pk)
        if existing.exists():
            raise ValidationError(
                {"host": f"{self.host} already has a role in cluster “{self.cluster}”; remove it first to change it."}
            )
        if self.role != HostRole.DIRECTOR:
            return
        problems = director_problems(self)
        if problems:
            raise ValidationError(problems)
        own_vips = VirtualService.objects.filter(cluster_id=self.cluster_id, address__isnull=False)
        clash = (
            VirtualService.objects.filter(
                address__in=own_vips.values("address"),
                cluster__cluster_hosts__role=HostRole.DIRECTOR,
                cluster__cluster_hosts__host_id=self.host_id,
            )
            .exclude(cluster_id=self.cluster_id)
            .select_related("cluster")
            .first()
        )
        if clash is not None:
            raise ValidationError(
                {
                    "host": f"{self.host} already directs cluster “{clash.cluster}”, which uses VIP "
                    f"{clash.address} too; a director can hold a VIP for one cluster only."
                }
            )
