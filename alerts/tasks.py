"""Celery tasks of alerts: the scan (beat, every few seconds) and one delivery, retried with back-off."""

from celery import shared_task

from alerts import delivery, grouping


@shared_task(name="lvsweb.alerts.scan", ignore_result=True)
def scan() -> tuple[int, int]:
    """Read new audit entries into alerts and send the alerts whose grouping window closed."""
    return grouping.scan()


@shared_task(bind=True, name="lvsweb.alerts.deliver", ignore_result=True, max_retries=None)
def deliver(self, delivery_id: int) -> str:
    """Send one delivery; a failure is retried after `delivery.backoff` seconds until the attempts run out."""
    outcome = delivery.attempt(int(delivery_id))
    if outcome.retry_in is not None:
        raise self.retry(countdown=outcome.retry_in)
    return outcome.status
