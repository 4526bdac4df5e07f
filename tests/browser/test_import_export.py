"""Import in the browser (upload or paste, preview, commit) and export again: the same rules come back."""

import pytest
from playwright.sync_api import Page, expect

from audit.models import AuditEntry
from clusters.models import RealServer, VirtualService
from tests.browser.conftest import PASSWORD
from tests.browser.pages import screenshot, sign_in
from tests.factories import make_cluster

pytestmark = pytest.mark.django_db(transaction=True)

#: `ipvsadm-save -n` of a director: a TUN web service and a persistent NAT DNS service that maps its port.
IPVSADM_SAVE = """\
-A -t 10.10.0.100:80 -s rr
-a -t 10.10.0.100:80 -r 10.20.0.11:80 -i -w 1 --tun-type ipip
-a -t 10.10.0.100:80 -r 10.20.0.12:80 -i -w 3 --tun-type ipip
-A -u 10.10.0.100:53 -s wlc -p 300
-a -u 10.10.0.100:53 -r 10.30.0.21:5353 -m -w 1
"""

KEEPALIVED_CONF = """\
global_defs {
    router_id LVS_MAIN
}
virtual_server 10.10.0.100 443 {
    delay_loop 6
    lb_algo wrr
    lb_kind TUN
    protocol TCP
    real_server 10.20.0.11 443 {
        weight 2
        SSL_GET {
            url { path /health }
        }
    }
}
"""


def open_import(page: Page) -> None:
    sign_in(page, "olivia", PASSWORD)
    page.goto("/clusters/web/")
    page.get_by_role("link", name="Import", exact=True).first.click()
    expect(page.get_by_role("heading", name="Import rules into web frontend")).to_be_visible()


def test_ipvsadm_save_text_is_imported_and_exported_again_unchanged(page: Page, operator, tmp_path):
    make_cluster(name="web frontend", slug="web")
    open_import(page)
    page.get_by_role("textbox", name="Rules").fill(IPVSADM_SAVE)
    page.get_by_role("button", name="Preview").click()

    plan = page.get_by_role("table")
    expect(plan.get_by_role("row").filter(has_text="create")).to_have_count(5)
    expect(plan.get_by_role("row").filter(has_text="10.30.0.21:5353")).to_contain_text("UDP 10.10.0.100:53")
    expect(page.get_by_role("textbox", name="Rules")).to_have_value(IPVSADM_SAVE)
    screenshot(page, "import-preview")
    assert not VirtualService.objects.exists()  # a preview saves nothing

    page.get_by_role("button", name="Commit import").click()
    expect(page).to_have_url("/clusters/web/")
    expect(page.get_by_text("Imported into web frontend")).to_be_visible()
    expect(page.get_by_role("region", name="TCP 10.10.0.100:80")).to_be_visible()  # its card in Virtual services
    expect(page.get_by_role("region", name="UDP 10.10.0.100:53")).to_be_visible()  # its card in Virtual services
    assert RealServer.objects.filter(virtual_service__cluster__slug="web").count() == 3
    assert AuditEntry.objects.filter(action__startswith="cluster.import").count() == 1  # one audited change

    page.get_by_role("link", name="Export", exact=True).first.click()
    expect(page.get_by_role("heading", name="Export web frontend")).to_be_visible()
    screenshot(page, "export")
    with page.expect_download() as download:
        page.get_by_role("link", name="Download web-ipvsadm.rules").click()
    exported = tmp_path / "exported.rules"
    download.value.save_as(exported)
    assert download.value.suggested_filename == "web-ipvsadm.rules"
    assert exported.read_text() == IPVSADM_SAVE


def test_an_uploaded_file_is_previewed_then_committed(page: Page, operator, tmp_path):
    make_cluster(name="web frontend", slug="web")
    rules = tmp_path / "ipvsadm.rules"
    rules.write_text(IPVSADM_SAVE)
    open_import(page)
    page.get_by_label("…or upload a file").set_input_files(rules)
    page.get_by_role("button", name="Preview").click()

    expect(page.get_by_role("table").get_by_role("row").filter(has_text="create")).to_have_count(5)
    expect(page.get_by_role("textbox", name="Rules")).to_have_value(IPVSADM_SAVE)  # the file, shown as text
    # The browser sends the text box back with CRLF line ends (HTML's rule for textareas): the same rules.
    page.get_by_role("button", name="Commit import").click()

    expect(page).to_have_url("/clusters/web/")
    expect(page.get_by_text("Imported into web frontend")).to_be_visible()
    assert RealServer.objects.filter(virtual_service__cluster__slug="web").count() == 3


def test_errors_are_listed_by_line_and_nothing_is_imported(page: Page, operator):
    make_cluster(name="web frontend", slug="web")
    pasted = "-A -t 10.10.0.100:80 -s rr\n-a -t 10.10.0.100:80 -r 10.20.0.300:80 -i -w 1\n"
    open_import(page)
    page.get_by_role("textbox", name="Rules").fill(pasted)
    page.get_by_role("button", name="Preview").click()

    errors = page.get_by_role("alert")
    expect(errors).to_contain_text("Line 2")
    expect(errors).to_contain_text("10.20.0.300")
    expect(page.get_by_role("button", name="Commit import")).to_have_count(0)
    expect(page.get_by_role("textbox", name="Rules")).to_have_value(pasted)
    screenshot(page, "import-errors")
    assert not VirtualService.objects.exists()


def test_keepalived_keywords_lvsweb_does_not_keep_are_named_in_the_preview(page: Page, operator):
    make_cluster(name="web frontend", slug="web")
    open_import(page)
    page.get_by_role("textbox", name="Rules").fill(KEEPALIVED_CONF)
    page.get_by_role("button", name="Preview").click()

    expect(page.get_by_role("table").get_by_role("row").filter(has_text="10.20.0.11:443")).to_contain_text("create")
    # The SSL_GET becomes the service's HTTPS check; global_defs is named as not imported.
    service_row = page.get_by_role("table").get_by_role("row").filter(has_text="TCP 10.10.0.100:443").first
    expect(service_row).to_contain_text("health check https /health every 6 s")
    not_imported = page.locator("#not-imported")
    expect(not_imported).to_contain_text("global_defs")
    expect(not_imported).to_contain_text("Line 1")
    screenshot(page, "import-keepalived-preview")
