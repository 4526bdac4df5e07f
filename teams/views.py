"""Team pages: members and roles, invitations, cluster transfers.

Views parse input and call `teams.actions`, which ask the policy. A team the user does not belong to answers
404; a change their role does not allow answers 403 with the policy's reason.
"""

from typing import Any

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import ValidationError
from django.db.models import Count
from django.http import Http404, HttpRequest, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.utils.functional import cached_property
from django.views.generic import TemplateView, View

from teams import actions, policy
from teams.choices import TeamRole
from teams.forms import InviteForm, RoleForm, SignUpForm, TeamForm
from teams.models import Invitation, Membership, Team


def error_text(exc: ValidationError) -> str:
    """The messages of a ValidationError as one sentence list."""
    return " ".join(exc.messages)


class TeamListView(LoginRequiredMixin, TemplateView):
    """The user's teams with their role, members and clusters; superusers also create teams here."""

    template_name = "teams/team_list.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        user = self.request.user
        teams = policy.visible_teams(user).annotate(
            member_count=Count("memberships", distinct=True), cluster_count=Count("clusters", distinct=True)
        )
        context["teams"] = [(team, policy.role_in(user, team)) for team in teams]
        if policy.can(user, policy.CREATE_TEAM, None):
            context.setdefault("form", TeamForm())
        return context

    def post(self, request, *args, **kwargs):
        policy.require(request.user, policy.CREATE_TEAM, None)
        form = TeamForm(request.POST)
        if form.is_valid():
            team = actions.create_team(
                acting_user=request.user,
                name=form.cleaned_data["name"],
                slug=form.cleaned_data["slug"],
                owner=request.user,
            )
            messages.success(request, f"Team “{team}” created; you are its owner.")
            return redirect(team)
        return self.render_to_response(self.get_context_data(form=form), status=400)


class TeamMixin(LoginRequiredMixin):
    """Loads the team of the URL among the user's teams (404 for any other)."""

    # Set by the View this mixin is combined with.
    request: HttpRequest
    kwargs: Any

    @cached_property
    def team(self) -> Team:
        return get_object_or_404(policy.visible_teams(self.request.user), slug=self.kwargs["slug"])

    def back(self) -> HttpResponseRedirect:
        return redirect(self.team)


class TeamDetailView(TeamMixin, TemplateView):
    """A team: members and their roles, pending invitations, clusters; owners change all of these here."""

    template_name = "teams/team_detail.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        user = self.request.user
        team = self.team
        can_manage = policy.can(user, policy.MANAGE, team)
        context.update(
            team=team,
            my_role=policy.role_in(user, team),
            can_manage=can_manage,
            members=team.memberships.select_related("user").order_by("user__username"),
            clusters=team.clusters.order_by("name"),
            roles=TeamRole.choices,
        )
        if can_manage:
            context["invitations"] = team.invitations.pending().select_related("invited_by")
            context.setdefault("invite_form", InviteForm())
            context["transfer_targets"] = policy.teams_where(user, TeamRole.OWNER).exclude(pk=team.pk).exists()
        return context


class InviteView(TeamDetailView):
    """POST: invite someone by e-mail; the one-time link is e-mailed and shown once to the owner."""

    http_method_names = ["post"]

    def post(self, request, *args, **kwargs):
        policy.require(request.user, policy.MANAGE, self.team)
        form = InviteForm(request.POST)
        if form.is_valid():
            accept_url = request.build_absolute_uri(reverse("invitation-accept", kwargs={"token": "TOKEN"}))
            invitation, token = actions.invite_member(
                acting_user=request.user,
                team=self.team,
                email=form.cleaned_data["email"],
                role=form.cleaned_data["role"],
                accept_url=accept_url.replace("TOKEN", "{token}"),
            )
            link = accept_url.replace("TOKEN", token)
            messages.success(
                request,
                f"Invitation sent to {invitation.email} as {invitation.role}. The link works once, until "
                f"{invitation.expires_at:%Y-%m-%d %H:%M} UTC; it is shown only now: {link}",
            )
            return self.back()
        return self.render_to_response(self.get_context_data(invite_form=form), status=400)


class MemberMixin(TeamMixin):
    """Loads the membership of the URL within the team."""

    @cached_property
    def membership(self) -> Membership:
        return get_object_or_404(self.team.memberships.select_related("user", "team"), pk=self.kwargs["pk"])


class MemberRoleView(MemberMixin, View):
    """POST: give a member another role (owners only; never demote the last owner)."""

    http_method_names = ["post"]

    def post(self, request, *args, **kwargs):
        policy.require(request.user, policy.MANAGE, self.team)
        form = RoleForm(request.POST)
        if not form.is_valid():
            messages.error(request, "Choose owner, operator or viewer.")
            return self.back()
        try:
            membership = actions.change_role(
                acting_user=request.user, membership=self.membership, role=form.cleaned_data["role"]
            )
        except ValidationError as exc:
            messages.error(request, error_text(exc))
        else:
            messages.success(request, f"{membership.user} is now {membership.role} of “{self.team}”.")
        return self.back()


class MemberRemoveView(MemberMixin, TemplateView):
    """GET asks for confirmation, POST removes the member (owners; members may leave; never the last owner)."""

    template_name = "teams/member_remove.html"

    def check(self) -> None:
        if self.membership.user_id != self.request.user.pk:
            policy.require(self.request.user, policy.MANAGE, self.team)

    def get(self, request, *args, **kwargs):
        self.check()
        return self.render_to_response({"team": self.team, "membership": self.membership})

    def post(self, request, *args, **kwargs):
        self.check()
        try:
            actions.remove_member(acting_user=request.user, membership=self.membership)
        except ValidationError as exc:
            messages.error(request, error_text(exc))
            return self.back()
        messages.success(request, f"{self.membership.user} is no longer a member of “{self.team}”.")
        if self.membership.user_id == request.user.pk and not policy.is_superuser(request.user):
            return redirect("team-list")
        return self.back()


class InvitationRevokeView(TeamMixin, View):
    """POST: withdraw a pending invitation."""

    http_method_names = ["post"]

    def post(self, request, *args, **kwargs):
        policy.require(request.user, policy.MANAGE, self.team)
        invitation = get_object_or_404(self.team.invitations.pending(), pk=kwargs["pk"])
        actions.revoke_invitation(acting_user=request.user, invitation=invitation)
        messages.success(request, f"The invitation of {invitation.email} is withdrawn.")
        return self.back()


class InvitationAcceptView(TemplateView):
    """An invitation link: signed-in users join with one click, others create their account here."""

    template_name = "teams/invitation_accept.html"

    @cached_property
    def invitation(self) -> Invitation:
        invitation = actions.find_invitation(self.kwargs["token"])
        if invitation is None:
            raise Http404(
                "This invitation link is unknown, already used or expired; ask the team's owner for a new one."
            )
        return invitation

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["invitation"] = self.invitation
        if not self.request.user.is_authenticated:
            context.setdefault("form", SignUpForm())
        return context

    def post(self, request, *args, **kwargs):
        invitation = self.invitation
        if request.user.is_authenticated:
            try:
                actions.accept_invitation(token=self.kwargs["token"], user=request.user)
            except ValidationError as exc:
                messages.error(request, error_text(exc))
                return redirect("team-list")
            messages.success(request, f"Welcome to team “{invitation.team}” as {invitation.role}.")
            return redirect(invitation.team)
        form = SignUpForm(request.POST)
        if form.is_valid():
            try:
                user = actions.sign_up_with_invitation(
                    token=self.kwargs["token"],
                    username=form.cleaned_data["username"],
                    password=form.cleaned_data["password1"],
                )
            except ValidationError as exc:
                for field, errors in getattr(exc, "message_dict", {"password1": exc.messages}).items():
                    form.add_error(field if field in form.fields else "password1", errors)
            else:
                login(request, user, backend="django.contrib.auth.backends.ModelBackend")
                messages.success(request, f"Welcome to team “{invitation.team}” as {invitation.role}.")
                return redirect(invitation.team)
        return self.render_to_response(self.get_context_data(form=form), status=400)
