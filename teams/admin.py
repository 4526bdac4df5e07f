"""Read-only admin of teams (superusers only, like the whole admin): change them on the team pages."""

from django.contrib import admin

from teams.models import Invitation, Membership, Team


class ReadOnlyAdmin(admin.ModelAdmin):
    """Browse only: changes go through the team pages, where the actions keep the last-owner rule."""

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Team)
class TeamAdmin(ReadOnlyAdmin):
    """Teams."""

    list_display = ["name", "slug", "created_at"]
    search_fields = ["name", "slug"]


@admin.register(Membership)
class MembershipAdmin(ReadOnlyAdmin):
    """Who is in which team, with which role."""

    list_display = ["team", "user", "role", "created_at"]
    list_filter = ["role", "team"]
    list_select_related = ["team", "user"]
    search_fields = ["user__username", "team__name"]


@admin.register(Invitation)
class InvitationAdmin(ReadOnlyAdmin):
    """Invitations (the token itself is never stored)."""

    list_display = ["email", "team", "role", "expires_at", "accepted_at", "invited_by"]
    list_filter = ["role", "team"]
    exclude = ["token_hash"]
