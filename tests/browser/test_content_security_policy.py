"""The Content-Security-Policy in the browser: every kind of page carries it, and works under it.

The `page` fixture fails a test on any policy violation the browser reports (conftest.browser_tab), so each
visit below also proves that the page needs no inline script or style the policy forbids.
"""

import pytest
from playwright.sync_api import Page, expect

from lvsweb.csp import API_DOCS_POLICY, POLICY
from tests.browser.conftest import PASSWORD
from tests.browser.pages import sign_in
from tests.factories import make_cluster, make_real_server, make_virtual_service

pytestmark = pytest.mark.django_db(transaction=True)

HEADER = "content-security-policy"


def policy_of(page: Page, path: str) -> str:
    response = page.goto(path)
    assert response is not None and response.status == 200, (path, response and response.status)
    return response.headers.get(HEADER, "")


def test_every_kind_of_page_carries_the_policy_and_works_under_it(page: Page, operator):
    web = make_cluster(name="web frontend", slug="web")
    service = make_virtual_service(cluster=web, address="10.10.0.100", port=80)
    make_real_server(virtual_service=service, address="10.20.0.11")

    assert policy_of(page, "/accounts/login/") == POLICY
    sign_in(page, "olivia", PASSWORD)
    expect(page.get_by_role("heading", name="Dashboard", level=1)).to_be_visible()

    assert policy_of(page, "/") == POLICY
    assert policy_of(page, "/clusters/web/") == POLICY
    expect(page.get_by_role("heading", name="web frontend", level=1)).to_be_visible()
    assert policy_of(page, "/clusters/web/traffic/") == POLICY
    assert policy_of(page, "/clusters/web/import/") == POLICY
    assert policy_of(page, "/api/clusters/") == API_DOCS_POLICY  # DRF's browsable API has style attributes
    expect(page.get_by_text("web frontend").first).to_be_visible()

    assert "script-src 'self';" in POLICY and "'unsafe-inline'" not in POLICY
    assert "frame-ancestors 'none'" in POLICY


def test_the_import_preview_links_lines_without_inline_script(page: Page, operator):
    make_cluster(name="web frontend", slug="web")
    sign_in(page, "olivia", PASSWORD)
    page.goto("/clusters/web/import/")
    page.get_by_label("Rules").fill("-A -t 10.0.0.1:80 -s rr\n-a -t 10.0.0.1:80 -r bogus -g\n")
    page.get_by_role("button", name="Preview").click()
    page.get_by_role("link", name="Line 2").click()
    # import.js (a file, not inline script) selected line 2 of the text box.
    selected = page.locator("#id_text").evaluate("box => box.value.slice(box.selectionStart, box.selectionEnd)")
    assert selected == "-a -t 10.0.0.1:80 -r bogus -g"


def test_the_api_documentation_pages_work_under_their_own_policy(page: Page, operator):
    sign_in(page, "olivia", PASSWORD)
    assert policy_of(page, "/api/docs/") == API_DOCS_POLICY
    expect(page.get_by_text("lvsweb API").first).to_be_visible()
    expect(page.get_by_text("/api/clusters/").first).to_be_visible()  # Swagger UI read the schema
    assert "script-src 'self';" in API_DOCS_POLICY

    assert policy_of(page, "/api/redoc/") == API_DOCS_POLICY
    expect(page.get_by_text("lvsweb API").first).to_be_visible()
    expect(page.get_by_text("/api/clusters/").first).to_be_visible()
