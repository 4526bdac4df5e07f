"""API representations of teams (read-only: members are managed on the team pages)."""

from rest_framework import serializers

from teams.models import Membership, Team


class MemberSerializer(serializers.ModelSerializer):
    """A member of a team and their role."""

    username = serializers.CharField(source="user.username", read_only=True)

    class Meta:
        model = Membership
        fields = ["username", "role", "created_at"]


class TeamSerializer(serializers.ModelSerializer):
    """A team with its members, and the requesting user's own role in it."""

    members = MemberSerializer(source="memberships", many=True, read_only=True)
    my_role = serializers.SerializerMethodField()
    cluster_count = serializers.IntegerField(read_only=True)

    class Meta:
        model = Team
        fields = ["id", "name", "slug", "my_role", "cluster_count", "members", "created_at"]

    def get_my_role(self, team) -> str | None:
        from teams import policy

        role = policy.role_in(self.context["request"].user, team)
        return role.value if role else None
