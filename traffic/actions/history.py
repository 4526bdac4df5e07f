"""History tiers: raw windows for an hour, 1-minute means for a week, 1-hour means for 90 days."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta

from django.db import transaction
from django.db.models import Max, Min
from django.utils import timezone

from traffic.choices import Resolution
from traffic.models import Sample
from traffic.rates import RATES, bucket_start, downsample

#: How long each tier is kept (docs/traffic.md, "History").
RETENTION = {
    Resolution.RAW: timedelta(hours=1),
    Resolution.MINUTE: timedelta(days=7),
    Resolution.HOUR: timedelta(days=90),
}
#: A bucket is rolled up once it ended this long ago (batches still in the queue land in it).
GRACE = timedelta(seconds=10)
VALUES = ("active", "inactive", *RATES)


def _from_stamp(stamp: float) -> datetime:
    return datetime.fromtimestamp(stamp, tz=UTC)


def _roll(source: Resolution, target: Resolution, now: datetime) -> int:
    """Make the `target` samples of every bucket that ended (plus GRACE) and has none yet."""
    done = Sample.objects.filter(resolution=target).aggregate(last=Max("at"))["last"]
    if done is not None:
        begin = done + timedelta(seconds=int(target))
    else:
        first = Sample.objects.filter(resolution=source).aggregate(first=Min("at"))["first"]
        if first is None:
            return 0
        begin = _from_stamp(bucket_start(first.timestamp(), int(target)))
    end = _from_stamp(bucket_start((now - GRACE).timestamp(), int(target)))
    if begin >= end:
        return 0
    points = defaultdict(list)
    rows = Sample.objects.filter(resolution=source, at__gte=begin, at__lt=end).values_list(
        "series_id", "at", "span", *VALUES
    )
    for series_id, at, span, *values in rows.iterator(chunk_size=5000):
        # A raw sample is stamped when its window closed, a minute at its start: both fall in the right hour.
        points[series_id].append((at.timestamp(), span, values))
    made = []
    for series_id, series_points in points.items():
        for bucket, means in downsample(series_points, int(target)).items():
            active, inactive, *rates = means
            made.append(
                Sample(
                    series_id=series_id,
                    resolution=target,
                    at=_from_stamp(bucket),
                    span=int(target),
                    active=round(active),
                    inactive=round(inactive),
                    **dict(zip(RATES, rates, strict=True)),
                )
            )
    Sample.objects.bulk_create(made, batch_size=5000, ignore_conflicts=True)
    return len(made)


@transaction.atomic
def roll_up(now: datetime | None = None) -> dict[str, int]:
    """Roll raw samples into minutes and minutes into hours; returns how many samples each tier gained."""
    now = now or timezone.now()
    return {
        "minute": _roll(Resolution.RAW, Resolution.MINUTE, now),
        "hour": _roll(Resolution.MINUTE, Resolution.HOUR, now),
    }


@transaction.atomic
def prune_history(now: datetime | None = None) -> dict[str, int]:
    """Delete samples older than their tier keeps them; returns how many went per tier."""
    now = now or timezone.now()
    deleted = {}
    for resolution, keep in RETENTION.items():
        count, _ = Sample.objects.filter(resolution=resolution, at__lt=now - keep).delete()
        deleted[Resolution(resolution).name.lower()] = count
    return deleted
