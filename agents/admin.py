"""Dispatch records in the admin: read-only (they are written by the dispatch actions)."""

from django.contrib import admin

from agents.models import Deployment, EnrollmentToken, Revision


class ReadOnlyAdmin(admin.ModelAdmin):
    """Browse only."""

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in self.model._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Revision)
class RevisionAdmin(ReadOnlyAdmin):
    """Applied revisions."""

    list_display = ["cluster", "number", "created_by_name", "created_at"]
    list_filter = ["cluster"]


@admin.register(Deployment)
class DeploymentAdmin(ReadOnlyAdmin):
    """Deployments to hosts."""

    list_display = ["id", "kind", "cluster", "host", "serial", "status", "created_at", "finished_at"]
    list_filter = ["kind", "status", "cluster"]
    list_select_related = ["cluster", "host"]


@admin.register(EnrollmentToken)
class EnrollmentTokenAdmin(ReadOnlyAdmin):
    """Enrollment tokens (hashes only)."""

    list_display = ["host", "created_by_name", "created_at", "expires_at", "used_at"]
