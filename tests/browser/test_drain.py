"""Drain, enable and disable a real server from the cluster page — for the next apply, or now — and what the
plan, the cluster page, the dashboard, the traffic page and the history then say."""

import re
import time

import pytest
from celery import current_app
from django.utils import timezone
from lvsweb_agent.envelope import generate_private_key, public_key_text
from playwright.sync_api import Page, expect

from clusters.choices import HostRole
from clusters.models import RealServer
from dispatch import actions
from dispatch.models import Deployment
from tests.browser.conftest import PASSWORD, off_the_browser_thread
from tests.browser.pages import screenshot, sign_in
from tests.dispatch.broker import purge, take_commands
from tests.factories import make_cluster, make_cluster_host, make_host, make_real_server, make_virtual_service
from tests.reports import sealed_report

pytestmark = pytest.mark.django_db(transaction=True)

SERVICE = "TCP 10.10.0.100:80"


@pytest.fixture
def applied_cluster(operator):
    """Cluster “web” with an enrolled director and two real servers, applied once (revision 1, which the
    director's agent reported applied: the Plan compares each host with what it applied)."""
    key = generate_private_key()
    cluster = make_cluster(name="web frontend", slug="web")
    director = make_host(hostname="director", vip_interface="eth0", public_key=public_key_text(key))
    make_cluster_host(cluster=cluster, host=director, role=HostRole.DIRECTOR)
    service = make_virtual_service(cluster=cluster, address="10.10.0.100", port=80, scheduler="rr")
    first = make_real_server(virtual_service=service, address="10.20.0.11", weight=5)
    second = make_real_server(virtual_service=service, address="10.20.0.12", weight=5)
    revision = off_the_browser_thread(actions.apply_cluster, acting_user=None, cluster=cluster)
    deployment = revision.deployments.get()
    applied = {"host": "director", "kind": "deployment", "deployment": deployment.pk, "status": "applied"}
    report = sealed_report({**applied, "serial": deployment.serial}, key, "director")
    assert off_the_browser_thread(actions.handle_report, envelope=report) == "applied"
    purge("lvsweb.host.director")  # the command its agent (this fixture) took
    return first, second


def test_drain_in_one_click_then_the_plan_shows_weight_0_and_the_history_who(page: Page, applied_cluster):
    first, _ = applied_cluster
    sign_in(page, "olivia", PASSWORD)
    page.get_by_role("link", name="web frontend").first.click()
    page.evaluate("window.stillTheSamePage = true")
    row = page.get_by_role("region", name=SERVICE).get_by_role("row").filter(has_text="10.20.0.11:80")
    row.get_by_role("button", name="Drain", exact=True).click()

    expect(row.get_by_text("draining", exact=True)).to_be_visible()
    expect(row.get_by_role("button", name="Enable", exact=True)).to_be_focused()  # the keyboard stays in the row
    assert page.evaluate("window.stillTheSamePage") is True  # the row changed in place
    screenshot(page, "drain")
    first.refresh_from_db()
    assert first.state == "draining"

    page.get_by_role("link", name="Plan & apply").click()
    director = page.locator("#host-director")
    change = director.get_by_role("row").filter(has_text="10.20.0.11:80")
    expect(change).to_contain_text("~ changed")
    expect(change).to_contain_text("weight 0")
    expect(director.get_by_role("row").filter(has_text="10.20.0.12:80")).to_have_count(0)  # untouched

    page.get_by_role("link", name="web frontend").first.click()
    page.get_by_role("link", name="History", exact=True).first.click()
    entry = page.get_by_role("row").filter(has_text="real_server.drain")
    expect(entry).to_contain_text("olivia")
    expect(entry).to_contain_text("10.20.0.11:80")
    expect(entry).to_contain_text("draining")
    screenshot(page, "history")


def test_enable_undoes_a_drain_and_disable_asks_first(page: Page, applied_cluster):
    first, _ = applied_cluster
    RealServer.objects.filter(pk=first.pk).update(state="draining")
    sign_in(page, "olivia", PASSWORD)
    page.goto("/clusters/web/")
    service = page.get_by_role("region", name=SERVICE)
    first_row = service.get_by_role("row").filter(has_text="10.20.0.11:80")
    first_row.get_by_role("button", name="Enable").click()
    expect(first_row.get_by_text("active", exact=True)).to_be_visible()

    service.get_by_role("row").filter(has_text="10.20.0.12:80").get_by_role("link", name="Disable…").click()
    expect(page.get_by_role("heading", name="Disable real server 10.20.0.12:80?")).to_be_visible()
    expect(page.get_by_role("main")).to_contain_text("its open connections break")
    screenshot(page, "disable-confirm")
    page.get_by_role("button", name="Disable 10.20.0.12:80").click()

    expect(page).to_have_url("/clusters/web/")
    second_row = page.get_by_role("region", name=SERVICE).get_by_role("row").filter(has_text="10.20.0.12:80")
    expect(second_row.get_by_text("disabled", exact=True)).to_be_visible()
    assert dict(RealServer.objects.values_list("address", "state")) == {
        "10.20.0.11": "active",
        "10.20.0.12": "disabled",
    }


@pytest.fixture
def sent_cluster(operator):
    """Cluster “web” applied once (revision 1) and applied on its enrolled director, which takes commands."""
    purge("lvsweb.host.director")
    cluster = make_cluster(name="web frontend", slug="web")
    director = make_host(hostname="director", vip_interface="eth0", public_key=public_key_text(generate_private_key()))
    make_cluster_host(cluster=cluster, host=director, role=HostRole.DIRECTOR)
    service = make_virtual_service(cluster=cluster, address="10.10.0.100", port=80, scheduler="rr")
    first = make_real_server(virtual_service=service, address="10.20.0.11", weight=5)
    second = make_real_server(virtual_service=service, address="10.20.0.12", weight=5)
    off_the_browser_thread(actions.apply_cluster, acting_user=None, cluster=cluster)
    Deployment.objects.update(status="applied")
    yield first, second
    purge("lvsweb.host.director")


def test_a_drain_says_it_waits_for_the_next_apply_and_drain_now_sends_it_at_once(page: Page, sent_cluster):
    first, _ = sent_cluster
    sign_in(page, "olivia", PASSWORD)
    page.goto("/clusters/web/")
    expect(page.get_by_text("unapplied change")).to_have_count(0)  # everything was sent
    row = page.get_by_role("region", name=SERVICE).get_by_role("row").filter(has_text="10.20.0.11:80")
    row.get_by_role("button", name="Drain", exact=True).click()
    expect(row).to_contain_text("weight 5 in revision 1 (last sent) → 0 at next apply (draining)")

    page.reload()
    expect(page.get_by_role("link", name="1 unapplied change → Plan")).to_be_visible()
    screenshot(page, "unapplied-bar")
    page.goto("/")
    expect(page.get_by_role("row").filter(has_text="web frontend")).to_contain_text("1 unapplied change → Plan")
    page.get_by_role("link", name="web frontend").first.click()

    page.evaluate("window.stillTheSamePage = true")
    row = page.get_by_role("region", name=SERVICE).get_by_role("row").filter(has_text="10.20.0.11:80")
    button = row.get_by_role("button", name="Drain now")
    expect(button).to_have_attribute("title", re.compile("Applies at once to the directors"))
    button.click()
    expect(row.get_by_text("draining", exact=True)).to_be_visible()
    expect(row).not_to_contain_text("at next apply")
    expect(row.get_by_role("button", name="Enable now")).to_be_visible()
    assert page.evaluate("window.stillTheSamePage") is True  # the row changed in place
    page.reload()
    expect(page.get_by_text("unapplied change")).to_have_count(0)

    assert list(Deployment.objects.filter(revision__number=2).values_list("host__hostname", flat=True)) == ["director"]
    apply_command, now_command = take_commands("lvsweb.host.director", expect=2)  # revision 1, then revision 2
    assert now_command["payload"] != apply_command["payload"]
    first.refresh_from_db()
    assert first.state == "draining"
    page.get_by_role("link", name="History", exact=True).first.click()
    entry = page.get_by_role("row").filter(has_text="real_server.drain_now")
    expect(entry).to_contain_text("olivia")
    expect(entry).to_contain_text("Drained 10.20.0.11:80 of TCP 10.10.0.100:80 now: revision 2")


def test_disable_now_asks_first_and_a_now_waits_for_the_apply_under_way(page: Page, sent_cluster):
    sign_in(page, "olivia", PASSWORD)
    page.goto("/clusters/web/")
    second_row = page.get_by_role("region", name=SERVICE).get_by_role("row").filter(has_text="10.20.0.12:80")
    second_row.get_by_role("link", name="Disable now…").click()
    expect(page.get_by_role("heading", name="Disable real server 10.20.0.12:80 now?")).to_be_visible()
    expect(page.get_by_role("main")).to_contain_text("remove it from their kernels")
    expect(page.get_by_role("main")).to_contain_text(
        "Every other change of the inventory still waits for the next apply"
    )
    screenshot(page, "disable-now-confirm")
    page.get_by_role("button", name="Disable 10.20.0.12:80 now").click()

    expect(page).to_have_url("/clusters/web/")
    expect(page.get_by_text("is now disabled: revision 2 is on its way to director")).to_be_visible()
    second_row = page.get_by_role("region", name=SERVICE).get_by_role("row").filter(has_text="10.20.0.12:80")
    expect(second_row.get_by_text("disabled", exact=True)).to_be_visible()

    # Revision 2 is still pending on the director: Enable now is refused, and the page says why.
    second_row.get_by_role("button", name="Enable now").click()
    expect(
        page.get_by_text("Revision 2 is still being applied on director; enable 10.20.0.12:80 now when")
    ).to_be_visible()
    assert RealServer.objects.get(address="10.20.0.12").state == "disabled"


def traffic_batch(key, seq: int, active: dict[str, int], started: float) -> None:
    """What the director's agent sends every second, signed: the whole table, on the agent's clock 2 s apart
    (one kernel counting window each). The drained server gets no new connections; the other gets 20 a window."""
    conns = {"10.20.0.11": 500, "10.20.0.12": 500 + 20 * seq}
    rows = [["tcp 10.10.0.100:80", None, 0, sum(active.values()), 0, sum(conns.values()), 9000, 0, 640000, 0]]
    rows += [["tcp 10.10.0.100:80", rs, 80, count, 0, conns[rs], 4500, 0, 320000, 0] for rs, count in active.items()]
    payload = {"kind": "traffic", "host": "director", "epoch": "browser-test", "seq": seq, "at": started + 2 * seq}
    payload.update(interval=1.0, full=True, rows=rows, gone=[])
    current_app.send_task("lvsweb.control.traffic", args=[sealed_report(payload, key, "director")], queue="control")


def test_a_drained_real_server_s_connections_count_down_live(page: Page, operator, control_worker):
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
    sign_in(page, "olivia", PASSWORD)
    page.goto("/clusters/web/")
    row = page.get_by_role("region", name=SERVICE).get_by_role("row").filter(has_text="10.20.0.11:80")
    row.get_by_role("button", name="Drain").click()
    expect(row.get_by_text("draining", exact=True)).to_be_visible()

    page.get_by_role("link", name="Traffic", exact=True).first.click()
    expect(page.get_by_text("Live: figures update every second.")).to_be_visible()
    drained = page.get_by_role("region", name=SERVICE).get_by_role("row").filter(has_text="10.20.0.11:80")
    other = page.get_by_role("region", name=SERVICE).get_by_role("row").filter(has_text="10.20.0.12:80")
    started = time.time()
    for seq, left in enumerate((7, 3, 0), start=1):
        traffic_batch(key, seq, {"10.20.0.11": left, "10.20.0.12": 5}, started)
        expect(drained.locator('td[data-label="Active"]')).to_have_text(str(left))
        expect(other.locator('td[data-label="Active"]')).to_have_text("5")
        if seq == 2:
            screenshot(page, "traffic-draining")
    # A draining server is expected to get no new connections, and its sibling gets them: no warning anywhere.
    for row in (drained, other):
        expect(row.get_by_text("no new connections")).to_be_hidden()
