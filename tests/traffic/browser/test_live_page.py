"""In a real browser: the traffic page's numbers change while traffic flows, without a reload."""

import itertools

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import PASSWORD, off_the_browser_thread
from tests.browser.pages import sign_in
from tests.dispatch.broker import purge
from tests.dispatch.conftest import LAB_QUEUES, Lab
from tests.traffic.conftest import Director, rs_row, service_row
from traffic import inventory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def director(operator):
    inventory.forget()
    purge(*LAB_QUEUES)
    return Director(Lab())


def test_the_numbers_change_while_traffic_flows(page: Page, director):
    counters = itertools.count()
    total = {"conns": 0}

    def send(per_second: int, active: int, seconds: int = 2) -> None:
        # the kernel's counters move every 2 s; the agent reads every second
        for _ in range(seconds):
            second = next(counters)
            if second % 2 == 0:
                total["conns"] += 2 * per_second
            c = total["conns"]
            rows = [
                rs_row("10.20.0.11", active, 1, c, 10 * c, 600 * c),
                rs_row("10.20.0.12", 0, 0, 0),
                service_row(active, 1, c, 10 * c, 600 * c),
            ]
            off_the_browser_thread(director.send, at=1000.0 + second, rows=rows, full=second == 0)

    send(0, 0)
    sign_in(page, "olivia", PASSWORD)
    page.goto("/clusters/web/traffic/")
    expect(page.locator("[data-traffic-status]")).to_have_text("Live: figures update every second.")
    rs1 = page.locator(f'[data-traffic-row="{director.lab.service.pk}:{director.lab.real_server1.pk}"]')
    rs2 = page.locator(f'[data-traffic-row="{director.lab.service.pk}:{director.lab.real_server2.pk}"]')
    expect(rs1.locator('[data-field="cps"]')).to_have_text("0")

    send(50, 7, seconds=4)
    expect(rs1.locator('[data-field="active"]')).to_have_text("7")
    expect(rs1.locator('[data-field="cps"]')).to_have_text("50")
    expect(rs1.locator('[data-field="in_bps"]')).to_have_text("30.0 kB")
    expect(rs2.locator("[data-quiet]")).to_be_visible()  # rs2 gets nothing while rs1 gets 50 conn/s

    send(120, 9, seconds=4)
    expect(rs1.locator('[data-field="cps"]')).to_have_text("120")
    expect(rs1.locator('[data-field="active"]')).to_have_text("9")
    expect(page.locator("[data-traffic-feed]")).to_contain_text("live")
    assert rs1.locator("[data-sparkline] polyline").get_attribute("points")
