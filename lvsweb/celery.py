"""The Celery application of the control plane (tasks run on the `control` queue)."""

import os

from celery import Celery, signals

from lvsweb.readiness import record_heartbeat

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "lvsweb.settings")

app = Celery("lvsweb")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


# Messages that pass the transport's screen (agents/lvsweb_agent/screen.py) but name no task of ours, or that Celery
# cannot take as a task, are rejected (dropped) by Celery itself: counted with the transport's drops.
@signals.task_unknown.connect
def _count_unknown_task(**kwargs) -> None:
    from dispatch.counters import count_dropped_message

    count_dropped_message("unknown_task")


@signals.task_rejected.connect
def _count_rejected_task(**kwargs) -> None:
    from dispatch.counters import count_dropped_message

    count_dropped_message("rejected")


@app.task(name="lvsweb.control.heartbeat", ignore_result=True)
def control_heartbeat() -> None:
    """Beat's proof that a control worker takes tasks: /readyz reads it (lvsweb/readiness.py)."""
    record_heartbeat()


@signals.worker_ready.connect
def _first_heartbeat(**kwargs) -> None:
    # At start, so a console is ready without waiting for beat's first run.
    record_heartbeat()
