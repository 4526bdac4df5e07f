"""Revisions: what a cluster looked like when it was applied, numbered and never changed."""

from django.db import models


class Revision(models.Model):
    """An applied state of a cluster's inventory (the snapshot the host documents were compiled from)."""

    cluster = models.ForeignKey(
        "clusters.Cluster",
        on_delete=models.CASCADE,
        related_name="revisions",
    )
    number = models.PositiveIntegerField()
    inventory = models.JSONField(
        help_text="The cluster's inventory as applied (see dispatch.compiler.inventory_snapshot).",
    )
    created_by_name = models.CharField(
        max_length=150,
        blank=True,
    )
    created_at = models.DateTimeField(
        auto_now_add=True,
    )

    class Meta:
        ordering = ["cluster", "-number"]
        constraints = [
            models.UniqueConstraint(
                fields=["cluster", "number"],
                name="%(app_label)s_%(class)s_unique_number",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.cluster} revision {self.number}"
