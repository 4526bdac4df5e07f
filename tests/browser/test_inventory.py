"""The inventory in the browser: a cluster with a VIP and two real servers, and the errors a typo earns."""

import pytest
from playwright.sync_api import Page, expect

from clusters.models import Cluster, RealServer, VirtualService
from tests.browser.conftest import PASSWORD
from tests.browser.pages import screenshot, sign_in
from tests.factories import make_cluster, make_virtual_service

pytestmark = pytest.mark.django_db(transaction=True)


def add_real_server(page: Page, service: str, address: str) -> None:
    """From the cluster page: Add real server under `service`, type its address, keep the virtual port."""
    page.get_by_role("region", name=service).get_by_role("link", name="Add real server").click()
    expect(page.get_by_role("heading", name=f"New real server for {service}")).to_be_visible()
    page.get_by_role("textbox", name="Real server address", exact=True).fill(address)
    page.get_by_role("button", name="Add real server").click()
    expect(page.get_by_role("heading", name="web frontend", level=1)).to_be_visible()


def test_an_operator_creates_a_cluster_with_a_vip_and_two_real_servers(page: Page, operator):
    sign_in(page, "olivia", PASSWORD)
    page.get_by_role("link", name="New cluster").first.click()
    page.get_by_role("textbox", name="Name", exact=True).fill("web frontend")
    page.get_by_role("textbox", name="Slug", exact=True).fill("web")
    page.get_by_role("button", name="Create cluster").click()

    expect(page).to_have_url("/clusters/web/")
    expect(page.get_by_role("heading", name="web frontend", level=1)).to_be_visible()
    page.get_by_role("link", name="Add virtual service").first.click()
    page.get_by_role("textbox", name="VIP", exact=True).fill("10.10.0.100")
    page.get_by_role("spinbutton", name="Port", exact=True).fill("80")
    page.get_by_role("combobox", name="Scheduler", exact=True).select_option("rr")
    expect(page.get_by_role("combobox", name="Default forwarding method")).to_have_value("tun")
    expect(page.get_by_text("MTU 1480").first).to_be_visible()  # the TUN trade-offs, where the method is picked
    screenshot(page, "virtual-service-form")
    page.get_by_role("button", name="Add virtual service").click()

    expect(page.get_by_role("region", name="TCP 10.10.0.100:80")).to_be_visible()  # its card in Virtual services
    add_real_server(page, "TCP 10.10.0.100:80", "10.20.0.11")
    add_real_server(page, "TCP 10.10.0.100:80", "10.20.0.12")

    service = page.get_by_role("region", name="TCP 10.10.0.100:80")
    for address in ("10.20.0.11:80", "10.20.0.12:80"):
        row = service.get_by_role("row").filter(has_text=address)
        expect(row).to_contain_text("tun")
        expect(row).to_contain_text("active")
    screenshot(page, "cluster")

    cluster = Cluster.objects.get(slug="web")
    assert (cluster.name, cluster.team.slug) == ("web frontend", "ops")
    [vs] = VirtualService.objects.filter(cluster=cluster)
    assert (vs.protocol, vs.address, vs.port, vs.scheduler, vs.forward_method) == (
        "tcp",
        "10.10.0.100",
        80,
        "rr",
        "tun",
    )
    assert sorted(RealServer.objects.filter(virtual_service=vs).values_list("address", "port", "forward_method")) == [
        ("10.20.0.11", 80, "tun"),
        ("10.20.0.12", 80, "tun"),
    ]


def test_a_bad_vip_is_named_next_to_its_field_and_what_was_typed_is_kept(page: Page, operator):
    make_cluster(name="web frontend", slug="web")
    sign_in(page, "olivia", PASSWORD)
    page.goto("/clusters/web/services/new/")
    page.get_by_role("textbox", name="VIP", exact=True).fill("10.10.0.300")
    page.get_by_role("spinbutton", name="Port", exact=True).fill("80")
    page.get_by_role("textbox", name="Name", exact=True).fill("shop")
    page.get_by_role("button", name="Add virtual service").click()

    address = page.locator("#field-address")
    expect(address.get_by_role("listitem")).to_have_text("Enter a valid IPv4 or IPv6 address.")
    expect(page.get_by_text("nothing was saved")).to_be_visible()
    expect(page.get_by_role("textbox", name="VIP", exact=True)).to_have_value("10.10.0.300")
    expect(page.get_by_role("spinbutton", name="Port", exact=True)).to_have_value("80")
    expect(page.get_by_role("textbox", name="Name", exact=True)).to_have_value("shop")
    screenshot(page, "virtual-service-error")
    assert not VirtualService.objects.exists()


def test_a_tun_real_server_on_another_port_is_refused_with_the_reason(page: Page, operator):
    service = make_virtual_service(
        cluster=make_cluster(name="web frontend", slug="web"), address="10.10.0.100", port=80
    )
    sign_in(page, "olivia", PASSWORD)
    page.goto("/clusters/web/")
    page.get_by_role("region", name="TCP 10.10.0.100:80").get_by_role("link", name="Add real server").click()
    page.get_by_role("textbox", name="Real server address", exact=True).fill("10.20.0.11")
    page.get_by_role("spinbutton", name="Port", exact=True).fill("8080")
    page.get_by_role("button", name="Add real server").click()

    port = page.locator("#field-port")
    expect(port.get_by_role("listitem")).to_contain_text(
        "In TUN mode the real server port must equal the virtual port (80)"
    )
    expect(page.get_by_role("textbox", name="Real server address", exact=True)).to_have_value("10.20.0.11")
    expect(page.get_by_role("spinbutton", name="Port", exact=True)).to_have_value("8080")
    screenshot(page, "real-server-error")
    assert not RealServer.objects.filter(virtual_service=service).exists()
