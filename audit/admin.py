"""Audit entries in the admin: readable, never writable (the history is append-only)."""

from django.contrib import admin

from audit.models import AuditEntry
from lvsweb.admin import ReadOnlyAdmin


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnlyAdmin):
    """No add, change or delete; the list is filterable like the console's audit pages."""

    list_display = ["id", "occurred_at", "actor_name", "action", "object_repr", "result", "source_address"]
    list_filter = ["actor_type", "result", "object_type"]
    search_fields = ["actor_name", "action", "object_repr", "request_id", "message"]
    date_hierarchy = "occurred_at"
