"""Control-plane Celery tasks of live traffic (queue `control`): thin wrappers around the actions."""

from celery import shared_task, signals

from dispatch import partitions
from traffic import actions


@shared_task(bind=True, name="lvsweb.control.traffic", ignore_result=True)
def traffic(self, envelope) -> str:
    """A director's signed traffic batch (docs/traffic.md), or forwarded to its host's partition."""
    if (queue := partitions.forward(self, envelope)) is not None:
        return f"forwarded to {queue}"
    return actions.handle_batch(envelope, queue=partitions.delivered_from(self.request))


@shared_task(name="lvsweb.control.traffic_history", ignore_result=True)
def traffic_history() -> dict:
    """Roll the history tiers up, then prune what they no longer keep (celery beat, every minute)."""
    return {**actions.roll_up(), **actions.prune_history()}


@signals.worker_shutdown.connect
@signals.worker_process_shutdown.connect
def store_live_traffic(**_) -> None:
    """A control worker stopping (solo pool: the worker; prefork: each child) stores the series rows that wait
    for their next store (settings.TRAFFIC_STORE_EVERY), so a restart loses none of them."""
    actions.store_pending()
