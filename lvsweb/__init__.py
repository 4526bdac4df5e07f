"""lvsweb: a web console for Linux Virtual Server (IPVS) clusters."""

from lvsweb.celery import app as celery_app

__all__ = ["celery_app"]
