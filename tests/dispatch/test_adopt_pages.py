"""The adopt pages and API: the host page's button, the reading's page (waiting, proposal, confirmation), the API's
status codes and bodies, and who may do it (operators and owners; a viewer is refused)."""

import pytest
from django.test import Client
from rest_framework.test import APIClient

from audit.models import AuditEntry
from clusters.models import Cluster
from dispatch.models import KernelReading
from teams.choices import TeamRole
from tests.dispatch.test_adopt import VIP, director_fixture, operator  # noqa: F401 (the fixture)
from tests.factories import make_cluster

pytestmark = pytest.mark.django_db(transaction=True)


def signed_in(user, api=False):
    client = APIClient() if api else Client()
    client.force_login(user)
    return client


def answered(director, response) -> int:
    """The reading the response redirected to (or returned), answered by the host's agent."""
    assert director.take_and_run() == ["read"]
    return KernelReading.objects.latest("id").pk


def test_the_host_page_offers_adopting_and_the_proposal_is_confirmed(director):
    user = operator()
    browser = signed_in(user)
    page = browser.get(f"/hosts/{director.host.pk}/")
    assert "Adopt what this kernel runs" in page.content.decode()

    response = browser.post(f"/hosts/{director.host.pk}/adopt/")
    reading = KernelReading.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/hosts/{director.host.pk}/adopt/{reading.pk}/"
    waiting = browser.get(response["Location"])
    assert "Waiting for the agent" in waiting.content.decode()
    assert '<meta http-equiv="refresh"' in waiting.content.decode()
    answered(director, response)

    page = browser.get(response["Location"])
    text = page.content.decode()
    assert page.status_code == 200 and '2</div><div class="label">IPVS services' in text
    assert f"tcp {VIP}:443" in text  # a checkbox per service

    form = {"name": "adopted", "slug": "adopted", "team": str(user.memberships.get().team_id)}
    form["services"] = [f"tcp {VIP}:80", f"tcp {VIP}:443"]
    preview = browser.post(response["Location"], {**form, "action": "preview"})
    text = preview.content.decode()
    assert preview.status_code == 200, text
    assert 'id="adopt-plan-empty"' in text and "Adopt and apply" in text
    assert text.count('<span class="badge added">create</span>') == 6
    assert not Cluster.objects.filter(slug="adopted").exists()

    done = browser.post(response["Location"], {**form, "action": "commit"})
    assert done.status_code == 302 and done["Location"] == "/clusters/adopted/revisions/1/"
    assert AuditEntry.objects.filter(action="host.adopt").count() == 1


def test_a_conflict_is_shown_and_nothing_is_adopted(director):
    user = operator()
    cluster = make_cluster(name="web", slug="web")
    browser = signed_in(user)
    response = browser.post(f"/hosts/{director.host.pk}/adopt/")
    answered(director, response)
    from clusters.actions.virtual_services import create_virtual_service

    create_virtual_service(
        acting_user=user,
        cluster=cluster,
        fields={"protocol": "tcp", "address": VIP, "port": 80, "scheduler": "wlc", "forward_method": "tun"},
    )
    form = {"cluster": "web", "services": [f"tcp {VIP}:80"], "action": "commit"}
    page = browser.post(response["Location"], form)
    text = page.content.decode()
    assert page.status_code == 400
    assert "Nothing was adopted" in text and "scheduler: wlc → rr" in text
    assert cluster.virtual_services.get().scheduler == "wlc" and not cluster.revisions.exists()


def test_a_viewer_sees_no_button_and_is_refused(director):
    viewer = operator(TeamRole.VIEWER)
    browser = signed_in(viewer)
    assert "Adopt what this kernel runs" not in browser.get(f"/hosts/{director.host.pk}/").content.decode()
    assert browser.post(f"/hosts/{director.host.pk}/adopt/").status_code == 403
    api = signed_in(viewer, api=True)
    response = api.post(f"/api/hosts/{director.host.pk}/adopt/")
    assert response.status_code == 403 and "operator or owner role" in response.json()["detail"]
    reading = signed_in(operator(), api=True).post(f"/api/hosts/{director.host.pk}/adopt/").json()
    assert api.get(f"/api/hosts/{director.host.pk}/adopt/{reading['id']}/").status_code == 403
    assert browser.get(f"/hosts/{director.host.pk}/adopt/{reading['id']}/").status_code == 403
    assert KernelReading.objects.count() == 1


def test_the_api_reads_previews_and_commits(director):
    user = operator()
    api = signed_in(user, api=True)
    response = api.post(f"/api/hosts/{director.host.pk}/adopt/")
    assert response.status_code == 202 and response.json()["status"] == "pending"
    number = response.json()["id"]
    assert director.take_and_run() == ["read"]
    reading = api.get(f"/api/hosts/{director.host.pk}/adopt/{number}/").json()
    assert reading["status"] == "read" and len(reading["reading"]["services"]) == 2

    team = user.memberships.get().team.slug
    body = {"new_cluster": {"team": team, "name": "adopted", "slug": "adopted"}, "exclude": [f"tcp {VIP}:443"]}
    preview = api.post(f"/api/hosts/{director.host.pk}/adopt/{number}/preview/", body, format="json")
    assert preview.status_code == 200, preview.json()
    data = preview.json()
    assert (data["role"], data["ok"], data["kernel_operations"], data["revision"]) == ("director", True, 0, None)
    assert [(row["label"], row["change"]) for row in data["rows"] if row["kind"] == "service"] == [
        (f"TCP {VIP}:80", "create")
    ]

    bad = api.post(
        f"/api/hosts/{director.host.pk}/adopt/{number}/preview/", {"exclude": ["udp 1.2.3.4:5"]}, format="json"
    )
    assert bad.status_code == 400 and "Not in the reading: udp 1.2.3.4:5" in str(bad.json()["exclude"])

    commit = api.post(f"/api/hosts/{director.host.pk}/adopt/{number}/commit/", body, format="json")
    assert commit.status_code == 201, commit.json()
    assert commit.json()["revision"] == 1 and commit.json()["counts"]["real_servers_create"] == 2
    assert Cluster.objects.get(slug="adopted").virtual_services.count() == 1
