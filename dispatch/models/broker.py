"""The Redis ACL user of an enrolled host's agent (dispatch/broker_acl.py)."""

from django.db import models


class BrokerAccount(models.Model):
    """An agent's own broker user: its name and the SHA-256 of its password, never the password itself.

    Redis takes `#<sha256>` in place of a password, so the console can re-create a user that a Redis restart
    forgot (`sync_broker_users`) although only the agent knows the password. The row goes with revocation
    and with the host; its Redis user goes with it (dispatch/signals.py).
    """

    host = models.OneToOneField(
        "clusters.Host",
        on_delete=models.CASCADE,
        related_name="broker_account",
    )
    username = models.CharField(
        max_length=300,
        unique=True,
    )
    password_sha256 = models.CharField(
        max_length=64,
    )
    rotated_at = models.DateTimeField(
        auto_now=True,
    )

    class Meta:
        ordering = ["username"]

    def __str__(self) -> str:
        return self.username
