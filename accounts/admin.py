"""Admin for API tokens: read-only; tokens are created by `manage.py create_api_token`."""

from django.contrib import admin

from accounts.models import ApiToken


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Tokens can be inspected, not edited: the key hash must never change."""

    list_display = ["name", "user", "key_prefix", "read_only", "created_at", "expires_at", "last_used_at"]
    list_filter = ["read_only"]
    search_fields = ["name", "user__username", "key_prefix"]
    readonly_fields = [f.name for f in ApiToken._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
