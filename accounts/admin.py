"""Admin for API tokens: read-only; tokens are created by `manage.py create_api_token` or the token pages.

Deleting a token in the admin would erase it without an audit entry; superusers revoke instead (an admin action
that goes through `revoke_api_token`, so the revocation is recorded like one made on the token pages).
"""

from django.contrib import admin, messages

from accounts.actions import revoke_api_token
from accounts.models import ApiToken
from audit.admin import ReadOnlyAdmin


@admin.register(ApiToken)
class ApiTokenAdmin(ReadOnlyAdmin):
    """Tokens can be inspected and revoked, not edited or deleted: the key hash must never change."""

    list_display = ["name", "user", "key_prefix", "read_only", "created_at", "expires_at", "last_used_at", "revoked_at"]
    list_filter = ["read_only"]
    search_fields = ["name", "user__username", "key_prefix"]
    actions = ["revoke"]

    @admin.action(description="Revoke the selected tokens (recorded in the audit history)")
    def revoke(self, request, queryset) -> None:
        revoked = 0
        for token in queryset.filter(revoked_at__isnull=True):
            revoke_api_token(acting_user=request.user, token=token)
            revoked += 1
        self.message_user(request, f"{revoked} token(s) revoked.", messages.SUCCESS)
