"""Personal API tokens: `Authorization: Token <key>`, stored hashed, refused once revoked or expired."""

from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.actions import create_api_token
from accounts.models import ApiToken
from clusters.models import Cluster
from tests.factories import make_cluster, make_member, make_user

pytestmark = pytest.mark.django_db


def token_client(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def test_an_operators_token_reads_and_writes():
    user = make_user(staff=False)
    make_member(user, role="operator")
    _token, key = create_api_token(acting_user=None, user=user, name="terraform")
    client = token_client(key)
    assert client.get("/api/clusters/").status_code == 200
    response = client.post("/api/clusters/", {"name": "web", "slug": "web"}, format="json")
    assert response.status_code == 201, response.json()
    assert Cluster.objects.filter(slug="web").exists()


def test_the_key_is_shown_once_and_no_row_anywhere_holds_it():
    _token, key = create_api_token(acting_user=None, user=make_user(), name="ci")
    assert key.startswith("lvs_") and len(key) >= 40
    assert ApiToken.objects.get().key_prefix == key[:12]
    secret = key[12:]  # what follows the prefix that lists show
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            cursor.execute(f'SELECT * FROM "{table}"')  # noqa: S608 (table names from the catalogue)
            for row in cursor.fetchall():
                assert secret not in str(row), table


def test_use_is_recorded():
    token, key = create_api_token(acting_user=None, user=make_user(), name="ci")
    assert token.last_used_at is None
    token_client(key).get("/api/hosts/")
    token.refresh_from_db()
    assert token.last_used_at is not None


@pytest.mark.parametrize(
    "change",
    [
        pytest.param({"revoked_at": timezone.now()}, id="revoked"),
        pytest.param({"expires_at": timezone.now() - timedelta(seconds=1)}, id="expired"),
    ],
)
def test_revoked_and_expired_tokens_are_401(change):
    token, key = create_api_token(acting_user=None, user=make_user(), name="old")
    ApiToken.objects.filter(pk=token.pk).update(**change)
    response = token_client(key).get("/api/clusters/")
    assert response.status_code == 401
    assert response.json() == {"detail": "Invalid, expired or revoked token."}


def test_a_token_that_expires_later_works():
    _token, key = create_api_token(
        acting_user=None, user=make_user(), name="temp", expires_at=timezone.now() + timedelta(hours=1)
    )
    assert token_client(key).get("/api/clusters/").status_code == 200


@pytest.mark.parametrize("key", ["lvs_not-a-real-key", "", "a b c"])
def test_unknown_or_malformed_keys_are_401(key):
    create_api_token(acting_user=None, user=make_user(), name="real")
    assert token_client(key).get("/api/clusters/").status_code == 401


def test_a_token_of_an_inactive_user_is_401():
    user = make_user()
    _token, key = create_api_token(acting_user=None, user=user, name="ci")
    user.is_active = False
    user.save()
    assert token_client(key).get("/api/clusters/").status_code == 401


def test_a_read_only_token_can_read_but_not_write():
    _token, key = create_api_token(acting_user=None, user=make_user(), name="dashboards", read_only=True)
    client = token_client(key)
    assert client.get("/api/clusters/").status_code == 200
    response = client.post("/api/clusters/", {"name": "web", "slug": "web"}, format="json")
    assert response.status_code == 403
    assert response.json() == {"detail": "This API token is read-only."}
    assert not Cluster.objects.exists()


def test_a_token_never_gives_more_than_its_user_may_do():
    cluster = make_cluster(slug="web")
    viewer = make_user(staff=True)
    make_member(viewer, role="viewer")
    _token, key = create_api_token(acting_user=None, user=viewer, name="mine")
    client = token_client(key)
    assert client.get("/api/clusters/web/").status_code == 200
    response = client.patch("/api/clusters/web/", {"description": "mine now"}, format="json")
    assert response.status_code == 403
    assert "You are a viewer of team “Ops”" in response.json()["detail"]
    cluster.refresh_from_db()
    assert cluster.description == ""
    _token, key = create_api_token(acting_user=None, user=make_user(staff=True), name="outsider")
    assert token_client(key).get("/api/clusters/web/").status_code == 404
