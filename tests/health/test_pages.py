"""Console: the cluster page's health section (a partial) and the forms that configure checks."""

import time

import pytest
from django.template import Context, Template
from django.test import Client, RequestFactory

from agents import actions
from clusters.models import HealthCheck, RealServerHealth
from tests.factories import make_member, make_user
from tests.reports import sealed_report

pytestmark = pytest.mark.django_db


def browser(role="operator"):
    user = make_user(staff=False)
    make_member(user, role=role)
    client = Client()
    client.force_login(user)
    return client, user


def health_section(cluster, user) -> str:
    request = RequestFactory().get("/")
    request.user = user
    template = Template("{% load health_tags %}{% cluster_health cluster %}")
    return template.render(Context({"cluster": cluster, "request": request}))


@pytest.mark.django_db(transaction=True)
def test_the_partial_shows_status_last_result_latency_and_the_timeline(lab):
    HealthCheck.objects.create(virtual_service=lab.service, cluster=lab.cluster, check_type="http", path="/healthz")
    now = time.time()
    item = {"service": "tcp 10.10.0.100:80", "address": "10.20.0.11", "port": 80}
    payload = {
        "kind": "health",
        "host": "director",
        "sent_at": now,
        "results": [
            {
                **item,
                "status": "down",
                "message": "HTTP GET /healthz: status 503",
                "latency_ms": 12.34,
                "checked_at": now,
            }
        ],
        "transitions": [{**item, "from": "up", "to": "down", "at": now, "message": "HTTP GET /healthz: status 503"}],
    }
    actions.handle_report(sealed_report(payload, lab.keys["director"], "director"))
    _, viewer = browser("viewer")
    html = health_section(lab.cluster, viewer)
    assert "HTTP GET /healthz expecting 200–399 every 5 s" in html
    assert 'class="badge health-status down">down' in html
    assert "HTTP GET /healthz: status 503" in html and "12.3 ms" in html
    assert "up → down" in html
    assert "Edit check" not in html, "a viewer gets no edit links"
    _, operator = browser("operator")
    assert "Edit check" in health_section(lab.cluster, operator)


def test_an_operator_configures_a_check_in_the_form(lab):
    client, _ = browser()
    url = f"/clusters/web/services/{lab.service.pk}/health/"
    assert client.get(url).status_code == 200
    fields = {
        "check_type": "http",
        "path": "/healthz",
        "host_header": "",
        "expect_status_min": 200,
        "expect_status_max": 299,
        "body_match": "",
        "interval": 5,
        "timeout": 2,
        "rise": 2,
        "fall": 3,
        "on_failure": "weight0",
        "quorum": 1,
        "sorry_address": "10.10.0.21",
        "sorry_port": "",
        "sorry_forward_method": "dr",
    }
    response = client.post(url, fields)
    assert response.status_code == 302 and response["Location"] == "/clusters/web/#health"
    check = HealthCheck.objects.get(virtual_service=lab.service)
    assert (check.path, check.expect_status_max, check.quorum, check.sorry_address) == (
        "/healthz",
        299,
        1,
        "10.10.0.21",
    )


def test_a_bad_value_is_shown_on_its_field_and_what_was_typed_is_kept(lab):
    client, _ = browser()
    url = f"/clusters/web/services/{lab.service.pk}/health/"
    fields = {"check_type": "http", "path": "healthz", "expect_status_min": 200, "expect_status_max": 399}
    fields |= {"interval": 2, "timeout": 5, "rise": 2, "fall": 3, "on_failure": "weight0", "quorum": 0}
    fields |= {"sorry_forward_method": "dr"}
    response = client.post(url, fields)
    assert response.status_code == 400
    html = response.content.decode()
    assert "Give a path starting with “/”" in html and 'value="healthz"' in html
    assert "must not exceed the interval" in html
    assert not HealthCheck.objects.exists()


def test_a_real_server_override_and_going_back_to_the_services_check(lab):
    client, _ = browser()
    url = f"/clusters/web/real-servers/{lab.real_server1.pk}/health/"
    page = client.get(url).content.decode()
    assert "sorry_address" not in page, "an override has no quorum or sorry server"
    fields = {"check_type": "none", "path": "/", "expect_status_min": 200, "expect_status_max": 399}
    fields |= {"interval": 5, "timeout": 3, "rise": 2, "fall": 3, "on_failure": "weight0"}
    assert client.post(url, fields).status_code == 302
    assert HealthCheck.objects.get().real_server == lab.real_server1
    assert client.post(url, {"remove": "1"}).status_code == 302
    assert not HealthCheck.objects.exists()


def test_viewers_may_not_open_the_form_and_outsiders_do_not_see_it(lab):
    viewer, _ = browser("viewer")
    url = f"/clusters/web/services/{lab.service.pk}/health/"
    assert viewer.get(url).status_code == 403
    assert viewer.post(url, {"check_type": "tcp"}).status_code == 403
    outsider = Client()
    outsider.force_login(make_user(staff=False))
    assert outsider.get(url).status_code == 404
    assert outsider.get(f"/clusters/other/services/{lab.service.pk}/health/").status_code == 404


def test_the_cluster_page_includes_the_health_of_the_services_it_lists(lab):
    RealServerHealth.objects.create(
        cluster=lab.cluster, real_server=lab.real_server1, status="down", message="TCP connect: Connection refused"
    )
    client, _ = browser("viewer")
    html = client.get("/clusters/web/").content.decode()
    assert 'id="health"' in html and "TCP connect: Connection refused" in html
    assert f'<tr data-real-server="{lab.real_server1.pk}">' in html
    filtered = client.get("/clusters/web/", {"q": "10.99.99.99"}).content.decode()
    assert f'<tr data-real-server="{lab.real_server1.pk}">' not in filtered
