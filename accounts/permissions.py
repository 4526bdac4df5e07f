"""API permission checks that belong to tokens rather than to users."""

from rest_framework.permissions import SAFE_METHODS, BasePermission

from accounts.models import ApiToken


class TokenScope(BasePermission):
    """A read-only token may read but never write, whatever its user may do."""

    message = "This API token is read-only."

    def has_permission(self, request, view) -> bool:
        token = request.auth
        return not (isinstance(token, ApiToken) and token.read_only and request.method not in SAFE_METHODS)
