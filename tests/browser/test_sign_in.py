"""Signing in and out in the browser, and the dashboard a signed-in operator lands on."""

import pytest
from playwright.sync_api import Page, expect

from clusters.choices import HostRole
from tests.browser.conftest import PASSWORD
from tests.browser.pages import screenshot, sign_in
from tests.factories import (
    make_cluster,
    make_cluster_host,
    make_host,
    make_real_server,
    make_team,
    make_virtual_service,
)

pytestmark = pytest.mark.django_db(transaction=True)


def test_an_operator_signs_in_and_sees_the_health_of_the_team_s_clusters(page: Page, operator):
    web = make_cluster(name="web frontend", slug="web")
    make_cluster_host(cluster=web, host=make_host(hostname="director"), role=HostRole.DIRECTOR)
    service = make_virtual_service(cluster=web, address="10.10.0.100", port=80)
    for address, state in [("10.20.0.11", "active"), ("10.20.0.12", "active"), ("10.20.0.13", "draining")]:
        make_real_server(virtual_service=service, address=address, state=state)
    make_real_server(virtual_service=service, address="10.20.0.14", state="disabled")
    make_cluster(name="dns resolvers", slug="dns")
    make_cluster(name="billing", slug="billing", team=make_team(name="Finance"))  # not olivia's team
    page.goto("/")
    expect(page).to_have_url("/accounts/login/?next=/")
    screenshot(page, "sign-in")

    sign_in(page, "olivia", PASSWORD)

    expect(page.get_by_role("heading", name="Dashboard", level=1)).to_be_visible()
    expect(page.locator("header").get_by_text("olivia", exact=True)).to_be_visible()
    web_row = page.get_by_role("row").filter(has=page.get_by_role("link", name="web frontend"))
    for health in ("1 never enrolled", "2 active", "1 draining", "1 disabled"):
        expect(web_row.first).to_contain_text(health)
    expect(page.get_by_role("row").filter(has_text="dns resolvers").first).to_contain_text("no hosts yet")
    expect(page.get_by_text("billing")).to_have_count(0)
    screenshot(page, "dashboard")


def test_a_wrong_password_is_refused_and_the_user_name_kept(page: Page, operator):
    page.goto("/accounts/login/")
    page.get_by_label("User name").fill("olivia")
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign in").click()

    expect(page.get_by_text("Please enter a correct username and password")).to_be_visible()
    expect(page.get_by_label("User name")).to_have_value("olivia")
    expect(page.get_by_role("heading", name="Dashboard")).to_have_count(0)


def test_signing_out_ends_the_session(page: Page, operator):
    sign_in(page, "olivia", PASSWORD)
    page.get_by_text("olivia", exact=True).click()  # the account menu
    page.get_by_role("button", name="Sign out").click()

    expect(page).to_have_url("/accounts/login/")
    page.goto("/")
    expect(page).to_have_url("/accounts/login/?next=/")
