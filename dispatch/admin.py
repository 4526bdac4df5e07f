"""Dispatch records in the admin: read-only (they are written by the dispatch actions)."""

from django.contrib import admin

from audit.admin import ReadOnlyAdmin
from dispatch.models import BrokerAccount, Deployment, EnrollmentToken, Revision


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


@admin.register(BrokerAccount)
class BrokerAccountAdmin(ReadOnlyAdmin):
    """Agents' Redis users (the password's SHA-256 only)."""

    list_display = ["username", "host", "rotated_at"]
    list_select_related = ["host"]
