"""Enumerations of the audit history."""

from django.db import models


class ActorType(models.TextChoices):
    """Who did it."""

    USER = "user", "user"
    AGENT = "agent", "agent host"
    SYSTEM = "system", "system"
    ANONYMOUS = "anonymous", "anonymous (not signed in)"


class Result(models.TextChoices):
    """How it ended."""

    SUCCESS = "success", "success"
    PARTIAL = "partial", "partly done"
    FAILURE = "failure", "failure"
    REFUSED = "refused", "refused"
