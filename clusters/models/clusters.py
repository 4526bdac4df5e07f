"""A cluster: the directors and real servers that serve a set of virtual services together."""

import ipaddress

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.urls import reverse

from clusters.choices import HostRole

#: Slugs that name console pages under /clusters/ and so cannot name a cluster there.
RESERVED_SLUGS = frozenset({"new"})
#: What a cluster records, in the order the form and the API list them: the one list (the sync settings are the
#: connection sync of director high availability, docs/ha.md).
CLUSTER_FIELDS = (
    "team",
    "name",
    "slug",
    "description",
    "drain_timeout",
    "sync_id",
    "sync_port",
    "sync_mcast_group",
    "sync_ttl",
)
#: A slug is in every URL of its cluster, so it is unique across the console. The refusal reads the same whoever
#: holds the slug, so that it does not tell one team that another team has a cluster, and whose it is.
SLUG_TAKEN = "This slug is already in use in the console (slugs are unique across all teams); choose another."


class Cluster(models.Model):
    """A load-balancer cluster; it belongs to exactly one team, whose roles decide who may see and change it."""

    team = models.ForeignKey(
        "teams.Team",
        on_delete=models.PROTECT,
        related_name="clusters",
        help_text="The team whose members may see and change this cluster.",
    )
    name = models.CharField(
        max_length=100,
        help_text="A name operators recognise, e.g. “web-frontend (Frankfurt)”; unique within its team.",
    )
    slug = models.SlugField(
        max_length=100,
        unique=True,
        error_messages={"unique": SLUG_TAKEN},
        help_text="Short identifier used in URLs and on the agents, e.g. “web-fra”.",
    )
    description = models.TextField(
        blank=True,
    )
    drain_timeout = models.PositiveIntegerField(
        default=300,
        help_text="Seconds a removed real server keeps weight 0 for its open connections before the agents "
        "delete it (0 deletes at once).",
    )
    sync_id = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        verbose_name="connection sync id",
        validators=[MaxValueValidator(255)],
        help_text="Directors with VIP groups: the IPVS sync daemon's syncid (0–255), unique among the clusters of "
        "one network segment; the active director sends its connection table, the others receive it, so open "
        "connections survive a failover. Empty: no connection sync.",
    )
    sync_port = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(65535)],
        help_text="UDP port of the sync messages; empty: the kernel's 8848.",
    )
    sync_mcast_group = models.GenericIPAddressField(
        null=True,
        blank=True,
        verbose_name="sync multicast group",
        help_text="Multicast group of the sync messages; empty: the kernel's 224.0.0.81.",
    )
    sync_ttl = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        verbose_name="sync TTL",
        validators=[MinValueValidator(1), MaxValueValidator(255)],
        help_text="TTL of the sync messages (1–255); empty: the kernel's 1 (one segment).",
    )
    created_at = models.DateTimeField(
        auto_now_add=True,
    )
    updated_at = models.DateTimeField(
        auto_now=True,
    )

    class Meta:
        ordering = ["name"]
        constraints = [
            # Names are per team: two teams may both call a cluster “web”, and neither learns of the other's.
            models.UniqueConstraint(
                fields=["team", "name"],
                name="%(app_label)s_%(class)s_unique_name_per_team",
                violation_error_message="This team already has a cluster with this name; choose another.",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("cluster-detail", kwargs={"slug": self.slug})

    def clean(self) -> None:
        if self.slug in RESERVED_SLUGS:
            raise ValidationError({"slug": f"“{self.slug}” is the address of a console page; choose another slug."})
        if self.team_id and Cluster.objects.filter(team_id=self.team_id, name=self.name).exclude(pk=self.pk).exists():
            # The constraint says so too, but on no field; here the message goes next to the name.
            raise ValidationError({"name": "This team already has a cluster with this name; choose another."})
        if self.sync_mcast_group and not ipaddress.ip_address(self.sync_mcast_group).is_multicast:
            raise ValidationError({"sync_mcast_group": f"{self.sync_mcast_group} is not a multicast address."})
        if self.sync_id is None and (self.sync_port or self.sync_mcast_group or self.sync_ttl):
            raise ValidationError({"sync_id": "Port, group and TTL of connection sync need a sync id."})
        if self.pk and self.sync_id is not None:
            # A director runs one sync daemon: the clusters it directs share its settings.
            directors = self.cluster_hosts.filter(role=HostRole.DIRECTOR).values("host_id")
            other = (
                Cluster.objects.exclude(pk=self.pk)
                .filter(cluster_hosts__role=HostRole.DIRECTOR, cluster_hosts__host_id__in=directors)
                .filter(sync_id__isnull=False)
                .exclude(sync_id=self.sync_id)
                .first()
            )
            if other is not None:
                raise ValidationError(
                    {
                        "sync_id": f"Cluster “{other}” shares a director with this one and syncs with id "
                        f"{other.sync_id}: a director runs one sync daemon, so use the same id (or none)."
                    }
                )
