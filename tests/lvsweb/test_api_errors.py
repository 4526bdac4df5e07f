"""Bad input and races that used to answer 500: each is now a 4xx that names the problem, and nothing is saved."""

import threading
import time

import pytest
from django.db import connection, connections, transaction
from django.test import Client
from lvsweb_agent.envelope import generate_private_key, public_key_text
from rest_framework.test import APIClient

from audit.models import AuditEntry
from clusters import actions as cluster_actions
from clusters.models import Cluster, RealServer
from dispatch.actions import create_enrollment_token
from tests.clusters.test_views import REAL_SERVER
from tests.factories import make_cluster, make_host, make_member, make_real_server, make_user, make_virtual_service


def deep(levels: int, leaf: object = 1) -> object:
    """`levels` lists inside each other around `leaf`."""
    value = leaf
    for _ in range(levels):
        value = [value]
    return value


def deep_text(levels: int) -> str:
    """A JSON object whose `name` is nested `levels` lists deep, written out without Python's recursion."""
    return '{"name": ' + "[" * levels + "1" + "]" * levels + "}"


# -- a real server deleted by another client while a PATCH of it is under way ------------------------------------


def _wait_for_lock_waiter(timeout: float = 10.0) -> None:
    """Return once some session of this database waits for a row lock (the PATCH below)."""
    deadline = time.monotonic() + timeout
    with connections["default"].cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
            )
            if cursor.fetchone()[0]:
                return
            time.sleep(0.02)
    raise AssertionError("the PATCH never waited for the real server's row lock")


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("through", ["api", "console"])
def test_a_change_to_a_real_server_another_client_deletes_meanwhile_answers_404(through):
    """The change has found the real server; before its action re-reads it under a lock, another client deletes it.

    Made deterministic with a second real connection: it locks the row first, so the change's locked re-read
    waits; once PostgreSQL shows it waiting, the other client deletes the real server and commits.
    """
    owner = make_user(staff=False)
    make_member(owner)
    real_server = make_real_server(virtual_service=make_virtual_service(cluster=make_cluster(slug="web")), weight=1)
    locked, failures = threading.Event(), []

    def other_client() -> None:
        try:
            with transaction.atomic():
                row = RealServer.objects.select_for_update().get(pk=real_server.pk)
                locked.set()
                _wait_for_lock_waiter()
                cluster_actions.delete_real_server(acting_user=owner, real_server=row)
        except Exception as exc:  # reported by the test below, not lost in the thread
            failures.append(exc)
            locked.set()
        finally:
            connection.close()

    thread = threading.Thread(target=other_client)
    thread.start()
    assert locked.wait(10)
    if through == "api":
        client = APIClient()
        client.force_login(owner)
        response = client.patch(f"/api/real-servers/{real_server.pk}/", {"weight": 5}, format="json")
    else:
        client = Client()
        client.force_login(owner)
        form = {**REAL_SERVER, "address": real_server.address, "weight": "5"}
        response = client.post(f"/clusters/web/real-servers/{real_server.pk}/edit/", form)
    thread.join(10)

    assert failures == []
    assert response.status_code == 404
    if through == "api":
        assert response.json() == {
            "detail": "The real server no longer exists: it was deleted, maybe by someone else just now."
        }
    assert not RealServer.objects.filter(pk=real_server.pk).exists()
    assert list(AuditEntry.objects.filter(action__startswith="real_server.").values_list("action", flat=True)) == [
        "real_server.delete"
    ]


# -- JSON nested too deeply -----------------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("levels", [2000, 100_000])
def test_a_json_body_nested_thousands_deep_is_a_400(api, levels):
    response = api.generic("POST", "/api/clusters/", deep_text(levels), content_type="application/json")
    assert response.status_code == 400
    assert response.json() == {"detail": "JSON nested too deeply: at most 32 levels of objects and lists."}
    assert not Cluster.objects.exists()


@pytest.mark.django_db
def test_a_json_body_just_past_the_limit_is_refused_and_one_within_it_reaches_the_fields(api):
    too_deep = api.post("/api/clusters/", {"name": deep(32)}, format="json")
    assert too_deep.status_code == 400
    assert "nested too deeply" in too_deep.json()["detail"]
    within = api.post("/api/clusters/", {"name": deep(31), "slug": "x"}, format="json")
    assert within.status_code == 400
    assert within.json() == {"name": ["Not a valid string."]}


@pytest.mark.django_db
def test_deep_json_in_enrollment_is_a_400():
    response = APIClient().generic("POST", "/api/agent/enroll/", deep_text(5000), content_type="application/json")
    assert response.status_code == 400
    assert "nested too deeply" in response.json()["detail"]


# -- NUL characters -------------------------------------------------------------------------------------------------


@pytest.fixture
def enrollment(team_owner):
    """A host with a one-time enrollment token and the body `lvsweb-agent enroll` would send for it."""
    host = make_host(hostname="rs1")
    _, secret = create_enrollment_token(acting_user=team_owner, host=host)
    return host, {"token": secret, "public_key": public_key_text(generate_private_key()), "facts": {"os": "Debian"}}


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("facts", "where"),
    [
        ({"os": "Debian\x00"}, "facts.os"),
        ({"kernel\x00": "6.1"}, "facts.kernel\x00"),
        ({"nics": [{"name": "eth0"}, {"name": "eth\x001"}]}, "facts.nics.1.name"),
    ],
)
def test_nul_in_enrollment_facts_is_a_400_naming_the_field(enrollment, facts, where):
    host, body = enrollment
    response = APIClient().post("/api/agent/enroll/", {**body, "facts": facts}, format="json")
    assert response.status_code == 400
    assert response.json() == {"facts": [f"Contains a NUL character (\\u0000) (at {where}), which cannot be stored."]}
    host.refresh_from_db()
    assert host.enrolled_at is None
    assert host.public_key == ""
    # The token was not used up: the agent can enroll once its facts are clean.
    assert APIClient().post("/api/agent/enroll/", body, format="json").status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize("field", ["token", "public_key"])
def test_nul_in_the_other_enrollment_fields_is_a_400_naming_the_field(enrollment, field):
    _, body = enrollment
    response = APIClient().post("/api/agent/enroll/", {**body, field: body[field] + "\x00"}, format="json")
    assert response.status_code == 400
    assert list(response.json()) == [field]


@pytest.mark.django_db
@pytest.mark.parametrize("content", ["json", "form", "multipart"])
def test_nul_in_a_text_field_is_a_400_in_every_kind_of_body(api, content):
    body = {"name": "web\x00", "slug": "web"}
    if content == "json":
        response = api.post("/api/clusters/", body, format="json")
    elif content == "form":
        encoded = "name=web%00&slug=web"
        response = api.generic("POST", "/api/clusters/", encoded, content_type="application/x-www-form-urlencoded")
    else:
        response = api.post("/api/clusters/", body, format="multipart")
    assert response.status_code == 400
    assert list(response.json()) == ["name"]
    assert not Cluster.objects.exists()


@pytest.mark.django_db
def test_nul_in_an_import_is_a_400(api):
    cluster = make_cluster()
    body = {"text": "-A -t 10.0.0.1:80 -s rr\x00\n"}
    response = api.post(f"/api/clusters/{cluster.slug}/import/", body, format="json")
    assert response.status_code == 400
    assert list(response.json()) == ["text"]
    assert not cluster.virtual_services.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("url", ["/api/clusters/", "/api/hosts/", "/api/virtual-services/", "/api/real-servers/"])
def test_nul_in_a_search_is_a_400_naming_it(api, url):
    make_real_server(virtual_service=make_virtual_service(cluster=make_cluster()))
    response = api.get(url, {"search": "web\x00"})
    assert response.status_code == 400
    assert list(response.json()) == ["search"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("url", "query"), [("/api/clusters/", {"name": "a\x00"}), ("/api/hosts/", {"hostname__icontains": "a\x00"})]
)
def test_nul_in_a_filter_is_a_400_naming_it(api, url, query):
    response = api.get(url, query)
    assert response.status_code == 400
    assert list(response.json()) == list(query)
