"""History tiers: raw windows roll up into minutes and hours; each tier is pruned after its time."""

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from tests.factories import make_host, make_real_server
from traffic.actions import prune_history, roll_up
from traffic.models import Sample, Series

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)


@pytest.fixture
def rs_series():
    real_server = make_real_server()
    service = real_server.virtual_service
    return Series.objects.create(
        host=make_host(),
        cluster=service.cluster,
        virtual_service=service,
        real_server=real_server,
        updated_at=timezone.now(),
    )


def raw(series, at, cps, active=0):
    return Sample(series=series, resolution=1, at=at, span=2.0, cps=cps, in_bps=1000 * cps, active=active)


def test_raw_windows_become_minute_then_hour_means_with_idle_time_counted_as_zero(rs_series):
    # minute 0: busy all minute at 10 conn/s; minute 1: busy for 20 s only (idle windows are not stored)
    samples = [raw(rs_series, T0 + timedelta(seconds=s), 10.0, active=4) for s in range(2, 61, 2)]
    samples += [raw(rs_series, T0 + timedelta(seconds=60 + s), 30.0) for s in range(2, 21, 2)]
    Sample.objects.bulk_create(samples)

    made = roll_up(now=T0 + timedelta(hours=1, minutes=1))

    minutes = dict(Sample.objects.filter(resolution=60).values_list("at", "cps"))
    assert minutes[T0] == pytest.approx(10.0 * 29 / 30)  # the sample stamped 10:01:00 ends in the next minute
    assert minutes[T0 + timedelta(minutes=1)] == pytest.approx((10.0 * 2 + 30.0 * 20) / 60)
    hour = Sample.objects.get(resolution=3600)
    assert hour.at == T0
    assert hour.cps == pytest.approx((sum(minutes.values())) / 60)
    assert made == {"minute": 2, "hour": 1}
    assert roll_up(now=T0 + timedelta(hours=1, minutes=1)) == {"minute": 0, "hour": 0}


def test_each_tier_is_pruned_after_its_time(rs_series):
    now = T0 + timedelta(days=100)
    Sample.objects.bulk_create(
        [
            Sample(series=rs_series, resolution=1, at=now - timedelta(minutes=61)),
            Sample(series=rs_series, resolution=1, at=now - timedelta(minutes=59)),
            Sample(series=rs_series, resolution=60, at=now - timedelta(days=8)),
            Sample(series=rs_series, resolution=60, at=now - timedelta(days=6)),
            Sample(series=rs_series, resolution=3600, at=now - timedelta(days=91)),
            Sample(series=rs_series, resolution=3600, at=now - timedelta(days=89)),
        ]
    )

    assert prune_history(now=now) == {"raw": 1, "minute": 1, "hour": 1}
    assert Sample.objects.count() == 3
