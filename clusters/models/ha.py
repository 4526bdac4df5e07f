"""Director high availability: VIP groups that keepalived's VRRP moves between a cluster's directors (docs/ha.md).

A VIP group is one VRRP instance: the VIPs of its virtual services move together to whichever director wins the
election. The directors that take part are the cluster's directors; each has a VRRP priority (ClusterHost). A
virtual service in no group is held by every director at once, as before high availability.
"""

import re

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models

from clusters.choices import HostRole
from clusters.models.ha_checks import vip_group_problems, vrrp_interface

#: keepalived's instance names as the agent's document allows them (HA-INTERFACE.md).
INSTANCE_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,32}$")
#: VRRP "PASS" authentication carries at most 8 characters, in clear text (RFC 2338; keepalived truncates).
#: Printable ASCII without what would break keepalived's configuration file (#, !, quotes, braces, backslash).
AUTH_PASS = re.compile(r'^(?![^#!"{}\\]*[#!"{}\\])[\x21-\x7e]{1,8}$')

#: What a VIP group records, in the order the form, the API and the inventory snapshot list them: the one list.
VIP_GROUP_FIELDS = (
    "name",
    "vrid",
    "advert_int",
    "preempt",
    "preempt_delay",
    "unicast",
    "auth_pass",
    "track_agent",
)


class VipGroup(models.Model):
    """VIPs that fail over together between a cluster's directors: one keepalived VRRP instance."""

    cluster = models.ForeignKey(
        "clusters.Cluster",
        on_delete=models.CASCADE,
        related_name="vip_groups",
    )
    name = models.CharField(
        max_length=32,
        validators=[
            RegexValidator(INSTANCE_NAME, "Use 1–32 letters, digits, “_”, “.” or “-” (keepalived's instance name).")
        ],
        help_text="e.g. “web”; the keepalived instance name (prefixed with the cluster slug on a director "
        "shared with another cluster).",
    )
    vrid = models.PositiveSmallIntegerField(
        verbose_name="VRID",
        validators=[MinValueValidator(1), MaxValueValidator(255)],
        help_text="VRRP virtual router id, 1–255: unique among the VRRP instances of one network segment.",
    )
    advert_int = models.FloatField(
        default=1.0,
        verbose_name="advertisement interval",
        validators=[MinValueValidator(0.01), MaxValueValidator(255)],
        help_text="Seconds between VRRP adverts (0.01–255). A backup takes over after about 3 missed adverts.",
    )
    preempt = models.BooleanField(
        default=True,
        help_text="A returning director with a higher priority takes the VIPs back. Off: the VIPs stay where "
        "they went (one move per failure, not two).",
    )
    preempt_delay = models.PositiveSmallIntegerField(
        default=0,
        validators=[MaxValueValidator(1000)],
        help_text="Seconds a returning director waits before it takes the VIPs back (0–1000; with preemption).",
    )
    unicast = models.BooleanField(
        default=False,
        verbose_name="unicast VRRP",
        help_text="Send adverts to the other directors' management addresses instead of multicast: for "
        "directors in different networks, or networks that drop multicast.",
    )
    auth_pass = models.CharField(
        max_length=8,
        blank=True,
        verbose_name="VRRP password",
        validators=[
            RegexValidator(
                AUTH_PASS, "At most 8 printable ASCII characters, without spaces, #, !, quotes, braces or \\."
            )
        ],
        help_text="Optional, at most 8 characters. Weak: VRRP carries it in clear text; it only keeps "
        "misconfigured neighbours out, not attackers. Stored as keepalived needs it.",
    )
    track_agent = models.BooleanField(
        default=True,
        help_text="A director gives up the VIPs when its agent finds its kernel drifted or its uplink down, or "
        "when the agent has stopped.",
    )
    created_at = models.DateTimeField(
        auto_now_add=True,
    )
    updated_at = models.DateTimeField(
        auto_now=True,
    )

    class Meta:
        ordering = ["cluster", "name"]
        verbose_name = "VIP group"
        constraints = [
            models.UniqueConstraint(
                fields=["cluster", "name"],
                name="%(app_label)s_%(class)s_unique_name_per_cluster",
                violation_error_message="This cluster already has a VIP group with this name.",
            ),
            models.UniqueConstraint(
                fields=["cluster", "vrid"],
                name="%(app_label)s_%(class)s_unique_vrid_per_cluster",
                violation_error_message="This cluster already has a VIP group with this VRID.",
            ),
            models.CheckConstraint(
                condition=models.Q(vrid__gte=1, vrid__lte=255),
                name="%(app_label)s_%(class)s_vrid_range",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def validate_constraints(self, exclude=None):
        # clean() checks the same uniqueness with messages on the fields; the constraints guard concurrent saves.
        pass

    def clean(self) -> None:
        errors = vip_group_problems(self)
        if errors:
            raise ValidationError(errors)

    @property
    def directors(self) -> models.QuerySet:
        """The cluster's director roles, which take part in this group's election."""
        return self.cluster.cluster_hosts.filter(role=HostRole.DIRECTOR).select_related("host")


__all__ = ["VIP_GROUP_FIELDS", "VipGroup", "vrrp_interface"]
