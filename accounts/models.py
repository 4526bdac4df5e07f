"""Personal API tokens, stored hashed: the key is shown once, at creation."""

import hashlib
import secrets

from django.conf import settings
from django.db import models
from django.utils import timezone

TOKEN_PREFIX = "lvs_"  # noqa: S105 (a public prefix, not a secret)


def hash_token(key: str) -> str:
    """SHA-256 of a token key; keys are 256-bit random, so a fast hash is enough (no dictionary to guess)."""
    return hashlib.sha256(key.encode()).hexdigest()


class ApiTokenQuerySet(models.QuerySet):
    """Lookups of tokens by their secret key."""

    def usable(self):
        """Tokens that are neither revoked nor expired."""
        now = timezone.now()
        return self.filter(revoked_at__isnull=True).filter(
            models.Q(expires_at__isnull=True) | models.Q(expires_at__gt=now)
        )


class ApiToken(models.Model):
    """A personal API token of a user; never more rights than its user."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="api_tokens",
    )
    name = models.CharField(
        max_length=100,
        help_text="What the token is for, e.g. “terraform on ci-01”.",
    )
    key_prefix = models.CharField(
        max_length=12,
        help_text="The first characters of the key, to recognise it in lists.",
    )
    key_hash = models.CharField(
        max_length=64,
        unique=True,
    )
    read_only = models.BooleanField(
        default=False,
    )
    created_at = models.DateTimeField(
        auto_now_add=True,
    )
    expires_at = models.DateTimeField(
        null=True,
        blank=True,
    )
    last_used_at = models.DateTimeField(
        null=True,
        blank=True,
    )
    revoked_at = models.DateTimeField(
        null=True,
        blank=True,
    )

    objects = ApiTokenQuerySet.as_manager()

    class Meta:
        ordering = ["user", "name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.key_prefix}…)"

    @staticmethod
    def generate_key() -> str:
        """A new random key: `lvs_` and 43 URL-safe characters (256 bits)."""
        return TOKEN_PREFIX + secrets.token_urlsafe(32)
