"""Control-plane Celery tasks of live traffic (queue `control`): thin wrappers around the actions."""

from celery import shared_task

from traffic import actions


@shared_task(name="lvsweb.control.traffic", ignore_result=True)
def traffic(envelope) -> str:
    """A director's signed traffic batch (docs/traffic.md)."""
    return actions.handle_batch(envelope)


@shared_task(name="lvsweb.control.traffic_history", ignore_result=True)
def traffic_history() -> dict:
    """Roll the history tiers up, then prune what they no longer keep (celery beat, every minute)."""
    return {**actions.roll_up(), **actions.prune_history()}
