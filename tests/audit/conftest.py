"""Fixtures of the audit tests: a staff user and a small inventory built through the actions."""

import pytest

from clusters import actions
from tests.factories import default_team


@pytest.fixture
def operator(django_user_model):
    return django_user_model.objects.create_user(
        username="olga", password="a long enough passphrase", is_staff=True, is_superuser=True
    )


@pytest.fixture
def cluster(operator):
    return actions.create_cluster(
        acting_user=operator, fields={"team": default_team(), "name": "web frontend", "slug": "web"}
    )


@pytest.fixture
def service(operator, cluster):
    return actions.create_virtual_service(
        acting_user=operator,
        cluster=cluster,
        fields={"protocol": "tcp", "address": "198.51.100.10", "port": 80, "scheduler": "rr"},
    )


@pytest.fixture
def real_server(operator, service):
    return actions.create_real_server(
        acting_user=operator, virtual_service=service, fields={"address": "203.0.113.11", "weight": 100}
    )
