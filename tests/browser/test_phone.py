"""The console on a phone: every main page fits the screen's width (tables scroll inside their own box)."""

import pytest
from playwright.sync_api import Page, expect

from clusters.choices import HostRole
from tests.browser.conftest import PASSWORD
from tests.browser.pages import screenshot, sign_in
from tests.factories import make_cluster, make_cluster_host, make_host, make_real_server, make_virtual_service

pytestmark = pytest.mark.django_db(transaction=True)


def overflow(page: Page) -> int:
    """How many CSS pixels the page is wider than the screen (0: no sideways scrolling)."""
    return page.evaluate("document.documentElement.scrollWidth - window.innerWidth")


def test_the_main_pages_fit_a_phone_screen(phone: Page, operator):
    cluster = make_cluster(name="web frontend", slug="web")
    director = make_host(hostname="director.example.net", vip_interface="eth0")
    make_cluster_host(cluster=cluster, host=director, role=HostRole.DIRECTOR)
    service = make_virtual_service(cluster=cluster, address="10.10.0.100", port=443, name="shop https")
    make_real_server(virtual_service=service, address="10.20.0.11")
    make_real_server(virtual_service=service, address="10.20.0.12", state="draining")
    sign_in(phone, "olivia", PASSWORD)

    pages = {
        "dashboard": ("/", "Dashboard"),
        "cluster": ("/clusters/web/", "web frontend"),
        "plan": ("/clusters/web/plan/", "Plan: web frontend"),
        "host": (f"/hosts/{director.pk}/", "director.example.net"),
        "enrollment": (f"/hosts/{director.pk}/enroll/", "Enroll director.example.net"),
        "import": ("/clusters/web/import/", "Import rules into web frontend"),
        "history": ("/clusters/web/history/", "History of web frontend"),
    }
    too_wide = {}
    for name, (url, heading) in pages.items():
        phone.goto(url)
        expect(phone.get_by_role("heading", name=heading, level=1)).to_be_visible()
        screenshot(phone, f"phone-{name}")
        if overflow(phone) > 0:
            too_wide[name] = overflow(phone)
    assert too_wide == {}, f"pages wider than a 390-px phone (px too wide): {too_wide}"
