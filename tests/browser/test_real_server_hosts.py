"""A TUN real server that nothing configures, in the browser: the cluster page and the Plan say that its traffic
will be dropped, until its host is added to the cluster (the link follows the host's address) or it is marked as
configured by hand (issue 14, item 3)."""

import pytest
from lvsweb_agent.envelope import generate_private_key, public_key_text
from playwright.sync_api import Page, expect

from clusters.models import RealServer
from tests.browser.conftest import PASSWORD
from tests.browser.pages import screenshot, sign_in
from tests.factories import make_cluster, make_host, make_real_server, make_virtual_service

pytestmark = pytest.mark.django_db(transaction=True)

SERVICE = "TCP 198.51.100.10:80"
DROPPED = (
    "traffic to 203.0.113.11 will be dropped: no host configures the VIP on tunl0 there — link a host or mark it "
    "as configured by hand"
)


@pytest.fixture
def unlinked(operator):
    """Cluster “web frontend” with TUN real servers 203.0.113.11 and .12 of nobody; host web1 at 203.0.113.11,
    enrolled, in no cluster yet."""
    cluster = make_cluster(name="web frontend", slug="web")
    service = make_virtual_service(cluster=cluster, address="198.51.100.10", port=80)
    make_real_server(virtual_service=service, address="203.0.113.11")
    make_real_server(virtual_service=service, address="203.0.113.12")
    return make_host(
        hostname="web1", management_address="203.0.113.11", public_key=public_key_text(generate_private_key())
    )


def test_the_flag_shows_on_the_cluster_page_and_the_plan_and_goes_once_the_host_is_added(page: Page, unlinked):
    sign_in(page, "olivia", PASSWORD)
    page.get_by_role("link", name="web frontend").first.click()
    note = page.locator("#unconfigured-real-servers")
    expect(note).to_contain_text("2 TUN/DR real servers that nothing configures")
    expect(note).to_contain_text(DROPPED)
    rows = page.get_by_role("region", name=SERVICE).get_by_role("row")
    expect(rows.filter(has_text="203.0.113.11:80")).to_contain_text("not configured: traffic dropped")
    screenshot(page, "unconfigured-real-servers")

    page.get_by_role("link", name="Plan & apply").click()
    expect(page.locator("#unconfigured-real-servers")).to_contain_text(DROPPED)

    # Registering web1 as a real server of the cluster links the real server at its address.
    page.goto(f"/hosts/{unlinked.pk}/")
    page.get_by_role("combobox", name="Add to cluster").select_option(label="web frontend")
    page.get_by_role("combobox", name="as").select_option("real_server")
    page.get_by_role("button", name="Add", exact=True).click()
    expect(page.get_by_role("row").filter(has_text="web frontend")).to_contain_text("real server")

    page.goto("/clusters/web/")
    row = page.get_by_role("region", name=SERVICE).get_by_role("row").filter(has_text="203.0.113.11:80")
    expect(row.get_by_role("link", name="web1")).to_be_visible()
    expect(row).not_to_contain_text("not configured")
    note = page.locator("#unconfigured-real-servers")
    expect(note).to_contain_text("1 TUN/DR real server that nothing configures")
    expect(note).not_to_contain_text("203.0.113.11")

    # The other one is set up by hand: the form says so, and the flag is gone everywhere.
    other = page.get_by_role("region", name=SERVICE).get_by_role("row").filter(has_text="203.0.113.12:80")
    other.get_by_role("link", name="Edit").click()
    page.get_by_role("checkbox", name="configured by hand").check()
    page.get_by_role("button", name="Save changes").click()
    expect(page.get_by_role("region", name=SERVICE)).to_be_visible()
    expect(page.locator("#unconfigured-real-servers")).to_have_count(0)
    expect(
        page.get_by_role("region", name=SERVICE).get_by_role("row").filter(has_text="203.0.113.12:80")
    ).to_contain_text("configured by hand")
    page.get_by_role("link", name="Plan & apply").click()
    expect(page.get_by_role("heading", name="Plan: web frontend")).to_be_visible()
    expect(page.locator("#unconfigured-real-servers")).to_have_count(0)
    assert RealServer.objects.get(address="203.0.113.11").host == unlinked
    assert RealServer.objects.get(address="203.0.113.12").configured_by_hand
