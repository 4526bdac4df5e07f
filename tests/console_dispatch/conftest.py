"""Fixtures of the console's dispatch pages: the dispatch tests' lab cluster, and browsers signed in by role."""

import pytest
from django.test import Client

from tests.dispatch.broker import purge
from tests.dispatch.conftest import LAB_QUEUES, Lab
from tests.factories import make_member, make_user


@pytest.fixture
def lab(db):
    """Director + rs1 + rs2 (enrolled) serving TUN 10.10.0.100:80, with the broker queues empty around the test."""
    purge(*LAB_QUEUES)
    yield Lab()
    purge(*LAB_QUEUES)


def browser_as(role: str) -> Client:
    """A browser signed in as a member of the lab's team with `role` (viewer, operator, owner)."""
    user = make_user(staff=False)
    make_member(user, role=role)
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def operator(lab) -> Client:
    """A browser of an operator of the lab cluster's team."""
    return browser_as("operator")


@pytest.fixture
def viewer(lab) -> Client:
    """A browser of a viewer of the lab cluster's team."""
    return browser_as("viewer")


def report(lab, hostname: str, payload: dict) -> str:
    """What the agent of `hostname` reports (signed with its own key), handled as the control worker does."""
    from dispatch import actions
    from tests.reports import sealed_report

    return actions.handle_report(sealed_report({"host": hostname, **payload}, lab.keys[hostname], hostname))


def heartbeat(lab, hostname: str, **facts) -> str:
    """A heartbeat of `hostname`'s agent: online, kernel 6.1, in sync unless `drift=[…]` says otherwise."""
    return report(lab, hostname, {"kind": "heartbeat", "facts": {"kernel": "6.1.0-13-amd64", "drift": [], **facts}})


def applied(lab, revision) -> None:
    """Every host reports revision `revision` applied (as their agents do when the kernel took it)."""
    for deployment in revision.deployments.select_related("host"):
        name = deployment.host.hostname
        report(
            lab,
            name,
            {"kind": "deployment", "deployment": deployment.pk, "status": "applied", "serial": deployment.serial},
        )
