"""API representation of personal API tokens (never the key: it is shown once, in the console)."""

from rest_framework import serializers

from accounts.models import ApiToken


class ApiTokenSerializer(serializers.ModelSerializer):
    """A token's name, scope, dates and the first characters of its key."""

    class Meta:
        model = ApiToken
        fields = ["id", "name", "key_prefix", "read_only", "created_at", "expires_at", "last_used_at", "revoked_at"]
        read_only_fields = fields
