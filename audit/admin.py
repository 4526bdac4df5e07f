"""Audit entries in the admin: readable, never writable (the history is append-only)."""

from django.contrib import admin

from audit.models import AuditEntry


class ReadOnlyAdmin(admin.ModelAdmin):
    """Browse only: no add, change or delete (the rows are written by the actions layer alone).

    The one definition, for every app's admin: it lives in the lowest layer (audit) so that any app may use it.
    """

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in self.model._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnlyAdmin):
    """No add, change or delete; the list is filterable like the console's audit pages."""

    list_display = ["id", "occurred_at", "actor_name", "action", "object_repr", "result", "source_address"]
    list_filter = ["actor_type", "result", "object_type"]
    search_fields = ["actor_name", "action", "object_repr", "request_id", "message"]
    date_hierarchy = "occurred_at"
