"""Finding things and working by keyboard: “/” searches from any page, only the user's teams are searched,
and a real server is drained without a mouse."""

import pytest
from playwright.sync_api import Page, expect

from clusters.models import RealServer
from tests.browser.conftest import PASSWORD
from tests.browser.pages import screenshot, sign_in
from tests.factories import make_cluster, make_real_server, make_team, make_virtual_service

pytestmark = pytest.mark.django_db(transaction=True)


def test_slash_searches_the_user_s_teams_and_a_result_is_drained_by_keyboard(page: Page, operator):
    service = make_virtual_service(cluster=make_cluster(name="web frontend", slug="web"), address="10.10.0.100")
    make_real_server(virtual_service=service, address="10.20.0.11")
    make_real_server(virtual_service=service, address="10.20.0.12")
    elsewhere = make_virtual_service(cluster=make_cluster(name="billing", team=make_team(name="Finance")))
    make_real_server(virtual_service=elsewhere, address="10.20.0.13")  # another team's: never shown to olivia
    sign_in(page, "olivia", PASSWORD)

    page.keyboard.press("/")
    search = page.get_by_role("searchbox", name="Search VIPs, real servers and hosts")
    expect(search).to_be_focused()
    page.keyboard.type("10.20.0.1")
    page.keyboard.press("Enter")

    expect(page.get_by_role("heading", name="Search", level=1)).to_be_visible()
    expect(page.get_by_role("link", name="10.20.0.11:80")).to_be_visible()
    expect(page.get_by_role("link", name="10.20.0.12:80")).to_be_visible()
    expect(page.get_by_text("10.20.0.13")).to_have_count(0)
    expect(page.get_by_text("billing")).to_have_count(0)
    screenshot(page, "search")

    page.get_by_role("link", name="10.20.0.12:80").click()
    expect(page.get_by_role("heading", name="web frontend", level=1)).to_be_visible()
    row = page.get_by_role("row").filter(has_text="10.20.0.12:80")
    row.get_by_role("button", name="Drain").focus()
    page.keyboard.press("Enter")
    expect(row.get_by_text("draining", exact=True)).to_be_visible()
    expect(row.get_by_role("button", name="Enable")).to_be_focused()
    assert RealServer.objects.get(address="10.20.0.12").state == "draining"

    page.get_by_text("olivia", exact=True).click()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    page.keyboard.press("Escape")  # menus close with Escape
    expect(page.get_by_role("button", name="Sign out")).to_be_hidden()
