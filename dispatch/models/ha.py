"""What each director's agent last said of its VRRP instances: who holds which VIP group (docs/ha.md)."""

from django.db import models

from dispatch.choices import VrrpState


class DirectorRole(models.Model):
    """One director's VRRP state in one VIP group, from its agent's `ha` reports and heartbeats."""

    host = models.ForeignKey(
        "clusters.Host",
        on_delete=models.CASCADE,
        related_name="director_roles",
    )
    cluster = models.ForeignKey(
        "clusters.Cluster",
        on_delete=models.CASCADE,
        related_name="director_roles",
    )
    vip_group = models.ForeignKey(
        "clusters.VipGroup",
        on_delete=models.CASCADE,
        related_name="director_roles",
    )
    instance = models.CharField(
        max_length=32,
        help_text="keepalived's instance name on the host (the group's name, or cluster-slug-group).",
    )
    state = models.CharField(
        max_length=10,
        choices=VrrpState.choices,
    )
    since = models.DateTimeField(
        help_text="When the director entered this state, by its own clock.",
    )
    cause = models.CharField(
        max_length=500,
        blank=True,
        help_text="Why, in keepalived's or the agent's words.",
    )
    reported_at = models.DateTimeField(
        auto_now=True,
    )

    class Meta:
        ordering = ["cluster", "vip_group", "host"]
        constraints = [
            models.UniqueConstraint(
                fields=["host", "vip_group"],
                name="%(app_label)s_%(class)s_unique_host_group",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.host} {self.get_state_display()} in VIP group {self.vip_group}"
