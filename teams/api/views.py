"""Teams API: the teams a user belongs to, with their members."""

from django.db.models import Count, Prefetch
from rest_framework import viewsets

from teams import policy
from teams.api import serializers
from teams.models import Membership


class TeamViewSet(viewsets.ReadOnlyModelViewSet):
    """Teams the user belongs to (all teams for superusers), addressed by slug."""

    serializer_class = serializers.TeamSerializer
    lookup_field = "slug"
    search_fields = ["name", "slug"]
    ordering_fields = ["name", "slug", "created_at"]
    ordering = ["name"]
    filterset_fields = ["slug"]

    def get_queryset(self):
        return (
            policy.visible_teams(self.request.user)
            .annotate(cluster_count=Count("clusters", distinct=True))
            .prefetch_related(Prefetch("memberships", queryset=Membership.objects.select_related("user")))
        )
