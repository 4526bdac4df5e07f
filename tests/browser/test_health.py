"""Health on the cluster page: an operator sets a check in the form, and the director's reports show live."""

import time

import pytest
from celery import current_app
from django.utils import timezone
from lvsweb_agent.envelope import generate_private_key, public_key_text
from playwright.sync_api import Page, expect

from clusters.choices import HostRole
from clusters.models import HealthCheck
from tests.browser.conftest import PASSWORD
from tests.browser.pages import screenshot, sign_in
from tests.factories import make_cluster, make_cluster_host, make_host, make_real_server, make_virtual_service
from tests.reports import sealed_report

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def director_key(operator):
    """Cluster “web” with an enrolled director (its key returned) and two real servers."""
    key = generate_private_key()
    cluster = make_cluster(name="web frontend", slug="web")
    director = make_host(
        hostname="director",
        vip_interface="eth0",
        public_key=public_key_text(key),
        enrolled_at=timezone.now(),
        agent_status="online",
        last_heartbeat_at=timezone.now(),
    )
    make_cluster_host(cluster=cluster, host=director, role=HostRole.DIRECTOR)
    service = make_virtual_service(cluster=cluster, address="10.10.0.100", port=80, scheduler="rr")
    make_real_server(virtual_service=service, address="10.20.0.11")
    make_real_server(virtual_service=service, address="10.20.0.12")
    return key


def test_an_operator_sets_a_check_and_a_bad_value_is_shown_on_its_field(page: Page, director_key):
    sign_in(page, "olivia", PASSWORD)
    page.goto("/clusters/web/")
    health = page.get_by_role("region", name="Health")
    health.get_by_role("link", name="Add a check").click()
    page.get_by_role("combobox", name="Check").select_option("http")
    page.get_by_label("Path").fill("healthz")
    page.get_by_label("Interval").fill("2")
    page.get_by_label("Timeout").fill("1")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#field-path")).to_contain_text("Give a path starting with “/”")
    expect(page.get_by_label("Path")).to_have_value("healthz")  # what was typed is kept
    page.get_by_label("Path").fill("/healthz")
    page.get_by_role("button", name="Save").click()
    expect(page).to_have_url("/clusters/web/#health")
    expect(page.get_by_role("region", name="Health")).to_contain_text("HTTP GET /healthz expecting 200–399 every 2 s")
    assert HealthCheck.objects.get().path == "/healthz"


def test_a_directors_health_report_shows_on_the_page_without_a_reload(page: Page, director_key, control_worker):
    sign_in(page, "olivia", PASSWORD)
    page.goto("/clusters/web/")
    page.evaluate("window.stillTheSamePage = true")
    row = page.get_by_role("region", name="Health").get_by_role("row").filter(has_text="10.20.0.11:80")
    expect(row.locator(".health-status")).to_have_text("unknown")
    now = time.time()
    item = {"service": "tcp 10.10.0.100:80", "address": "10.20.0.11", "port": 80}
    message = "HTTP GET / on 10.20.0.11:80: status 503, expected 200-399"
    payload = {
        "kind": "health",
        "host": "director",
        "sent_at": now,
        "results": [{**item, "status": "down", "message": message, "latency_ms": 4.2, "checked_at": now}],
        "transitions": [{**item, "from": "up", "to": "down", "at": now, "message": message, "latency_ms": 4.2}],
    }
    current_app.send_task(
        "lvsweb.control.report", args=[sealed_report(payload, director_key, "director")], queue="control"
    )
    expect(row.locator(".health-status")).to_have_text("down")
    expect(row.locator(".health-message")).to_have_text(message)
    expect(row.locator(".health-latency")).to_have_text("4.2 ms")
    expect(row.locator(".health-timeline")).to_contain_text("up → down")
    assert page.evaluate("window.stillTheSamePage") is True
    screenshot(page, "health-live")
