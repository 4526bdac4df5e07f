"""Teams, their members' roles, and invitations to join them."""

import hashlib
import secrets

from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils import timezone

from teams.choices import TeamRole


def hash_invitation_token(token: str) -> str:
    """SHA-256 of an invitation token; tokens are 256-bit random, so a fast hash is enough."""
    return hashlib.sha256(token.encode()).hexdigest()


class Team(models.Model):
    """A group of people who share clusters; every cluster belongs to exactly one team."""

    name = models.CharField(
        max_length=100,
        unique=True,
        help_text="e.g. “Web platform”.",
    )
    slug = models.SlugField(
        max_length=100,
        unique=True,
        help_text="Short identifier used in URLs and the API, e.g. “web”.",
    )
    created_at = models.DateTimeField(
        auto_now_add=True,
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("team-detail", kwargs={"slug": self.slug})


class Membership(models.Model):
    """A user's role in a team."""

    team = models.ForeignKey(
        "teams.Team",
        on_delete=models.CASCADE,
        related_name="memberships",
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="memberships",
    )
    role = models.CharField(
        max_length=10,
        choices=TeamRole.choices,
        default=TeamRole.VIEWER,
    )
    created_at = models.DateTimeField(
        auto_now_add=True,
    )

    class Meta:
        ordering = ["team", "user__username"]
        constraints = [
            models.UniqueConstraint(
                fields=["team", "user"],
                name="%(app_label)s_%(class)s_unique_user_per_team",
                violation_error_message="This user is already a member of this team.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} as {self.role} of {self.team}"


class InvitationQuerySet(models.QuerySet):
    """Lookups of invitations."""

    def pending(self):
        """Invitations that are neither accepted nor expired."""
        return self.filter(accepted_at__isnull=True, expires_at__gt=timezone.now())


class Invitation(models.Model):
    """A one-time, expiring link that makes whoever opens it a member of a team with a given role.

    Only a hash of the token is stored: the link is shown (and e-mailed) once, when the invitation is made.
    """

    team = models.ForeignKey(
        "teams.Team",
        on_delete=models.CASCADE,
        related_name="invitations",
    )
    email = models.EmailField(
        help_text="Where the invitation link is sent.",
    )
    role = models.CharField(
        max_length=10,
        choices=TeamRole.choices,
        default=TeamRole.VIEWER,
    )
    token_hash = models.CharField(
        max_length=64,
        unique=True,
    )
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(
        null=True,
        blank=True,
    )
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(
        auto_now_add=True,
    )

    objects = InvitationQuerySet.as_manager()

    class Meta:
        ordering = ["team", "-created_at"]

    def __str__(self) -> str:
        return f"{self.email} invited to {self.team} as {self.role}"

    @staticmethod
    def generate_token() -> str:
        """A new random invitation token (256 bits, URL-safe)."""
        return secrets.token_urlsafe(32)

    @property
    def is_pending(self) -> bool:
        """True while the invitation can still be accepted."""
        return self.accepted_at is None and self.expires_at > timezone.now()
