"""State changes of teams, memberships and invitations; each runs in one transaction and asks the policy.

`acting_user=None` is the system (management commands, migrations): always allowed.
"""

from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone

from audit.recording import diff, record, snapshot
from teams import policy
from teams.choices import TeamRole
from teams.models import Invitation, Membership, Team, hash_invitation_token

INVITATION_LIFETIME = timedelta(days=7)


@transaction.atomic
def create_team(*, acting_user: AbstractBaseUser | None, name: str, slug: str, owner: AbstractBaseUser | None) -> Team:
    """Create a team; `owner` (if given) becomes its first owner. Only superusers create teams."""
    policy.require(acting_user, policy.CREATE_TEAM, None)
    team = Team(name=name, slug=slug)
    team.full_clean()
    team.save()
    record(action="team.create", acting_user=acting_user, obj=team, changes=diff(None, snapshot(team)), team_id=team.pk)
    if owner is not None:
        _record_membership(
            "membership.create",
            acting_user,
            Membership.objects.create(team=team, user=owner, role=TeamRole.OWNER),
            None,
        )
        policy.forget_roles(owner)
    return team


def _record_membership(
    action: str, acting_user, membership: Membership, before: dict | None, after: bool = True
) -> None:
    """One audit entry about a membership, in its team's history."""
    record(
        action=action,
        acting_user=acting_user,
        obj=membership,
        object_repr=str(membership),
        changes=diff(before, snapshot(membership, fields=["team", "user", "role"]) if after else None),
        team_id=membership.team_id,
    )


@transaction.atomic
def add_member(
    *, acting_user: AbstractBaseUser | None, team: Team, user: AbstractBaseUser, role: TeamRole | str
) -> Membership:
    """Make an existing user a member of `team` with `role` (owners and superusers only)."""
    policy.require(acting_user, policy.MANAGE, team)
    membership = Membership(team=team, user=user, role=role)
    membership.full_clean()
    membership.save()
    _record_membership("membership.create", acting_user, membership, None)
    policy.forget_roles(user)
    return membership


@transaction.atomic
def invite_member(
    *,
    acting_user: AbstractBaseUser | None,
    team: Team,
    email: str,
    role: TeamRole | str,
    accept_url: str | None = None,
) -> tuple[Invitation, str]:
    """Invite someone by e-mail; returns the invitation and its one-time token (stored only as a hash).

    When `accept_url` (a URL with `{token}` in it) is given, the link is e-mailed to `email`.
    """
    policy.require(acting_user, policy.MANAGE, team)
    token = Invitation.generate_token()
    invitation = Invitation(
        team=team,
        email=email,
        role=role,
        token_hash=hash_invitation_token(token),
        expires_at=timezone.now() + INVITATION_LIFETIME,
        invited_by=acting_user,
    )
    invitation.full_clean()
    invitation.save()
    record(
        action="invitation.create",
        acting_user=acting_user,
        obj=invitation,
        changes=diff(None, snapshot(invitation, fields=["team", "email", "role", "expires_at"])),
        team_id=team.pk,
    )
    if accept_url:
        link = accept_url.format(token=token)
        inviter = acting_user.get_username() if acting_user is not None else "An administrator"
        transaction.on_commit(
            lambda: send_mail(
                subject=f"Invitation to team “{team}” on lvsweb",
                message=(
                    f"{inviter} invited you to team “{team}” as {invitation.role}.\n\n"
                    f"Open this link to accept (valid until {invitation.expires_at:%Y-%m-%d %H:%M} UTC, once):\n"
                    f"{link}\n"
                ),
                from_email=settings.DEFAULT_FROM_EMAIL,
                recipient_list=[email],
            )
        )
    return invitation, token


def find_invitation(token: str) -> Invitation | None:
    """The pending invitation with this token, or None (unknown, used or expired)."""
    return Invitation.objects.pending().select_related("team").filter(token_hash=hash_invitation_token(token)).first()


@transaction.atomic
def accept_invitation(*, token: str, user: AbstractBaseUser) -> Membership:
    """Make `user` a member of the invitation's team; the invitation cannot be used again."""
    invitation = (
        Invitation.objects.pending().select_for_update().filter(token_hash=hash_invitation_token(token)).first()
    )
    if invitation is None:
        raise ValidationError("This invitation link is unknown, already used or expired; ask for a new one.")
    if Membership.objects.filter(team_id=invitation.team_id, user=user).exists():
        raise ValidationError(f"You are already a member of team “{invitation.team}”.")
    invitation.accepted_at = timezone.now()
    invitation.accepted_by = user
    invitation.save(update_fields=["accepted_at", "accepted_by"])
    membership = Membership.objects.create(team_id=invitation.team_id, user=user, role=invitation.role)
    _record_membership("membership.create", user, membership, None)
    record(
        action="invitation.accept",
        acting_user=user,
        obj=invitation,
        changes={"accepted_at": [None, invitation.accepted_at]},
        team_id=invitation.team_id,
    )
    policy.forget_roles(user)
    return membership


@transaction.atomic
def sign_up_with_invitation(*, token: str, username: str, password: str) -> AbstractBaseUser:
    """Create an account from an invitation (its e-mail address, the chosen name and password) and accept it."""
    invitation = find_invitation(token)
    if invitation is None:
        raise ValidationError("This invitation link is unknown, already used or expired; ask for a new one.")
    user_model = get_user_model()
    user = user_model(username=username, email=invitation.email)
    user.full_clean(exclude=["password"])
    validate_password(password, user)
    user.set_password(password)
    user.save()
    accept_invitation(token=token, user=user)
    return user


@transaction.atomic
def revoke_invitation(*, acting_user: AbstractBaseUser | None, invitation: Invitation) -> None:
    """Withdraw an invitation that was not accepted yet."""
    policy.require(acting_user, policy.MANAGE, invitation.team)
    if invitation.accepted_at is not None:
        raise ValidationError("This invitation was already accepted; remove the member instead.")
    record(
        action="invitation.revoke",
        acting_user=acting_user,
        obj=invitation,
        changes=diff(snapshot(invitation, fields=["team", "email", "role", "expires_at"]), None),
        team_id=invitation.team_id,
    )
    invitation.delete()


def is_last_owner(membership: Membership) -> bool:
    """True for the only owner of a team (who may be neither removed nor demoted)."""
    if membership.role != TeamRole.OWNER:
        return False
    return (
        not Membership.objects.filter(team_id=membership.team_id, role=TeamRole.OWNER)
        .exclude(pk=membership.pk)
        .exists()
    )


def _owner_rows(team_id: int):
    """The team's owner memberships, locked, so that two concurrent changes cannot both remove an owner."""
    return list(Membership.objects.select_for_update().filter(team_id=team_id, role=TeamRole.OWNER))


@transaction.atomic
def change_role(*, acting_user: AbstractBaseUser | None, membership: Membership, role: TeamRole | str) -> Membership:
    """Give a member another role; the last owner of a team cannot be demoted."""
    policy.require(acting_user, policy.MANAGE, membership.team)
    if role not in TeamRole.values:
        raise ValidationError({"role": f"“{role}” is not a role; choose owner, operator or viewer."})
    owners = _owner_rows(membership.team_id)
    membership = Membership.objects.select_for_update().select_related("team", "user").get(pk=membership.pk)
    if membership.role == TeamRole.OWNER and role != TeamRole.OWNER and len(owners) <= 1:
        raise ValidationError(
            f"{membership.user} is the last owner of team “{membership.team}”; make another member owner first."
        )
    before = snapshot(membership, fields=["team", "user", "role"])
    membership.role = role
    membership.save(update_fields=["role"])
    if before["role"] != membership.role:
        _record_membership("membership.update", acting_user, membership, before)
    policy.forget_roles(membership.user)
    return membership


@transaction.atomic
def remove_member(*, acting_user: AbstractBaseUser | None, membership: Membership) -> None:
    """Take a member out of a team (owners may remove anyone, members may leave); never the last owner."""
    if acting_user is None or membership.user_id != acting_user.pk:
        policy.require(acting_user, policy.MANAGE, membership.team)
    owners = _owner_rows(membership.team_id)
    membership = Membership.objects.select_for_update().select_related("team", "user").get(pk=membership.pk)
    if membership.role == TeamRole.OWNER and len(owners) <= 1:
        raise ValidationError(
            f"{membership.user} is the last owner of team “{membership.team}” and cannot be removed; "
            "make another member owner first."
        )
    _record_membership(
        "membership.delete", acting_user, membership, snapshot(membership, fields=["team", "user", "role"]), after=False
    )
    membership.delete()
    policy.forget_roles(membership.user)
