"""Hosts in the browser: register one, give it a role, enroll its agent with the command the page shows, and
the hand recipe for a TUN real server run without an agent."""

import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from clusters.choices import HostRole
from clusters.models import ClusterHost, Host
from tests.browser.conftest import PASSWORD
from tests.browser.pages import screenshot, sign_in
from tests.factories import make_cluster, make_cluster_host, make_host, make_real_server, make_virtual_service

pytestmark = pytest.mark.django_db(transaction=True)

AGENT = Path(sys.executable).with_name("lvsweb-agent")


def test_a_host_is_registered_added_to_a_cluster_and_enrolled_with_the_command_shown(page: Page, operator, tmp_path):
    make_cluster(name="web frontend", slug="web")
    sign_in(page, "olivia", PASSWORD)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Hosts").click()
    page.get_by_role("link", name="Register a host").first.click()  # header and empty state
    page.get_by_role("combobox", name="Team").select_option(label="Ops")
    page.get_by_role("textbox", name="Hostname").fill("director1")
    page.get_by_role("textbox", name="Management address").fill("192.0.2.10")
    page.get_by_role("textbox", name="VIP interface").fill("eth0")
    page.get_by_role("button", name="Register").click()

    # Registered: on to its enrollment.
    expect(page.get_by_role("heading", name="Enroll director1")).to_be_visible()
    expect(page.get_by_role("main")).to_contain_text("never enrolled")
    page.get_by_role("button", name="Create a one-time token").click()
    command = page.locator("#enroll-command")
    expect(command).to_contain_text("lvsweb-agent enroll --server http://127.0.0.1:")
    screenshot(page, "enrollment")

    # What the operator pastes on the host: the agent enrolls (it writes its key and configuration; the
    # configuration goes to a scratch file here instead of /etc/lvsweb-agent, nothing touches the kernel).
    words = shlex.split(command.inner_text())
    assert words[:2] == ["lvsweb-agent", "enroll"]
    env = dict(os.environ, LVSWEB_AGENT_CONFIG=str(tmp_path / "agent.json"))
    done = subprocess.run([str(AGENT), *words[1:]], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "enrolled as director1" in done.stdout
    host = Host.objects.get(hostname="director1")
    assert host.enrolled_at is not None and host.public_key

    page.get_by_role("navigation", name="Breadcrumbs").get_by_role("link", name="director1").click()
    expect(page.get_by_role("heading", name="director1", level=1)).not_to_contain_text("never enrolled")
    page.get_by_role("combobox", name="Add to cluster").select_option(label="web frontend")
    page.get_by_role("combobox", name="as").select_option("director")
    page.get_by_role("button", name="Add", exact=True).click()
    expect(page.get_by_role("row").filter(has_text="web frontend")).to_contain_text("director")
    expect(page.get_by_text("Live: changes appear as they happen.")).to_be_visible()
    screenshot(page, "host")
    assert ClusterHost.objects.filter(cluster__slug="web", host=host, role="director").exists()


def test_a_tun_real_server_without_an_agent_gets_the_commands_to_run_by_hand(page: Page, operator):
    cluster = make_cluster(name="web frontend", slug="web")
    rs1 = make_host(hostname="rs1", uplinks="eth0")
    make_cluster_host(cluster=cluster, host=rs1, role=HostRole.REAL_SERVER)
    service = make_virtual_service(cluster=cluster, address="10.10.0.100", port=80)
    make_real_server(virtual_service=service, address="10.20.0.11", host=rs1)
    sign_in(page, "olivia", PASSWORD)
    page.goto(f"/hosts/{rs1.pk}/enroll/")

    recipe = page.locator("#manual-script")
    for line in ("modprobe ipip", "10.10.0.100/32", "tunl0", "rp_filter", "/etc/sysctl.d/", "/etc/modules-load.d/"):
        expect(recipe).to_contain_text(line)
    notes = page.locator("#manual-notes")
    expect(notes).to_contain_text("Any number of runs give the same end state")
    expect(notes).to_contain_text("/etc/systemd/system/lvsweb-recipe.service")
    expect(notes).to_contain_text("/usr/local/sbin/lvsweb-recipe remove")
    screenshot(page, "enrollment-manual")
