"""Enumerations of live traffic."""

from django.db import models


class Resolution(models.IntegerChoices):
    """How much time one stored sample covers (docs/traffic.md, "History")."""

    RAW = 1, "raw (one rate window, about 2 s)"
    MINUTE = 60, "1 minute"
    HOUR = 3600, "1 hour"
