"""Small factories for the inventory: each makes a valid, saved object; keyword overrides change any field.

They save through the ORM rather than the actions, so that a test of an action or of the API starts from rows
the code under test did not write; virtual services and real servers still pass their model's `full_clean()`
(which also derives a service's address family from its VIP).
"""

from itertools import count
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.test import Client

from clusters.choices import ForwardMethod, HostRole, Protocol
from clusters.models import Cluster, ClusterHost, Host, RealServer, VipGroup, VirtualService
from teams.choices import TeamRole
from teams.models import Membership, Team

_serial = count(1)


def make_user(*, staff: bool = True, password: str | None = None, **overrides: Any) -> AbstractBaseUser:
    """A staff user unless `staff=False`; without `password` it cannot sign in by password (hashing is slow)."""
    n = next(_serial)
    fields = {"username": f"user{n}", "is_staff": staff, **overrides}
    user = get_user_model()(**fields)
    if password is None:
        user.set_unusable_password()
    else:
        user.set_password(password)
    user.save()
    return user


def default_team() -> Team:
    """The team every factory object belongs to unless told otherwise (“ops”)."""
    team, _ = Team.objects.get_or_create(slug="ops", defaults={"name": "Ops"})
    return team


def make_team(**overrides: Any) -> Team:
    """A team with a unique name and slug."""
    n = next(_serial)
    return Team.objects.create(**{"name": f"team {n}", "slug": f"team-{n}", **overrides})


def make_member(user: AbstractBaseUser, *, team: Team | None = None, role: str = TeamRole.OWNER) -> Membership:
    """Give `user` a role (owner unless told otherwise) in `team` (the default team unless told otherwise)."""
    return Membership.objects.create(team=team or default_team(), user=user, role=role)


def signed_in(role: str = TeamRole.VIEWER) -> tuple[Team, Client]:
    """A new team, and a test client signed in as a new member of it with `role`."""
    team = make_team()
    user = make_user()
    make_member(user, team=team, role=role)
    client = Client()
    client.force_login(user)
    return team, client


def make_cluster(**overrides: Any) -> Cluster:
    """A cluster of the default team with a unique name and slug."""
    n = next(_serial)
    fields = {"name": f"cluster {n}", "slug": f"cluster-{n}"}
    if "team" not in overrides and "team_id" not in overrides:
        fields["team"] = default_team()
    return Cluster.objects.create(**{**fields, **overrides})


def make_host(**overrides: Any) -> Host:
    """A host of the default team with a unique hostname and management address (192.168.0.0/16)."""
    n = next(_serial)
    fields = {"hostname": f"host{n}.example.net", "management_address": f"192.168.{n // 250}.{n % 250 + 1}"}
    if "team" not in overrides and "team_id" not in overrides:
        fields["team"] = default_team()
    return Host.objects.create(**{**fields, **overrides})


def make_cluster_host(*, cluster: Cluster | None = None, host: Host | None = None, **overrides: Any) -> ClusterHost:
    """A host's role in a cluster: director unless `role=` says otherwise."""
    return ClusterHost.objects.create(
        cluster=cluster or make_cluster(),
        host=host or make_host(),
        **{"role": HostRole.DIRECTOR, **overrides},
    )


def make_virtual_service(*, cluster: Cluster | None = None, **overrides: Any) -> VirtualService:
    """A TCP service on a unique VIP in 10.200.0.0/13 (tests spell out their own VIPs elsewhere), port 80, TUN."""
    n = next(_serial)
    fields = {
        "protocol": Protocol.TCP,
        "address": f"10.{200 + n // 62500}.{n // 250 % 250}.{n % 250 + 1}",
        "port": 80,
        "forward_method": ForwardMethod.TUN,
    }
    fields.update(overrides)
    service = VirtualService(cluster=cluster or make_cluster(), **fields)
    service.full_clean()
    service.save()
    return service


def make_real_server(*, virtual_service: VirtualService | None = None, **overrides: Any) -> RealServer:
    """A real server on a unique address in 172.20.0.0/14 with the service's port and forwarding method."""
    service = virtual_service or make_virtual_service()
    n = next(_serial)
    fields = {
        "address": f"172.{20 + n // 62500}.{n // 250 % 250}.{n % 250 + 1}",
        "port": service.port,
        "forward_method": service.forward_method,
    }
    fields.update(overrides)
    real_server = RealServer(virtual_service=service, **fields)
    real_server.full_clean()
    real_server.save()
    return real_server


def make_vip_group(*, cluster: Cluster | None = None, **overrides: Any) -> VipGroup:
    """A VIP group (VRRP instance) named “web”, VRID 51, unless told otherwise."""
    group = VipGroup(cluster=cluster or make_cluster(), **{"name": "web", "vrid": 51, **overrides})
    group.full_clean()
    group.save()
    return group
