"""The policy's answers, object kind by object kind: the rules of teams/policy.py as a table."""

import pytest

from clusters import selectors
from teams import policy
from tests.teams.team_world import World

pytestmark = pytest.mark.django_db

ROLES = ["no_team", "viewer", "operator", "owner", "superuser"]

# fmt: off
# object          action     no_team viewer operator owner superuser
RULES = [
    ("team",         "view",    False,  True,  True,    True,  True),
    ("team",         "manage",  False,  False, False,   True,  True),
    ("team",         "delete",  False,  False, False,   True,  True),
    ("cluster",      "view",    False,  True,  True,    True,  True),
    ("cluster",      "change",  False,  False, True,    True,  True),
    ("cluster",      "apply",   False,  False, True,    True,  True),
    ("cluster",      "delete",  False,  False, False,   True,  True),
    ("cluster",      "transfer", False, False, False,   True,  True),
    ("service",      "view",    False,  True,  True,    True,  True),
    ("service",      "change",  False,  False, True,    True,  True),
    ("service",      "delete",  False,  False, True,    True,  True),
    ("real_server",  "view",    False,  True,  True,    True,  True),
    ("real_server",  "drain",   False,  False, True,    True,  True),
    ("real_server",  "delete",  False,  False, True,    True,  True),
    ("cluster_host", "view",    False,  True,  True,    True,  True),
    ("cluster_host", "delete",  False,  False, True,    True,  True),
    ("host",         "view",    False,  True,  True,    True,  True),
    ("host",         "enroll",  False,  False, True,    True,  True),
    ("host",         "revoke",  False,  False, True,    True,  True),
    ("host",         "delete",  False,  False, True,    True,  True),
    ("invitation",   "manage",  False,  False, False,   True,  True),
]
# fmt: on


def obj_of(world: World, kind: str):
    a = world.alpha
    return {
        "team": a.team,
        "cluster": a.cluster,
        "service": a.service,
        "real_server": a.real_server,
        "cluster_host": a.cluster_host,
        "host": a.host,
        "invitation": world.invitation,
    }[kind]


@pytest.mark.parametrize(("kind", "action", *ROLES), RULES)
def test_rule(world, kind, action, no_team, viewer, operator, owner, superuser):
    obj = obj_of(world, kind)
    expected = dict(zip(ROLES, (no_team, viewer, operator, owner, superuser), strict=True))
    answers = {role: policy.can(world.user(role), action, obj) for role in ROLES}
    assert answers == expected
    # Members of team bravo get nothing of alpha's, whatever their role there.
    assert not policy.can(world.user("bravo_owner"), action, obj)


def test_the_system_may_do_anything_and_anonymous_nothing(world):
    from django.contrib.auth.models import AnonymousUser

    policy.require(None, "delete", world.alpha.cluster)
    assert not policy.can(AnonymousUser(), "view", world.alpha.cluster)
    assert not selectors.visible_clusters(AnonymousUser()).exists()


def test_a_refusal_says_who_and_what_is_missing(world):
    from django.core.exceptions import PermissionDenied

    with pytest.raises(PermissionDenied) as refused:
        policy.require(world.user("operator"), "delete", world.alpha.cluster)
    assert str(refused.value) == (
        "You are an operator of team “Alpha”; to delete cluster “alpha web” you need the owner role."
    )
