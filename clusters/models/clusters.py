"""A cluster: the directors and real servers that serve a set of virtual services together."""

from django.core.exceptions import ValidationError
from django.db import models
from django.urls import reverse

#: Slugs that name console pages under /clusters/ and so cannot name a cluster there.
RESERVED_SLUGS = frozenset({"new"})


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
        unique=True,
        help_text="A name operators recognise, e.g. “web-frontend (Frankfurt)”.",
    )
    slug = models.SlugField(
        max_length=100,
        unique=True,
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
    created_at = models.DateTimeField(
        auto_now_add=True,
    )
    updated_at = models.DateTimeField(
        auto_now=True,
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("cluster-detail", kwargs={"slug": self.slug})

    def clean(self) -> None:
        if self.slug in RESERVED_SLUGS:
            raise ValidationError({"slug": f"“{self.slug}” is the address of a console page; choose another slug."})
