"""The live state of every IPVS object a director reports: one Series per (director, service[, real server])."""

from django.db import models
from django.db.models import Q


class HostFeed(models.Model):
    """When a director's agent last sent traffic figures; a feed older than the stale limit is "stale"."""

    host = models.OneToOneField(
        "clusters.Host",
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="traffic_feed",
    )
    last_batch_at = models.DateTimeField(
        help_text="When the control plane received the last batch (the agent's own clock is not trusted).",
    )
    sampled_at = models.FloatField(
        default=0.0,
        help_text="The agent's clock (Unix seconds) at its last kernel read; rates use these differences.",
    )
    epoch = models.CharField(
        max_length=64,
        blank=True,
        help_text="Identifies one run of the agent's stats reader; a new epoch means counters may restart.",
    )
    seq = models.PositiveBigIntegerField(
        default=0,
        help_text="Sequence number of the last batch accepted in this epoch (older ones are ignored).",
    )
    interval = models.FloatField(
        default=1.0,
        help_text="Seconds between the agent's kernel reads.",
    )

    class Meta:
        ordering = ["host_id"]

    def __str__(self) -> str:
        return f"traffic feed of {self.host_id}"


class Series(models.Model):
    """Counters, live connections and rates of one virtual service (real_server empty) or real server on one
    director, as of its latest kernel read; the rate window's start ("anchor") is kept to compute the next rate.
    """

    host = models.ForeignKey(
        "clusters.Host",
        on_delete=models.CASCADE,
        related_name="traffic_series",
        help_text="The director whose kernel holds these counters.",
    )
    cluster = models.ForeignKey(
        "clusters.Cluster",
        on_delete=models.CASCADE,
        related_name="traffic_series",
    )
    virtual_service = models.ForeignKey(
        "clusters.VirtualService",
        on_delete=models.CASCADE,
        related_name="traffic_series",
    )
    real_server = models.ForeignKey(
        "clusters.RealServer",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="traffic_series",
        help_text="Empty for the virtual service's own totals.",
    )
    present = models.BooleanField(
        default=True,
        help_text="False when the director's kernel no longer holds the object.",
    )
    updated_at = models.DateTimeField(
        help_text="When this row last changed (the feed's last_batch_at says whether it is still fresh).",
    )
    active = models.PositiveIntegerField(default=0)
    inactive = models.PositiveIntegerField(default=0)
    # Cumulative kernel counters (modulo 2**63, see traffic/rates.py) at the latest read ...
    read_at = models.FloatField(default=0.0)
    conns = models.PositiveBigIntegerField(default=0)
    in_packets = models.PositiveBigIntegerField(default=0)
    out_packets = models.PositiveBigIntegerField(default=0)
    in_bytes = models.PositiveBigIntegerField(default=0)
    out_bytes = models.PositiveBigIntegerField(default=0)
    # ... and at the start of the current rate window.
    anchor_at = models.FloatField(default=0.0)
    anchor_conns = models.PositiveBigIntegerField(default=0)
    anchor_in_packets = models.PositiveBigIntegerField(default=0)
    anchor_out_packets = models.PositiveBigIntegerField(default=0)
    anchor_in_bytes = models.PositiveBigIntegerField(default=0)
    anchor_out_bytes = models.PositiveBigIntegerField(default=0)
    # Rates over the last complete window (per second).
    cps = models.FloatField(default=0.0)
    in_pps = models.FloatField(default=0.0)
    out_pps = models.FloatField(default=0.0)
    in_bps = models.FloatField(default=0.0)
    out_bps = models.FloatField(default=0.0)

    class Meta:
        ordering = ["host_id", "virtual_service_id", "real_server_id"]
        verbose_name_plural = "series"
        constraints = [
            models.UniqueConstraint(
                fields=["host", "virtual_service"],
                condition=Q(real_server__isnull=True),
                name="%(app_label)s_%(class)s_unique_service_per_host",
            ),
            models.UniqueConstraint(
                fields=["host", "real_server"],
                condition=Q(real_server__isnull=False),
                name="%(app_label)s_%(class)s_unique_real_server_per_host",
            ),
        ]

    def __str__(self) -> str:
        what = f"real server {self.real_server_id}" if self.real_server_id else "totals"
        return f"{what} of service {self.virtual_service_id} on host {self.host_id}"
