"""Audit entries: append-only rows, each carrying the hash of the one before it."""

from django.core.exceptions import PermissionDenied
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models

from audit import verify
from audit.choices import ActorType, Result

#: The fields that make up an entry's hash, in a fixed order (audit/verify.py, which auditors run too).
HASHED_FIELDS = verify.HASHED_FIELDS


class AppendOnlyQuerySet(models.QuerySet):
    """Bulk updates and deletes of audit entries are refused."""

    def update(self, **kwargs):
        raise PermissionDenied("Audit entries cannot be changed.")

    def delete(self):
        raise PermissionDenied("Audit entries cannot be deleted.")


class AuditEntry(models.Model):
    """One thing that happened: who, when, from where, to what, the field-level change and the result.

    Actor and object are stored as plain values (ids, names), not foreign keys, so that deleting a user or a
    cluster never rewrites history.
    """

    occurred_at = models.DateTimeField(
        db_index=True,
    )
    actor_type = models.CharField(
        max_length=10,
        choices=ActorType.choices,
    )
    actor_user_id = models.BigIntegerField(
        null=True,
        blank=True,
        db_index=True,
    )
    actor_name = models.CharField(
        max_length=255,
        help_text="User name, agent host name, or “system”, as it was at the time.",
    )
    source_address = models.GenericIPAddressField(
        null=True,
        blank=True,
    )
    user_agent = models.CharField(
        max_length=300,
        blank=True,
    )
    request_id = models.CharField(
        max_length=64,
        blank=True,
        db_index=True,
    )
    action = models.CharField(
        max_length=64,
        db_index=True,
        help_text="What was done, e.g. “virtual_service.update” or “auth.login_failed”.",
    )
    object_type = models.CharField(
        max_length=100,
        blank=True,
        db_index=True,
    )
    object_id = models.CharField(
        max_length=64,
        blank=True,
    )
    object_repr = models.CharField(
        max_length=255,
        blank=True,
    )
    team_id = models.BigIntegerField(
        null=True,
        blank=True,
        db_index=True,
    )
    cluster_id = models.BigIntegerField(
        null=True,
        blank=True,
        db_index=True,
    )
    changes = models.JSONField(
        default=dict,
        blank=True,
        encoder=DjangoJSONEncoder,
        help_text="{field: [before, after]}; secrets never appear here.",
    )
    result = models.CharField(
        max_length=10,
        choices=Result.choices,
        default=Result.SUCCESS,
    )
    message = models.TextField(
        blank=True,
    )
    prev_hash = models.CharField(
        max_length=64,
    )
    hash = models.CharField(
        max_length=64,
        unique=True,
    )
    mac = models.CharField(
        max_length=64,
        blank=True,
        help_text="HMAC-SHA256 of the hash with a key outside the database; empty before the keyed chain.",
    )
    key_id = models.CharField(
        max_length=16,
        blank=True,
        help_text="Which HMAC key made the mac (a digest of it).",
    )

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        ordering = ["-id"]
        verbose_name_plural = "audit entries"
        indexes = [models.Index(fields=["object_type", "object_id"], name="audit_entry_object_idx")]

    def __str__(self) -> str:
        return f"#{self.pk} {self.occurred_at:%Y-%m-%d %H:%M:%S} {self.actor_name} {self.action} {self.object_repr}"

    def save(self, *args, **kwargs):
        if self.pk is not None and not self._state.adding:
            raise PermissionDenied("Audit entries cannot be changed.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise PermissionDenied("Audit entries cannot be deleted.")

    def compute_hash(self) -> str:
        """SHA-256 over the entry's fields and the previous entry's hash, in canonical JSON.

        The row id is left out: the chain (each row naming its predecessor's hash, in id order) already
        makes a removed, inserted or reordered row visible.
        """
        return verify.entry_hash({name: getattr(self, name) for name in HASHED_FIELDS}, DjangoJSONEncoder)

    def chain_document(self) -> dict:
        """The entry as exports and streams give it: every field needed to verify it with audit/verify.py."""
        document = {name: getattr(self, name) for name in verify.CHAIN_FIELDS}
        document["id"] = self.pk
        document["occurred_at"] = verify.canonical_time(self.occurred_at)
        return document


class AuditCheckpoint(models.Model):
    """A copy of a signed checkpoint line, for the audit page and the streams (audit/anchors.py).

    The line that counts is the one in the checkpoint file outside the database; this row is not trusted.
    """

    entry_id = models.BigIntegerField()
    hash = models.CharField(max_length=64)
    created_at = models.DateTimeField()
    line = models.TextField(help_text="The signed checkpoint, as written to the checkpoint file.")

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"checkpoint of entry #{self.entry_id} at {self.created_at:%Y-%m-%d %H:%M:%S}"


class AuditSink(models.Model):
    """How far an audit stream (syslog, file) has been delivered: its cursor, advanced after each send."""

    name = models.CharField(max_length=20, unique=True)
    target = models.CharField(max_length=500, blank=True)
    last_entry_id = models.BigIntegerField(default=0)
    last_checkpoint_id = models.BigIntegerField(default=0)
    delivered_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"audit stream {self.name} → {self.target}"


class AuditVerification(models.Model):
    """The result of the last full verification (periodic task or verify_audit), shown on the audit page."""

    checked_at = models.DateTimeField()
    ok = models.BooleanField()
    summary = models.TextField()
    details = models.TextField(blank=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return self.summary
