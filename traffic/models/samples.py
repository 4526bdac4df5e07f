"""History: one Sample per series and time bucket, in three resolutions (docs/traffic.md, "History")."""

from django.db import models

from traffic.choices import Resolution


class Sample(models.Model):
    """Live connections (mean over the bucket) and rates (mean per second) of one series over one bucket."""

    series = models.ForeignKey(
        "traffic.Series",
        on_delete=models.CASCADE,
        related_name="samples",
        db_index=False,  # the unique (series, resolution, at) index serves lookups by series
    )
    resolution = models.PositiveSmallIntegerField(
        choices=Resolution.choices,
    )
    at = models.DateTimeField(
        help_text="Start of the bucket (raw samples: the end of their rate window).",
    )
    span = models.FloatField(
        default=0.0,
        help_text="Seconds the figures cover: the rate window of a raw sample, the bucket of a coarser one.",
    )
    active = models.PositiveIntegerField(default=0)
    inactive = models.PositiveIntegerField(default=0)
    cps = models.FloatField(default=0.0)
    in_pps = models.FloatField(default=0.0)
    out_pps = models.FloatField(default=0.0)
    in_bps = models.FloatField(default=0.0)
    out_bps = models.FloatField(default=0.0)

    class Meta:
        ordering = ["series_id", "resolution", "at"]
        constraints = [
            models.UniqueConstraint(
                fields=["series", "resolution", "at"],
                name="%(app_label)s_%(class)s_unique_bucket",
            ),
        ]
        indexes = [
            models.Index(fields=["resolution", "at"], name="traffic_sample_tier_at"),
        ]

    def __str__(self) -> str:
        return f"{self.series_id} @ {self.at:%Y-%m-%d %H:%M:%S} ({self.get_resolution_display()})"
