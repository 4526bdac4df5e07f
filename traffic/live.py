"""What the rest of the console asks of live traffic (e.g. the Plan page: who still has connections)."""

from datetime import timedelta

from django.conf import settings
from django.db.models import Sum
from django.utils import timezone

from traffic.models import Series


def fresh_cutoff():
    """Feeds that reported before this moment are stale."""
    return timezone.now() - timedelta(seconds=settings.TRAFFIC_STALE_AFTER)


def active_connections(real_server_ids) -> dict[int, tuple[int, int]]:
    """Real server id → (active, inactive) connections from the directors' latest reads, summed over the
    directors that hold it. A real server is absent when no director sent fresh figures for it.
    """
    rows = (
        Series.objects.filter(
            real_server_id__in=list(real_server_ids),
            present=True,
            host__traffic_feed__last_batch_at__gte=fresh_cutoff(),
        )
        .values("real_server_id")
        .annotate(active_sum=Sum("active"), inactive_sum=Sum("inactive"))
    )
    return {row["real_server_id"]: (row["active_sum"], row["inactive_sum"]) for row in rows}
