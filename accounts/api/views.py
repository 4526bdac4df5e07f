"""API tokens over the API: list your own and revoke them. New tokens are made in the console (shown once)."""

from rest_framework import mixins, viewsets

from accounts.actions import revoke_api_token
from accounts.api.serializers import ApiTokenSerializer
from accounts.models import ApiToken


class ApiTokenViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin, viewsets.GenericViewSet
):
    """The requesting user's own API tokens; DELETE revokes one."""

    serializer_class = ApiTokenSerializer
    ordering = ["-created_at"]
    ordering_fields = ["name", "created_at", "expires_at", "last_used_at"]
    search_fields = ["name", "key_prefix"]
    filterset_fields = ["read_only"]

    queryset = ApiToken.objects.none()  # the schema generator's model; requests get their own tokens below

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return ApiToken.objects.none()
        return ApiToken.objects.filter(user=self.request.user)

    def perform_destroy(self, instance):
        revoke_api_token(acting_user=self.request.user, token=instance)
