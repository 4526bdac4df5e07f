"""Admin of teams (superusers only, like the whole admin).

Teams and invitations are read-only here; members may be added and removed, which lets an administrator put a
user they created into a team. Both go through `teams.actions`, so the last-owner rule holds here too. Roles
change and clusters move on the team pages.
"""

from django.contrib import admin

from audit.admin import ReadOnlyAdmin
from teams import actions
from teams.models import Invitation, Membership, Team


@admin.register(Team)
class TeamAdmin(ReadOnlyAdmin):
    """Teams (created on the Teams page)."""

    list_display = ["name", "slug", "created_at"]
    search_fields = ["name", "slug"]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    """Who is in which team, with which role; add and remove members here."""

    list_display = ["team", "user", "role", "created_at"]
    list_filter = ["role", "team"]
    list_select_related = ["team", "user"]
    search_fields = ["user__username", "team__name"]
    autocomplete_fields = ["user"]
    actions = None  # no bulk delete: each removal is checked on its own

    def has_change_permission(self, request, obj=None) -> bool:
        return obj is None  # the add form only; roles change on the team page

    def has_delete_permission(self, request, obj=None) -> bool:
        # The last owner of a team cannot be removed: the admin offers no delete for them at all.
        return obj is None or not actions.is_last_owner(obj)

    def save_model(self, request, obj, form, change):
        actions.add_member(acting_user=request.user, team=obj.team, user=obj.user, role=obj.role)

    def delete_model(self, request, obj):
        actions.remove_member(acting_user=request.user, membership=obj)


@admin.register(Invitation)
class InvitationAdmin(ReadOnlyAdmin):
    """Invitations (the token itself is never stored)."""

    list_display = ["email", "team", "role", "expires_at", "accepted_at", "invited_by"]
    list_filter = ["role", "team"]
    exclude = ["token_hash"]
