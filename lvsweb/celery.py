"""The Celery application of the control plane (tasks run on the `control` queue)."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "lvsweb.settings")

app = Celery("lvsweb")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
