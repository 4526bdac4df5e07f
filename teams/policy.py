"""The one policy: may this user do this action on this object?

Every caller asks here (the `visible_*` querysets of cluster objects are in clusters/selectors.py, built on
`filtered_by_team` and `visible_teams` here) — console views, the REST API (list filtering and object checks), websocket
subscriptions, the admin and every action in `clusters/actions/` and `teams/actions.py`. Nothing else
decides who may do what.

The rules, in plain words:

- A superuser may do everything.
- Anyone else needs a membership in the object's team; the role decides what they may do:
  - a **viewer** may see the team, its clusters, their virtual services, real servers and hosts, live
    statistics and history — and change nothing;
  - an **operator** may also change them: edit the inventory, plan, apply, drain, reconcile, enroll and
    revoke hosts; silence and acknowledge the team's alerts;
  - an **owner** may also manage the team: members, roles and invitations, alert channels and rules (and read
    their delivery log), delete the team's clusters and transfer them to another team the owner also owns.
- Objects outside a user's teams are not there for that user: the `visible_*` querysets leave them out, so
  lists, counts, search and autocomplete never show them, and pages and API objects answer 404.
- A personal API token belongs to its user: only they (and superusers) may see or revoke it.
- Signed-out and inactive users may do nothing.
"""

from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.exceptions import PermissionDenied
from django.db.models import Model, Q, QuerySet

from accounts.models import ApiToken
from teams.choices import TeamRole
from teams.models import Membership, Team

VIEW = "view"
CHANGE = "change"
DELETE = "delete"
MANAGE = "manage"
CREATE_TEAM = "create_team"

#: Actions named by what operators do, and the rule each follows. Views, the API and consumers (plan, apply,
#: drain …) ask with these names, so that a log line or a test can say what was attempted.
ALIASES = {
    "edit": CHANGE,
    "plan": CHANGE,
    "apply": CHANGE,
    "drain": CHANGE,
    "reconcile": CHANGE,
    "enroll": CHANGE,
    "revoke": CHANGE,
    "transfer": MANAGE,
    "manage_members": MANAGE,
}

User = AbstractBaseUser | AnonymousUser

#: Models whose deletion needs the owner role (named by label: the policy sits below the clusters app).
OWNER_DELETES = {"teams.Team", "clusters.Cluster"}


def team_id_of(obj: Model | None) -> int | None:
    """The id of the team an object belongs to (a cluster's, a service's cluster's, a host's …).

    Read from the object's own path to a team — its `team`, else its `cluster`'s team, else its virtual
    service's cluster's — so that the policy needs no import of the apps above it (clusters, dispatch).
    """
    if isinstance(obj, Team):
        return obj.pk
    owned: Any = obj  # a model of an app above this one: its relations are read by name
    if hasattr(owned, "team_id"):
        # Clusters, hosts, memberships, invitations.
        return owned.team_id
    if getattr(owned, "cluster_id", None) is not None:
        # Anything that belongs to a cluster: virtual services, host roles, revisions, deployments …
        return owned.cluster.team_id
    if getattr(owned, "virtual_service_id", None) is not None:
        # Real servers.
        return owned.virtual_service.cluster.team_id
    raise TypeError(f"The policy has no rule for {type(obj).__name__} objects.")


def roles_of(user: User) -> dict[int, TeamRole]:
    """{team id: role} of a user, read once per user object (one query per request).

    Whoever keeps a user object for long (a websocket consumer) calls `forget_roles` before asking again, so
    that a member who was removed or demoted meanwhile loses access at once.
    """
    if not getattr(user, "is_authenticated", False):
        return {}
    cached = getattr(user, "_lvsweb_team_roles", None)
    if cached is None:
        cached = {
            team_id: TeamRole(role)
            for team_id, role in Membership.objects.filter(user=user).order_by().values_list("team_id", "role")  # type: ignore[misc]
        }
        user._lvsweb_team_roles = cached  # type: ignore[union-attr]
    return cached


def forget_roles(user: User) -> None:
    """Drop the cached roles of a user object (after its memberships changed)."""
    if hasattr(user, "_lvsweb_team_roles"):
        del user._lvsweb_team_roles


def role_in(user: User, team: Team | int | None) -> TeamRole | None:
    """The user's role in a team, or None when they are not a member."""
    if team is None:
        return None
    return roles_of(user).get(team.pk if isinstance(team, Team) else team)


def is_superuser(user: User) -> bool:
    """An active superuser: sees and does everything."""
    return bool(getattr(user, "is_active", False) and getattr(user, "is_superuser", False))


def needed_role(action: str, obj: Model | None) -> TeamRole:
    """The least role that allows `action` on `obj`.

    - view: viewer;
    - change (edit, plan, apply, drain, reconcile, enroll, revoke): operator;
    - delete: owner for a cluster or a team, operator for anything inside a cluster and for hosts;
    - manage (members, roles, invitations, transfer): owner.
    """
    action = ALIASES.get(action, action)
    if action == VIEW:
        return TeamRole.VIEWER
    if action == CHANGE:
        return TeamRole.OPERATOR
    if action == DELETE:
        return TeamRole.OWNER if obj is not None and obj._meta.label in OWNER_DELETES else TeamRole.OPERATOR
    if action == MANAGE:
        return TeamRole.OWNER
    raise ValueError(f"The policy knows no action “{action}”.")


def can(user: User, action: str, obj: Model | None) -> bool:
    """May `user` do `action` on `obj`?

    A user can do an action on an object when: they are an active superuser, or they are an active member
    of the object's team with at least the role the action needs (see `needed_role`). Creating a team
    (`create_team`, no object) is for superusers only.
    """
    if not getattr(user, "is_active", False) or not getattr(user, "is_authenticated", False):
        return False
    if action == CREATE_TEAM:
        return is_superuser(user)
    if isinstance(obj, ApiToken):
        # Personal tokens belong to their user alone; superusers may revoke anyone's.
        return obj.user_id == user.pk or is_superuser(user)
    role_needed = needed_role(action, obj)
    if is_superuser(user):
        return True
    role = role_in(user, team_id_of(obj))
    if role is not None and role.rank >= role_needed.rank:
        return True
    return role_needed == TeamRole.VIEWER and _host_in_visible_cluster(user, obj)


def _host_in_visible_cluster(user: User, obj: Model | None) -> bool:
    """A host of another team is still visible to the members of a cluster it plays a role in."""
    if obj is None or obj._meta.label != "clusters.Host" or not roles_of(user):
        return False
    host: Any = obj
    return bool(host.cluster_roles.filter(cluster__team_id__in=list(roles_of(user))).exists())


def require(user: User | None, action: str, obj: Model | None) -> None:
    """Raise PermissionDenied, with a message that says why, unless `user` may do `action` on `obj`.

    `user=None` is the system itself (management commands, workers): always allowed.
    """
    if user is None or can(user, action, obj):
        return
    if action == CREATE_TEAM:
        raise PermissionDenied("Only administrators (superusers) can create teams.")
    if isinstance(obj, ApiToken):
        raise PermissionDenied("This API token belongs to another user.")
    team_id = team_id_of(obj)
    team = obj if isinstance(obj, Team) else Team.objects.filter(pk=team_id).first() if team_id else None
    role = role_in(user, team_id)
    needed = needed_role(action, obj)
    what = f"{ALIASES.get(action, action)} {obj._meta.verbose_name} “{obj}”" if obj and obj.pk else "do this"
    if role is None:
        raise PermissionDenied(f"You are not a member of team “{team}”; you cannot {what}.")
    allowed = "the owner role" if needed == TeamRole.OWNER else "the operator or owner role"
    article = "an" if role in (TeamRole.OWNER, TeamRole.OPERATOR) else "a"
    raise PermissionDenied(f"You are {article} {role} of team “{team}”; to {what} you need {allowed}.")


def teams_where(user: User, least: TeamRole) -> QuerySet[Team]:
    """Teams in which `user` has at least the role `least` (all teams for superusers)."""
    if is_superuser(user):
        return Team.objects.all()
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return Team.objects.none()
    roles = [role for role in TeamRole if role.rank >= least.rank]
    return Team.objects.filter(pk__in=Membership.objects.filter(user_id=user.pk, role__in=roles).values("team_id"))


def visible_teams(user: User) -> QuerySet[Team]:
    """Teams the user may see: the ones they belong to (all for superusers)."""
    return teams_where(user, TeamRole.VIEWER)


def _team_filter(user: User, lookup: str) -> Q | None:
    """A filter on `lookup` (a path to a team id) for the user's teams; None means no filter (superuser)."""
    if is_superuser(user):
        return None
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return Q(**{f"{lookup}__in": []})  # nothing (without a query)
    # The teams of the user's memberships, as `visible_teams` has them, without wrapping them in a query of the
    # teams: one subquery less to compile and to run on every list and lookup.
    roles = [role for role in TeamRole if role.rank >= TeamRole.VIEWER.rank]
    return Q(**{f"{lookup}__in": Membership.objects.filter(user_id=user.pk, role__in=roles).values("team_id")})


def filtered_by_team(queryset: QuerySet, user: User, lookup: str) -> QuerySet:
    """`queryset` narrowed to rows whose `lookup` (a path to a team id) is one of the user's teams."""
    condition = _team_filter(user, lookup)
    return queryset if condition is None else queryset.filter(condition)


def visible_by_cluster(user: User, queryset: QuerySet) -> QuerySet:
    """Rows that belong to a cluster (revisions, deployments …) of the user's teams."""
    return filtered_by_team(queryset, user, "cluster__team_id")


def visible_members(user: User, queryset: QuerySet | None = None) -> QuerySet:
    """Memberships of the user's teams (who else is in them, and with which role)."""
    return filtered_by_team(queryset if queryset is not None else Membership.objects.all(), user, "team_id")
