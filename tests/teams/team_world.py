"""The objects the team tests share: two teams with every role, their clusters, and an outsider."""

from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import ApiToken
from clusters.choices import HostRole
from clusters.models import Cluster, ClusterHost, Host, RealServer, VirtualService
from teams.choices import TeamRole
from teams.models import Invitation, Membership, Team, hash_invitation_token

ROLES = ["anonymous", "no_team", "viewer", "operator", "owner", "superuser"]


@dataclass
class TeamObjects:
    """A team with one object of every kind."""

    team: Team
    cluster: Cluster
    host: Host
    spare_host: Host
    cluster_host: ClusterHost
    service: VirtualService
    real_server: RealServer


@dataclass
class World:
    """Team “alpha” (a viewer, an operator, an owner), team “bravo” (its own owner), an outsider, a superuser.

    The alpha owner also owns team “alpha-two”, the destination of cluster transfers.
    """

    alpha: TeamObjects
    bravo: TeamObjects
    alpha_two: Team
    users: dict = field(default_factory=dict)
    memberships: dict = field(default_factory=dict)
    invitation: Invitation | None = None
    invitation_token: str = ""
    tokens: dict = field(default_factory=dict)

    def user(self, role: str):
        """The user of a role name (None for anonymous)."""
        return self.users.get(role)

    def client(self, role: str) -> APIClient:
        """A client signed in as the user of `role` (session, as a browser)."""
        client = APIClient()
        user = self.user(role)
        if user is not None:
            client.force_login(user)
        return client


def make_user(username: str, **extra):
    """A user without a usable password (tests sign in with force_login)."""
    return get_user_model().objects.create_user(username=username, email=f"{username}@example.net", **extra)


def make_team_objects(slug: str, octet: int) -> TeamObjects:
    """A team with a cluster, a director host, a spare host, a TUN service and one real server."""
    team = Team.objects.create(name=slug.title(), slug=slug)
    cluster = Cluster.objects.create(team=team, name=f"{slug} web", slug=f"{slug}-web")
    host = Host.objects.create(team=team, hostname=f"lvs.{slug}.example.net", management_address=f"192.0.2.{octet}")
    spare = Host.objects.create(
        team=team, hostname=f"spare.{slug}.example.net", management_address=f"192.0.2.{octet + 1}"
    )
    cluster_host = ClusterHost.objects.create(cluster=cluster, host=host, role=HostRole.DIRECTOR)
    service = VirtualService.objects.create(
        cluster=cluster, name=f"{slug} http", protocol="tcp", address=f"198.51.100.{octet}", port=80, scheduler="rr"
    )
    real_server = RealServer.objects.create(virtual_service=service, address=f"203.0.113.{octet}", port=80)
    return TeamObjects(team, cluster, host, spare, cluster_host, service, real_server)


def build_world() -> World:
    """Create the two teams, their members, a pending invitation and a token per user."""
    alpha = make_team_objects("alpha", 10)
    bravo = make_team_objects("bravo", 20)
    alpha_two = Team.objects.create(name="Alpha two", slug="alpha-two")
    world = World(alpha=alpha, bravo=bravo, alpha_two=alpha_two)
    world.users = {
        "no_team": make_user("nobody"),
        "viewer": make_user("vera"),
        "operator": make_user("otto"),
        "owner": make_user("olga"),
        "superuser": make_user("root", is_superuser=True, is_staff=True),
        "bravo_owner": make_user("bruno"),
    }
    for role in (TeamRole.VIEWER, TeamRole.OPERATOR, TeamRole.OWNER):
        world.memberships[role.value] = Membership.objects.create(
            team=alpha.team, user=world.users[role.value], role=role
        )
    Membership.objects.create(team=alpha_two, user=world.users["owner"], role=TeamRole.OWNER)
    Membership.objects.create(team=bravo.team, user=world.users["bravo_owner"], role=TeamRole.OWNER)
    world.invitation_token = Invitation.generate_token()
    world.invitation = Invitation.objects.create(
        team=alpha.team,
        email="new@example.net",
        role=TeamRole.VIEWER,
        token_hash=hash_invitation_token(world.invitation_token),
        expires_at=timezone.now() + timedelta(days=7),
        invited_by=world.users["owner"],
    )
    for role, user in world.users.items():
        world.tokens[role] = ApiToken.objects.create(
            user=user, name=f"{role} laptop", key_prefix="lvs_x", key_hash=f"{role:0>64}"[-64:]
        )
    return world


@pytest.fixture
def world(db) -> World:
    """Two teams with every role (see `World`)."""
    return build_world()
