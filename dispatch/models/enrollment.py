"""One-time tokens that let a host's agent enroll itself."""

from django.db import models


class EnrollmentToken(models.Model):
    """A one-time, expiring secret for `lvsweb-agent enroll`; stored hashed, shown once."""

    host = models.ForeignKey(
        "clusters.Host",
        on_delete=models.CASCADE,
        related_name="enrollment_tokens",
    )
    token_hash = models.CharField(
        max_length=64,
        unique=True,
    )
    created_by_name = models.CharField(
        max_length=150,
        blank=True,
    )
    created_at = models.DateTimeField(
        auto_now_add=True,
    )
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(
        null=True,
        blank=True,
    )

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"enrollment token for {self.host}"
