"""Console: the cluster page's health section (a partial) and the forms that configure checks."""

import time
from datetime import UTC, datetime

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from clusters.models import HealthCheck, HealthTransition, RealServerHealth
from dispatch import actions
from dispatch.overview import health_sections
from tests.factories import make_member, make_real_server, make_user, make_virtual_service
from tests.reports import sealed_report

pytestmark = pytest.mark.django_db


def browser(role="operator"):
    user = make_user(staff=False)
    make_member(user, role=role)
    client = Client()
    client.force_login(user)
    return client, user


def health_section(cluster, user) -> str:
    """The Health section of `cluster`'s page as `user` sees it."""
    client = Client()
    client.force_login(user)
    html = client.get(f"/clusters/{cluster.slug}/").content.decode()
    return html[html.index('id="health"') :]


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


def quorum_change(service, at: datetime, to_status: str = "sorry server") -> HealthTransition:
    """A quorum change of `service` as the director reports it (named the agent's way, `tcp 10.10.0.100:80`)."""
    return HealthTransition.objects.create(
        cluster=service.cluster,
        service=f"{service.protocol} {service.address}:{service.port}",
        from_status="quorum" if to_status == "sorry server" else "sorry server",
        to_status=to_status,
        at=at,
        reported_by="director",
    )


def health_cards(html: str) -> dict[str, str]:
    """The cluster page's Health section, card by card, by the service's heading (`TCP 10.10.0.100:80`)."""
    section = html[html.index('id="health"') :]
    cards = section.split('<div class="card">')[1:]
    return {card.split("<h3>", 1)[1].split("</h3>", 1)[0]: card for card in cards}


def test_each_service_shows_its_own_quorum_changes_only(lab):
    other = make_virtual_service(cluster=lab.cluster, address="10.10.0.101", port=80)
    make_real_server(virtual_service=other, address="10.20.0.11", host=lab.rs1)
    quorum_change(lab.service, datetime(2026, 1, 1, 10, 0, 1, tzinfo=UTC))
    quorum_change(other, datetime(2026, 1, 1, 10, 0, 2, tzinfo=UTC))
    quorum_change(other, datetime(2026, 1, 1, 10, 0, 3, tzinfo=UTC), to_status="quorum")
    client, _ = browser("viewer")
    cards = health_cards(client.get("/clusters/web/").content.decode())
    assert set(cards) == {"TCP 10.10.0.100:80", "TCP 10.10.0.101:80"}
    first, second = cards["TCP 10.10.0.100:80"], cards["TCP 10.10.0.101:80"]
    assert "10:00:01" in first and "10:00:02" not in first and "10:00:03" not in first
    assert "10:00:02" in second and "10:00:03" in second and "10:00:01" not in second
    assert second.index("10:00:03") < second.index("10:00:02"), "the latest change comes first"


def test_the_health_section_costs_the_same_queries_for_two_services_or_five(lab):
    client, _ = browser("viewer")

    def queries_with(count: int) -> int:
        while lab.cluster.virtual_services.count() < count:
            service = make_virtual_service(cluster=lab.cluster)
            real_server = make_real_server(virtual_service=service)
            HealthCheck.objects.create(virtual_service=service, cluster=lab.cluster, check_type="tcp")
            HealthCheck.objects.create(real_server=real_server, cluster=lab.cluster, check_type="http", path="/")
            RealServerHealth.objects.create(cluster=lab.cluster, real_server=real_server, status="up")
            quorum_change(service, timezone.now())
        with CaptureQueriesContext(connection) as queries:
            response = client.get("/clusters/web/")
        assert response.status_code == 200
        assert len(health_cards(response.content.decode())) == count
        return len(queries)

    assert queries_with(2) == queries_with(5)


def test_the_health_section_reads_three_queries_whatever_the_number_of_services(lab, django_assert_num_queries):
    for _ in range(4):
        service = make_virtual_service(cluster=lab.cluster)
        make_real_server(virtual_service=service)
        HealthCheck.objects.create(virtual_service=service, cluster=lab.cluster, check_type="tcp")
        quorum_change(service, timezone.now())
    services = list(lab.cluster.virtual_services.prefetch_related("real_servers"))
    with django_assert_num_queries(3):
        sections = health_sections(lab.cluster, services)
    assert [len(section["quorum_changes"]) for section in sections] == [0, 1, 1, 1, 1]
