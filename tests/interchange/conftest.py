"""Fixtures of the import/export tests: a cluster, and an operator of its team."""

import pytest

from teams.choices import TeamRole
from tests.factories import make_cluster
from tests.interchange.helpers import signed_in


@pytest.fixture
def cluster(db):
    """A cluster “web frontend” (slug web) of the default team."""
    return make_cluster(name="web frontend", slug="web")


@pytest.fixture
def operator(db):
    """A client signed in as an operator of the cluster's team."""
    return signed_in(TeamRole.OPERATOR)
