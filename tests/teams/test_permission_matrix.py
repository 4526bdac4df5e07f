"""The permission matrix: every URL pattern × HTTP method × role, and the status each must answer.

Each cell is one real request against real objects of team “alpha” (see conftest.py), made by a user with
that role in alpha — or signed out, in no team at all, or a superuser. A meta-test fails when a URL
pattern has no rows here, so that a new endpoint cannot ship without a rule. The method “other” stands for
every method of GET/POST/PUT/PATCH/DELETE that the pattern has no row for: those must be refused.

Reading a row: `302` for a signed-out browser is the redirect to the sign-in page; `401` is the API's
“authenticate first”; `404` means the object is not there for that user (outside their teams); `403` means
they see it but their role does not allow the change.
"""

import importlib
import pkgutil

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from tests.teams import matrix_rows
from tests.teams.team_world import ROLES, World, build_world

METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]

# fmt: off
# name                            method    anonymous no_team viewer operator owner superuser
MATRIX = [
    # Console pages.
    ("dashboard",                     "GET",    302,      200,    200,   200,     200,  200),
    ("dashboard",                     "other",  302,      405,    405,   405,     405,  405),
    ("cluster-detail",                "GET",    302,      404,    200,   200,     200,  200),
    ("cluster-detail",                "other",  302,      405,    405,   405,     405,  405),
    ("team-list",                     "GET",    302,      200,    200,   200,     200,  200),
    ("team-list",                     "POST",   302,      403,    403,   403,     403,  302),
    ("team-list",                     "other",  302,      405,    405,   405,     405,  405),
    ("team-detail",                   "GET",    302,      404,    200,   200,     200,  200),
    ("team-detail",                   "other",  302,      405,    405,   405,     405,  405),
    ("team-invite",                   "POST",   302,      404,    403,   403,     302,  302),
    ("team-invite",                   "other",  302,      405,    405,   405,     405,  405),
    ("team-member-role",              "POST",   302,      404,    403,   403,     302,  302),
    ("team-member-role",              "other",  302,      405,    405,   405,     405,  405),
    ("team-member-remove",            "GET",    302,      404,    403,   403,     200,  200),
    ("team-member-remove",            "POST",   302,      404,    403,   403,     302,  302),
    ("team-member-remove",            "other",  302,      405,    405,   405,     405,  405),
    ("team-invitation-revoke",        "POST",   302,      404,    403,   403,     302,  302),
    ("team-invitation-revoke",        "other",  302,      405,    405,   405,     405,  405),
    ("team-cluster-transfer",         "GET",    302,      404,    403,   403,     200,  200),
    ("team-cluster-transfer",         "POST",   302,      404,    403,   403,     302,  302),
    ("team-cluster-transfer",         "other",  302,      405,    405,   405,     405,  405),
    ("invitation-accept",             "GET",    200,      200,    200,   200,     200,  200),
    ("invitation-accept",             "POST",   302,      302,    302,   302,     302,  302),
    ("invitation-accept",             "other",  405,      405,    405,   405,     405,  405),
    # Audit history: a team's history is for its members; the global page for superusers.
    ("cluster-history",               "GET",    302,      404,    200,   200,     200,  200),
    ("cluster-history",               "other",  302,      405,    405,   405,     405,  405),
    ("audit-object",                  "GET",    302,      404,    200,   200,     200,  200),
    ("audit-object",                  "other",  302,      405,    405,   405,     405,  405),
    ("audit-global",                  "GET",    302,      403,    403,   403,     403,  200),
    ("audit-global",                  "other",  302,      403,    403,   403,     403,  405),
    # Accounts.
    ("login",                         "GET",    200,      302,    302,   302,     302,  302),
    ("login",                         "POST",   200,      302,    302,   302,     302,  302),
    ("login",                         "PUT",    200,      302,    302,   302,     302,  302),
    # Signed-in users are sent on to their clusters whatever the method (redirect_authenticated_user).
    ("login",                         "other",  405,      302,    302,   302,     302,  302),
    ("logout",                        "POST",   302,      302,    302,   302,     302,  302),
    ("logout",                        "other",  405,      405,    405,   405,     405,  405),
    ("password_change",               "GET",    302,      200,    200,   200,     200,  200),
    ("password_change",               "POST",   302,      200,    200,   200,     200,  200),
    ("password_change",               "PUT",    302,      200,    200,   200,     200,  200),
    ("password_change",               "other",  302,      405,    405,   405,     405,  405),
    ("password_change_done",          "GET",    302,      200,    200,   200,     200,  200),
    ("password_change_done",          "other",  302,      405,    405,   405,     405,  405),
    ("password_reset",                "GET",    200,      200,    200,   200,     200,  200),
    ("password_reset",                "POST",   302,      302,    302,   302,     302,  302),
    ("password_reset",                "PUT",    200,      200,    200,   200,     200,  200),
    ("password_reset",                "other",  405,      405,    405,   405,     405,  405),
    ("password_reset_done",           "GET",    200,      200,    200,   200,     200,  200),
    ("password_reset_done",           "other",  405,      405,    405,   405,     405,  405),
    ("password_reset_confirm",        "GET",    200,      200,    200,   200,     200,  200),
    ("password_reset_confirm",        "POST",   200,      200,    200,   200,     200,  200),
    ("password_reset_confirm",        "PUT",    200,      200,    200,   200,     200,  200),
    # An invalid link shows “this link no longer works” whatever the method; it changes nothing.
    ("password_reset_confirm",        "other",  200,      200,    200,   200,     200,  200),
    ("password_reset_complete",       "GET",    200,      200,    200,   200,     200,  200),
    ("password_reset_complete",       "other",  405,      405,    405,   405,     405,  405),
    ("token-list",                    "GET",    302,      200,    200,   200,     200,  200),
    ("token-list",                    "POST",   302,      201,    201,   201,     201,  201),
    ("token-list",                    "other",  302,      405,    405,   405,     405,  405),
    # The viewer's own token: nobody else sees it, not even a superuser (they revoke in the admin).
    ("token-revoke",                  "GET",    302,      404,    200,   404,     404,  404),
    ("token-revoke",                  "POST",   302,      404,    302,   404,     404,  404),
    ("token-revoke",                  "other",  302,      405,    405,   405,     405,  405),
    # REST API.
    ("api:api-root",                  "GET",    401,      200,    200,   200,     200,  200),
    ("api:api-root",                  "other",  401,      405,    405,   405,     405,  405),
    ("api:cluster-list",              "GET",    401,      200,    200,   200,     200,  200),
    ("api:cluster-list",              "POST",   401,      400,    403,   201,     201,  201),
    ("api:cluster-list",              "other",  401,      405,    405,   405,     405,  405),
    ("api:cluster-detail",            "GET",    401,      404,    200,   200,     200,  200),
    ("api:cluster-detail",            "PUT",    401,      404,    403,   200,     200,  200),
    ("api:cluster-detail",            "PATCH",  401,      404,    403,   200,     200,  200),
    ("api:cluster-detail",            "DELETE", 401,      404,    403,   403,     204,  204),
    ("api:cluster-detail",            "other",  401,      405,    405,   405,     405,  405),
    ("api:host-list",                 "GET",    401,      200,    200,   200,     200,  200),
    ("api:host-list",                 "POST",   401,      400,    403,   201,     201,  201),
    ("api:host-list",                 "other",  401,      405,    405,   405,     405,  405),
    ("api:host-detail",               "GET",    401,      404,    200,   200,     200,  200),
    ("api:host-detail",               "PUT",    401,      404,    403,   200,     200,  200),
    ("api:host-detail",               "PATCH",  401,      404,    403,   200,     200,  200),
    ("api:host-detail",               "DELETE", 401,      404,    403,   204,     204,  204),
    ("api:host-detail",               "other",  401,      405,    405,   405,     405,  405),
    ("api:clusterhost-list",          "GET",    401,      200,    200,   200,     200,  200),
    ("api:clusterhost-list",          "POST",   401,      400,    403,   201,     201,  201),
    ("api:clusterhost-list",          "other",  401,      405,    405,   405,     405,  405),
    ("api:clusterhost-detail",        "GET",    401,      404,    200,   200,     200,  200),
    ("api:clusterhost-detail",        "DELETE", 401,      404,    403,   204,     204,  204),
    ("api:clusterhost-detail",        "other",  401,      405,    405,   405,     405,  405),
    ("api:virtualservice-list",       "GET",    401,      200,    200,   200,     200,  200),
    ("api:virtualservice-list",       "POST",   401,      400,    403,   201,     201,  201),
    ("api:virtualservice-list",       "other",  401,      405,    405,   405,     405,  405),
    ("api:virtualservice-detail",     "GET",    401,      404,    200,   200,     200,  200),
    ("api:virtualservice-detail",     "PUT",    401,      404,    403,   200,     200,  200),
    ("api:virtualservice-detail",     "PATCH",  401,      404,    403,   200,     200,  200),
    ("api:virtualservice-detail",     "DELETE", 401,      404,    403,   204,     204,  204),
    ("api:virtualservice-detail",     "other",  401,      405,    405,   405,     405,  405),
    ("api:realserver-list",           "GET",    401,      200,    200,   200,     200,  200),
    ("api:realserver-list",           "POST",   401,      400,    403,   201,     201,  201),
    ("api:realserver-list",           "other",  401,      405,    405,   405,     405,  405),
    ("api:realserver-detail",         "GET",    401,      404,    200,   200,     200,  200),
    ("api:realserver-detail",         "PUT",    401,      404,    403,   200,     200,  200),
    ("api:realserver-detail",         "PATCH",  401,      404,    403,   200,     200,  200),
    ("api:realserver-detail",         "DELETE", 401,      404,    403,   204,     204,  204),
    ("api:realserver-detail",         "other",  401,      405,    405,   405,     405,  405),
    ("api:team-list",                 "GET",    401,      200,    200,   200,     200,  200),
    ("api:team-list",                 "other",  401,      405,    405,   405,     405,  405),
    ("api:team-detail",               "GET",    401,      404,    200,   200,     200,  200),
    ("api:team-detail",               "other",  401,      405,    405,   405,     405,  405),
    ("api:token-list",                "GET",    401,      200,    200,   200,     200,  200),
    ("api:token-list",                "other",  401,      405,    405,   405,     405,  405),
    ("api:token-detail",              "GET",    401,      404,    200,   404,     404,  404),
    ("api:token-detail",              "DELETE", 401,      404,    204,   404,     404,  404),
    ("api:token-detail",              "other",  401,      405,    405,   405,     405,  405),
    # Dispatch: plan, apply and reconcile are operator work; enrolling and revoking a host too.
    ("api:cluster-plan",              "POST",   401,      404,    403,   202,     202,  202),
    ("api:cluster-plan",              "other",  401,      405,    405,   405,     405,  405),
    ("api:cluster-apply",             "POST",   401,      404,    403,   202,     202,  202),
    ("api:cluster-apply",             "other",  401,      405,    405,   405,     405,  405),
    ("api:cluster-reconcile",         "POST",   401,      404,    403,   202,     202,  202),
    ("api:cluster-reconcile",         "other",  401,      405,    405,   405,     405,  405),
    ("api:host-enrollment-token",     "POST",   401,      404,    403,   201,     201,  201),
    ("api:host-enrollment-token",     "other",  401,      405,    405,   405,     405,  405),
    ("api:host-revoke",               "POST",   401,      404,    403,   200,     200,  200),
    ("api:host-revoke",               "other",  401,      405,    405,   405,     405,  405),
    ("cluster-revisions",             "GET",    302,      404,    200,   200,     200,  200),
    ("cluster-revisions",             "other",  302,      405,    405,   405,     405,  405),
    ("cluster-revision-diff",         "GET",    302,      404,    200,   200,     200,  200),
    ("cluster-revision-diff",         "other",  302,      405,    405,   405,     405,  405),
    ("cluster-revision-rollback",     "GET",    302,      404,    403,   200,     200,  200),
    ("cluster-revision-rollback",     "POST",   302,      404,    403,   302,     302,  302),
    ("cluster-revision-rollback",     "other",  302,      405,    405,   405,     405,  405),
    ("api:revision-list",             "GET",    401,      200,    200,   200,     200,  200),
    ("api:revision-list",             "other",  401,      405,    405,   405,     405,  405),
    ("api:revision-detail",           "GET",    401,      404,    200,   200,     200,  200),
    ("api:revision-detail",           "other",  401,      405,    405,   405,     405,  405),
    ("api:revision-diff",             "GET",    401,      404,    200,   200,     200,  200),
    ("api:revision-diff",             "other",  401,      405,    405,   405,     405,  405),
    ("api:revision-rollback",         "POST",   401,      404,    403,   200,     200,  200),
    ("api:revision-rollback",         "other",  401,      405,    405,   405,     405,  405),
    ("api:deployment-list",           "GET",    401,      200,    200,   200,     200,  200),
    ("api:deployment-list",           "other",  401,      405,    405,   405,     405,  405),
    ("api:deployment-detail",         "GET",    401,      404,    200,   200,     200,  200),
    ("api:deployment-detail",         "other",  401,      405,    405,   405,     405,  405),
    # The agent's own enrollment: no user at all, the one-time token is the credential (a bad one is 400).
    ("api:agent-enroll",              "POST",   400,      400,    400,   400,     400,  400),
    ("api:agent-enroll",              "other",  405,      405,    405,   405,     405,  405),
    ("api-schema",                    "GET",    200,      200,    200,   200,     200,  200),
    ("api-schema",                    "other",  405,      405,    405,   405,     405,  405),
    ("api-docs",                      "GET",    200,      200,    200,   200,     200,  200),
    ("api-docs",                      "other",  405,      405,    405,   405,     405,  405),
    ("api-redoc",                     "GET",    200,      200,    200,   200,     200,  200),
    ("api-redoc",                     "other",  405,      405,    405,   405,     405,  405),
    # The Django admin, one row for its whole namespace: superusers only (see test_admin_is_superuser_only).
    ("admin:*",                       "GET",    302,      302,    302,   302,     302,  200),
]
# fmt: on

#: Rows for a part of the product can live in their own module under tests/teams/matrix_rows/: each defines
#: ROWS (as above) and may define url_kwargs(world) -> {name: kwargs}, bodies(world) -> {(name, method): data}
#: and prepare(world) to add the objects its URLs point at.
EXTRA = [
    importlib.import_module(f"{matrix_rows.__name__}.{m.name}") for m in pkgutil.iter_modules(matrix_rows.__path__)
]
MATRIX = MATRIX + [row for module in EXTRA for row in module.ROWS]


#: Pages for signed-out visitors: their redirects do not lead to the sign-in page.
PUBLIC = {"login", "logout", "password_reset", "invitation-accept"}


def url_of(name: str, world: World) -> str:
    """The URL of a pattern, pointing at team alpha's objects."""
    a = world.alpha
    kwargs = {
        "cluster-detail": {"slug": a.cluster.slug},
        "cluster-history": {"slug": a.cluster.slug},
        "cluster-revisions": {"slug": a.cluster.slug},
        "cluster-revision-diff": {"slug": a.cluster.slug},
        "cluster-revision-rollback": {"slug": a.cluster.slug, "number": world.revision.number},
        "audit-object": {"object_type": "clusters.virtualservice", "object_id": a.service.pk},
        "team-detail": {"slug": a.team.slug},
        "team-invite": {"slug": a.team.slug},
        "team-member-role": {"slug": a.team.slug, "pk": world.memberships["target"].pk},
        "team-member-remove": {"slug": a.team.slug, "pk": world.memberships["target"].pk},
        "team-invitation-revoke": {"slug": a.team.slug, "pk": world.invitation.pk},
        "team-cluster-transfer": {"slug": a.team.slug, "cluster": a.cluster.slug},
        "invitation-accept": {"token": world.invitation_token},
        "password_reset_confirm": {"uidb64": "MQ", "token": "set-password"},
        "token-revoke": {"pk": world.tokens["viewer"].pk},
        "api:cluster-detail": {"slug": a.cluster.slug},
        "api:host-detail": {"pk": a.spare_host.pk},
        "api:clusterhost-detail": {"pk": a.cluster_host.pk},
        "api:virtualservice-detail": {"pk": a.service.pk},
        "api:realserver-detail": {"pk": a.real_server.pk},
        "api:team-detail": {"slug": a.team.slug},
        "api:token-detail": {"pk": world.tokens["viewer"].pk},
        "api:cluster-plan": {"slug": a.cluster.slug},
        "api:cluster-apply": {"slug": a.cluster.slug},
        "api:cluster-reconcile": {"slug": a.cluster.slug},
        "api:host-enrollment-token": {"pk": a.spare_host.pk},
        "api:host-revoke": {"pk": a.spare_host.pk},
        "api:revision-detail": {"pk": world.revision.pk},
        "api:revision-diff": {"pk": world.revision.pk},
        "api:revision-rollback": {"pk": world.revision.pk},
        "api:deployment-detail": {"pk": world.deployment.pk},
    }
    for module in EXTRA:
        if hasattr(module, "url_kwargs"):
            kwargs.update(module.url_kwargs(world))
    kwargs = kwargs.get(name, {})
    if name == "admin:*":
        return reverse("admin:index")
    return reverse(name, kwargs=kwargs)


def body_of(name: str, method: str, world: World) -> dict:
    """A valid request body for the writes of the matrix (so that a refusal is about rights, not input)."""
    a = world.alpha
    cluster = {"team": "alpha", "name": "alpha api", "slug": "alpha-api", "description": "made in a test"}
    host = {"team": "alpha", "hostname": "new.alpha.example.net", "management_address": "192.0.2.99"}
    service = {
        "cluster": a.cluster.slug,
        "protocol": "tcp",
        "address": "198.51.100.99",
        "port": 443,
        "scheduler": "wlc",
    }
    real_server = {"virtual_service": a.service.pk, "address": "203.0.113.99", "port": 80, "weight": 5}
    bodies = {
        ("team-list", "POST"): {"name": "Delta", "slug": "delta"},
        ("team-invite", "POST"): {"email": "someone@example.net", "role": "operator"},
        ("team-member-role", "POST"): {"role": "operator"},
        ("team-cluster-transfer", "POST"): {"team": world.alpha_two.slug},
        ("invitation-accept", "POST"): {
            "username": "newbie",
            "password1": "a long pass phrase",
            "password2": "a long pass phrase",
        },
        ("login", "POST"): {"username": "nobody", "password": "wrong"},
        ("password_reset", "POST"): {"email": "vera@example.net"},
        ("token-list", "POST"): {"name": "ci", "expires": "30"},
        ("api:cluster-list", "POST"): cluster,
        ("api:cluster-detail", "PUT"): {**cluster, "name": "alpha web", "slug": "alpha-web"},
        ("api:cluster-detail", "PATCH"): {"description": "patched"},
        ("api:host-list", "POST"): host,
        ("api:host-detail", "PUT"): {**host, "hostname": a.spare_host.hostname},
        ("api:host-detail", "PATCH"): {"description": "patched"},
        ("api:clusterhost-list", "POST"): {
            "cluster": a.cluster.slug,
            "host": a.spare_host.hostname,
            "role": "real_server",
        },
        ("api:virtualservice-list", "POST"): service,
        ("api:virtualservice-detail", "PUT"): {**service, "port": 8080},
        ("api:virtualservice-detail", "PATCH"): {"scheduler": "wrr"},
        ("api:realserver-list", "POST"): real_server,
        ("api:realserver-detail", "PUT"): {**real_server, "address": a.real_server.address},
        ("api:realserver-detail", "PATCH"): {"weight": 7},
        ("api:cluster-reconcile", "POST"): {"host": a.host.hostname},
        ("api:agent-enroll", "POST"): {"token": "lvse_not-a-token", "public_key": "x"},
    }
    for module in EXTRA:
        if hasattr(module, "bodies"):
            bodies.update(module.bodies(world))
    return bodies.get((name, method), {})


def world_for_matrix() -> World:
    """The conftest world plus a second viewer (the target of role changes and removals) and some history."""
    from django.utils import timezone

    from audit.recording import record
    from clusters.compiler import inventory_snapshot
    from dispatch.models import Deployment, Revision
    from teams.choices import TeamRole
    from teams.models import Membership
    from tests.teams.team_world import make_user

    world = build_world()
    world.revision = Revision.objects.create(
        cluster=world.alpha.cluster, number=1, inventory=inventory_snapshot(world.alpha.cluster), created_by_name="otto"
    )
    world.deployment = Deployment.objects.create(
        kind="apply",
        cluster=world.alpha.cluster,
        revision=world.revision,
        host=world.alpha.host,
        serial=1,
        document={},
        status="applied",
        expires_at=timezone.now(),
    )
    for objects in (world.alpha, world.bravo):
        record(
            action="virtual_service.update",
            obj=objects.service,
            changes={"scheduler": ["wlc", "rr"]},
            team_id=objects.team.pk,
            cluster_id=objects.cluster.pk,
        )
    world.memberships["target"] = Membership.objects.create(
        team=world.alpha.team, user=make_user("victor"), role=TeamRole.VIEWER
    )
    for module in EXTRA:
        if hasattr(module, "prepare"):
            module.prepare(world)
    return world


def request(world: World, role: str, name: str, method: str):
    """Make one request of the matrix as `role`."""
    client = world.client(role)
    url = url_of(name, world)
    data = body_of(name, method, world)
    if name.startswith("api:"):
        return client.generic(method, url, data=_json(data), content_type="application/json")
    if method in ("GET", "DELETE"):
        return getattr(client, method.lower())(url)
    return client.generic(method, url, data=_form(data), content_type="application/x-www-form-urlencoded")


def _json(data: dict) -> str:
    import json

    return json.dumps(data)


def _form(data: dict) -> str:
    from urllib.parse import urlencode

    return urlencode(data)


def explicit_cells():
    for name, method, *statuses in MATRIX:
        if method == "other":
            continue
        for role, status in zip(ROLES, statuses, strict=True):
            yield pytest.param(name, method, role, status, id=f"{name}-{method}-{role}")


def other_cells():
    explicit = {(name, method) for name, method, *_ in MATRIX if method != "other"}
    for name, method, *statuses in MATRIX:
        if method != "other":
            continue
        others = [m for m in METHODS if (name, m) not in explicit]
        for role, status in zip(ROLES, statuses, strict=True):
            yield pytest.param(name, others, role, status, id=f"{name}-other-{role}")


@pytest.mark.django_db
@pytest.mark.parametrize(("name", "method", "role", "expected"), list(explicit_cells()))
def test_cell(name, method, role, expected):
    world = world_for_matrix()
    response = request(world, role, name, method)
    assert response.status_code == expected, (
        f"{method} {name} as {role}: expected {expected}, got {response.status_code}: "
        f"{getattr(response, 'content', b'')[:300]!r}"
    )
    if expected == 302 and role == "anonymous" and name not in PUBLIC:
        assert response["Location"].startswith(reverse("login") if name != "admin:*" else reverse("admin:login"))


@pytest.mark.django_db
@pytest.mark.parametrize(("name", "methods", "role", "expected"), list(other_cells()))
def test_other_methods_are_refused(name, methods, role, expected):
    world = world_for_matrix()
    for method in methods:
        response = request(world, role, name, method)
        assert response.status_code == expected, f"{method} {name} as {role}: got {response.status_code}"


def url_pattern_names() -> set[str]:
    """Every URL pattern of the project by its (namespaced) name; the admin counts as one, `admin:*`."""
    names: set[str] = set()

    def walk(patterns, namespace):
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                inner = ":".join(filter(None, [namespace, pattern.namespace])) or None
                if inner == "admin":
                    names.add("admin:*")
                    continue
                walk(pattern.url_patterns, inner)
            elif isinstance(pattern, URLPattern):
                assert pattern.name, f"URL pattern {pattern.pattern} has no name; name it and add it to MATRIX."
                names.add(f"{namespace}:{pattern.name}" if namespace else pattern.name)

    walk(get_resolver().url_patterns, None)
    return names


def test_every_url_pattern_is_in_the_matrix():
    in_table = {name for name, *_ in MATRIX}
    missing = url_pattern_names() - in_table
    assert not missing, f"URL patterns without rows in MATRIX (add a rule for each role): {sorted(missing)}"
    stale = in_table - url_pattern_names()
    assert not stale, f"MATRIX rows for URL patterns that no longer exist: {sorted(stale)}"


def test_every_pattern_has_a_rule_for_every_method():
    for name in {name for name, *_ in MATRIX}:
        methods = {method for row_name, method, *_ in MATRIX if row_name == name}
        assert "other" in methods or name == "admin:*" or set(METHODS) <= methods, (
            f"{name}: give a row for every method, or an “other” row for the ones it refuses."
        )


@pytest.mark.django_db
def test_admin_is_superuser_only(world):
    """Every admin page refuses staff and team owners; the admin lists every team's objects unfiltered."""
    world.users["owner"].is_staff = True
    world.users["owner"].save()
    pages = [
        reverse("admin:index"),
        reverse("admin:clusters_cluster_changelist"),
        reverse("admin:clusters_cluster_change", args=[world.bravo.cluster.pk]),
        reverse("admin:teams_membership_changelist"),
        reverse("admin:auth_user_changelist"),
    ]
    for page in pages:
        refused = world.client("owner").get(page)
        assert refused.status_code == 302 and refused["Location"].startswith(reverse("admin:login"))
        assert world.client("superuser").get(page).status_code == 200
