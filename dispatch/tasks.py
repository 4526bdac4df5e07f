"""Control-plane Celery tasks (queue `control`): thin wrappers around the dispatch actions."""

from celery import shared_task

from dispatch import actions, partitions


@shared_task(bind=True, name="lvsweb.control.report", ignore_result=True)
def report(self, envelope) -> str:
    """An agent's signed report (docs/dispatch.md, "Reports"), or forwarded to its host's partition."""
    if (queue := partitions.forward(self, envelope)) is not None:
        return f"forwarded to {queue}"
    return actions.handle_report(envelope)


@shared_task(name="lvsweb.control.expire_deployments", ignore_result=True)
def expire_deployments() -> int:
    """Fail commands that no agent answered in time."""
    return actions.expire_deployments()


@shared_task(name="lvsweb.control.mark_offline_hosts", ignore_result=True)
def mark_offline_hosts() -> int:
    """Mark hosts whose agents missed three heartbeats as offline."""
    return actions.mark_offline_hosts()


@shared_task(name="lvsweb.control.sync_broker_users", ignore_result=True)
def sync_broker_users() -> tuple[list[str], list[str]]:
    """Re-create agents' Redis users that a broker restart forgot (docs/operating.md, "Securing the broker")."""
    return actions.sync_broker_users()
