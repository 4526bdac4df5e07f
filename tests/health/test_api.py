"""The health API: checks written through the actions (errors name the field); reported health read-only."""

import time

import pytest
from rest_framework.test import APIClient

from audit.models import AuditEntry
from clusters.models import HealthCheck
from dispatch import actions
from tests.factories import make_member, make_team, make_user
from tests.reports import sealed_report

pytestmark = pytest.mark.django_db


def client_for(role="operator", team=None):
    user = make_user(staff=False)
    make_member(user, role=role, team=team)
    client = APIClient()
    client.force_login(user)
    return client


def test_an_operator_sets_a_service_check_and_an_override(lab):
    api = client_for()
    body = {"virtual_service": lab.service.pk, "check_type": "http", "path": "/healthz", "tunnel_path": True}
    response = api.post("/api/health-checks/", body, format="json")
    assert response.status_code == 201, response.json()
    assert (response.json()["cluster"], response.json()["path"], response.json()["fall"]) == ("web", "/healthz", 3)
    override = api.post(
        "/api/health-checks/", {"real_server": lab.real_server2.pk, "check_type": "none"}, format="json"
    )
    assert override.status_code == 201, override.json()
    patched = api.patch(f"/api/health-checks/{response.json()['id']}/", {"interval": 10, "timeout": 4}, format="json")
    assert (patched.status_code, patched.json()["interval"]) == (200, 10.0)
    assert AuditEntry.objects.filter(action="health_check.update", changes__interval=[5.0, 10.0]).exists()
    assert api.delete(f"/api/health-checks/{override.json()['id']}/").status_code == 204
    assert list(HealthCheck.objects.values_list("real_server", flat=True)) == [None]


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"check_type": "http", "path": "healthz"}, "path", "starting with “/”"),
        ({"interval": 1, "timeout": 2}, "timeout", "must not exceed the interval"),
        ({"quorum": 1}, "sorry_address", "needs a sorry server"),
        ({"quorum": 1, "sorry_address": "10.20.0.11"}, "sorry_address", "already a real server"),
        ({"rise": "many"}, "rise", "valid integer"),
        ({"check_type": "ping"}, "check_type", "not a valid choice"),
    ],
)
def test_bad_values_answer_400_naming_the_field(lab, body, field, words):
    response = client_for().post("/api/health-checks/", {"virtual_service": lab.service.pk, **body}, format="json")
    assert response.status_code == 400
    assert any(words in message for message in response.json()[field]), response.json()
    assert not HealthCheck.objects.exists()


def test_a_check_names_one_target_and_only_one_check_per_target(lab):
    api = client_for()
    both = api.post(
        "/api/health-checks/", {"virtual_service": lab.service.pk, "real_server": lab.real_server1.pk}, format="json"
    )
    assert both.status_code == 400 and "Name the virtual service" in both.json()["virtual_service"][0]
    assert api.post("/api/health-checks/", {"virtual_service": lab.service.pk}, format="json").status_code == 201
    again = api.post("/api/health-checks/", {"virtual_service": lab.service.pk}, format="json")
    assert again.status_code == 400 and "already has a health check" in again.json()["virtual_service"][0]


def test_viewers_read_but_do_not_write_and_other_teams_see_nothing(lab):
    check = HealthCheck.objects.create(virtual_service=lab.service, cluster=lab.cluster)
    viewer = client_for("viewer")
    assert viewer.get("/api/health-checks/").json()["count"] == 1
    refused = viewer.patch(f"/api/health-checks/{check.pk}/", {"fall": 9}, format="json")
    assert refused.status_code == 403 and "operator or owner role" in refused.json()["detail"]
    outsider = client_for("owner", team=make_team())
    assert outsider.get("/api/health-checks/").json()["count"] == 0
    assert outsider.get(f"/api/health-checks/{check.pk}/").status_code == 404
    # Naming another team's service is “does not exist”, as if it did not.
    other = outsider.post("/api/health-checks/", {"virtual_service": lab.service.pk}, format="json")
    assert other.status_code == 400 and "does not exist" in other.json()["virtual_service"][0]


@pytest.mark.django_db(transaction=True)
def test_reported_health_and_the_timeline_are_listed_per_cluster(lab):
    now = time.time()
    item = {"service": "tcp 10.10.0.100:80", "address": "10.20.0.11", "port": 80}
    payload = {
        "kind": "health",
        "host": "director",
        "sent_at": now,
        "results": [{**item, "status": "down", "message": "refused", "latency_ms": None, "checked_at": now}],
        "transitions": [{**item, "from": "up", "to": "down", "at": now, "message": "refused"}],
    }
    actions.handle_report(sealed_report(payload, lab.keys["director"], "director"))
    api = client_for("viewer")
    health = api.get("/api/real-server-health/", {"cluster": "web"}).json()
    assert [(r["endpoint"], r["status"], r["message"]) for r in health["results"]] == [
        ("10.20.0.11:80", "down", "refused")
    ]
    timeline = api.get("/api/health-transitions/", {"cluster": "web", "to_status": "down"}).json()
    assert [(t["endpoint"], t["from_status"], t["to_status"]) for t in timeline["results"]] == [
        ("10.20.0.11:80", "up", "down")
    ]
    assert api.post("/api/health-transitions/", {}, format="json").status_code == 405
