"""Signing in and out in the browser, and the dashboard a signed-in operator lands on."""

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import PASSWORD
from tests.browser.pages import screenshot, sign_in
from tests.factories import make_cluster

pytestmark = pytest.mark.django_db(transaction=True)


def test_an_operator_signs_in_and_sees_the_clusters_of_the_team(page: Page, operator):
    make_cluster(name="web frontend", slug="web")
    page.goto("/")
    expect(page).to_have_url("/accounts/login/?next=/")
    screenshot(page, "sign-in")

    sign_in(page, "olivia", PASSWORD)

    expect(page.get_by_role("heading", name="Dashboard", level=1)).to_be_visible()
    expect(page.get_by_role("link", name="web frontend").first).to_be_visible()
    expect(page.locator("header").get_by_text("olivia", exact=True)).to_be_visible()
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
