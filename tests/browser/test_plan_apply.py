"""Plan → Apply in the browser: the diff per host, the confirmation, then each host's progress, live.

No agent may touch this machine's kernel, so the real servers' hosts are not enrolled: the console refuses to
send them anything and says why. The director is enrolled with a key this test holds: the test plays its agent
on the real broker — it takes the signed command from the director's queue and answers with signed reports,
which a real control worker records and daphne pushes to the open page over its websocket.
"""

import re
from datetime import timedelta

import pytest
from celery import current_app
from django.utils import timezone
from lvsweb_agent.document import parse_document
from lvsweb_agent.envelope import generate_private_key, load_public_key, open_envelope, public_key_text
from lvsweb_agent.model import ActualState
from lvsweb_agent.planner import plan
from playwright.sync_api import Page, expect

from clusters.choices import HostRole
from dispatch.events import clock
from dispatch.models import Deployment, Revision
from dispatch.signing import control_public_key_text
from tests.browser.conftest import PASSWORD, off_the_browser_thread
from tests.browser.pages import screenshot, sign_in
from tests.dispatch.broker import purge, take_commands
from tests.factories import make_cluster, make_cluster_host, make_host, make_real_server, make_virtual_service
from tests.reports import sealed_report

pytestmark = pytest.mark.django_db(transaction=True)

QUEUES = ("control", "lvsweb.host.director", "lvsweb.host.rs1", "lvsweb.host.rs2")
NEVER_ENROLLED = "never enrolled: run `lvsweb-agent enroll` on the host first"


@pytest.fixture
def tun_cluster(operator):
    """Cluster “web”: a TUN service 10.10.0.100:80 on an enrolled, online director; real servers on rs1 and rs2."""
    purge(*QUEUES)
    director_key = generate_private_key()
    cluster = make_cluster(name="web frontend", slug="web")
    director = make_host(
        hostname="director",
        vip_interface="eth0",
        public_key=public_key_text(director_key),
        enrolled_at=timezone.now(),
        agent_status="online",  # as its last heartbeat left it
        last_heartbeat_at=timezone.now(),
    )
    rs1 = make_host(hostname="rs1", uplinks="eth0")
    rs2 = make_host(hostname="rs2", uplinks="eth0")
    make_cluster_host(cluster=cluster, host=director, role=HostRole.DIRECTOR)
    make_cluster_host(cluster=cluster, host=rs1, role=HostRole.REAL_SERVER)
    make_cluster_host(cluster=cluster, host=rs2, role=HostRole.REAL_SERVER)
    service = make_virtual_service(cluster=cluster, address="10.10.0.100", port=80, scheduler="rr")
    make_real_server(virtual_service=service, address="10.20.0.11", host=rs1)
    make_real_server(virtual_service=service, address="10.20.0.12", host=rs2)
    yield cluster, director_key
    purge(*QUEUES)


def report(director_key, command: dict, status: str, **fields) -> None:
    """Send what the director's agent would report about `command`, signed, through the broker."""
    payload = {"host": "director", "kind": "deployment", "deployment": command["deployment"], "status": status}
    payload.update(serial=command["serial"], **fields)
    current_app.send_task(
        "lvsweb.control.report", args=[sealed_report(payload, director_key, "director")], queue="control"
    )


def test_plan_shows_the_changes_per_host_and_why_some_hosts_will_fail(page: Page, tun_cluster):
    sign_in(page, "olivia", PASSWORD)
    page.goto("/clusters/web/")
    page.get_by_role("link", name="Plan & apply").click()

    expect(page.get_by_role("heading", name="Plan: web frontend", level=1)).to_be_visible()
    director = page.locator("#host-director")
    expect(director.get_by_role("row").filter(has_text="add-service")).to_contain_text("+ added")
    expect(director.get_by_role("row").filter(has_text="10.20.0.12:80")).to_contain_text("add-dest")
    rp_filter = page.locator("#host-rs1").get_by_role("row").filter(has_text="net.ipv4.conf.all.rp_filter")
    expect(rp_filter).to_contain_text("~ changed")
    expect(director).not_to_contain_text("Will fail")
    for host in ("rs1", "rs2"):
        expect(page.locator(f"#host-{host}")).to_contain_text("Will fail: never enrolled")
    screenshot(page, "plan")
    assert not Deployment.objects.exists()  # looking at a plan sends nothing


def test_asking_the_agents_shows_each_answer_live(page: Page, tun_cluster, control_worker):
    _, director_key = tun_cluster
    sign_in(page, "olivia", PASSWORD)
    page.goto("/clusters/web/plan/")
    page.get_by_role("button", name="Ask the agents").click()

    expect(page.get_by_text("Plan requested from 3 hosts")).to_be_visible()
    answers = page.locator("#agent-plans")
    rows = {host: answers.get_by_role("row").filter(has_text=host) for host in ("director", "rs1", "rs2")}
    for host in ("rs1", "rs2"):
        expect(rows[host]).to_contain_text("failed")
        expect(rows[host]).to_contain_text(NEVER_ENROLLED)
    expect(rows["director"]).to_contain_text("pending")
    expect(page.get_by_text("Live: changes appear as they happen.")).to_be_visible()
    page.evaluate("window.stillTheSamePage = true")

    # The director's agent plans against its (empty) kernel and answers; nothing is applied.
    [envelope] = take_commands("lvsweb.host.director")
    command = open_envelope(envelope, load_public_key(control_public_key_text()))
    assert (command["kind"], command["cluster_revision"]) == ("plan", None)
    operations = plan(parse_document(command["document"]), ActualState(ipvs_loaded=False)).operations
    answer = {"host": "director", "kind": "plan", "deployment": command["deployment"]}
    answer["operations"] = [operation.to_json() for operation in operations]
    current_app.send_task(
        "lvsweb.control.report", args=[sealed_report(answer, director_key, "director")], queue="control"
    )

    expect(rows["director"].get_by_text("applied", exact=True)).to_be_visible()
    expect(rows["director"].locator('[data-field="operations"]')).to_have_text(str(len(operations)))
    assert page.evaluate("window.stillTheSamePage") is True
    assert not Revision.objects.exists()  # asking the agents is a dry run


def test_apply_shows_each_host_reach_its_final_state_live(page: Page, tun_cluster, control_worker):
    _, director_key = tun_cluster
    sign_in(page, "olivia", PASSWORD)
    page.goto("/clusters/web/plan/")
    page.get_by_role("link", name="Apply…").click()

    expect(page.get_by_role("heading", name="Apply web frontend?")).to_be_visible()
    screenshot(page, "apply-confirm")
    expect(page.locator("#apply-not-sent")).to_contain_text("rs1 and rs2 were never enrolled: nothing is sent to them")
    page.get_by_role("button", name=re.compile(r"^Apply to 1 host \(")).click()

    expect(page).to_have_url("/clusters/web/revisions/1/")
    expect(page.get_by_role("heading", name="Revision 1 of web frontend")).to_be_visible()
    expect(page.get_by_text("Revision 1 sent to 1 of 3 hosts; rs1 and rs2 were never enrolled.")).to_be_visible()
    expect(page.get_by_role("columnheader", name="Kernel error")).to_have_count(0)
    rows = {host: page.get_by_role("row").filter(has_text=host) for host in ("director", "rs1", "rs2")}
    for host in ("rs1", "rs2"):  # named as what they are, not as a failure of their kernels
        expect(rows[host].get_by_text("not sent", exact=True)).to_be_visible()
        expect(rows[host].get_by_text("never enrolled", exact=True)).to_be_visible()
        expect(rows[host]).to_contain_text(NEVER_ENROLLED)
    expect(rows["director"].get_by_text("pending", exact=True)).to_be_visible()
    expect(page.get_by_text("Live: changes appear as they happen.")).to_be_visible()  # its websocket is open
    page.evaluate("window.stillTheSamePage = true")  # a reload would lose it: what follows arrives live

    # The director's agent: the signed command waits on its queue; it starts, then finishes.
    [envelope] = take_commands("lvsweb.host.director")
    command = open_envelope(envelope, load_public_key(control_public_key_text()))
    assert (command["kind"], command["cluster"], command["cluster_revision"]) == ("apply", "web", 1)
    report(director_key, command, "applying")
    expect(rows["director"].get_by_text("applying", exact=True)).to_be_visible()

    # What the agent's own planner runs for that document on a director whose kernel holds nothing yet.
    operations = plan(parse_document(command["document"]), ActualState(ipvs_loaded=False)).operations
    report(director_key, command, "applied", operations=[operation.to_json() for operation in operations])
    expect(rows["director"].get_by_text("applied", exact=True)).to_be_visible()
    expect(rows["director"].locator('[data-field="operations"]')).to_have_text(str(len(operations)))
    expect(rows["director"]).not_to_contain_text("never enrolled")
    assert page.evaluate("window.stillTheSamePage") is True
    screenshot(page, "apply-progress")

    statuses = dict(Deployment.objects.values_list("host__hostname", "status"))
    assert statuses == {"director": "applied", "rs1": "failed", "rs2": "failed"}
    # Its start and finish times came with the events, as a reload would show them.
    director = Deployment.objects.get(host__hostname="director")
    expect(rows["director"].locator('[data-field="started"]')).to_have_text(clock(director.started_at))
    expect(rows["director"].locator('[data-field="finished"]')).to_have_text(clock(director.finished_at))


def test_after_an_apply_that_reached_no_host_the_plan_still_shows_everything_as_new(page: Page, tun_cluster):
    from dispatch import actions

    cluster, _ = tun_cluster
    sign_in(page, "olivia", PASSWORD)
    page.goto("/clusters/web/plan/")
    operations = page.locator("#host-director").get_by_role("row").filter(has_text="add-")
    before = operations.count()
    assert before > 0
    # Revision 1 is sent; the director's agent never takes its command, which expires unanswered, and the real
    # servers were never enrolled: it reached no host.
    revision = off_the_browser_thread(actions.apply_cluster, acting_user=None, cluster=cluster)
    later = Deployment.objects.get(host__hostname="director").expires_at + timedelta(seconds=1)
    off_the_browser_thread(actions.expire_deployments, now=later)
    page.goto(f"/clusters/web/revisions/{revision.number}/")
    expect(page.get_by_role("row").filter(has_text="director")).to_contain_text("agent offline")

    page.get_by_role("link", name="Plan", exact=True).click()

    expect(page.get_by_role("heading", name="Plan: web frontend", level=1)).to_be_visible()
    expect(page.get_by_text("the last one applied")).to_have_count(0)
    for host in ("director", "rs1", "rs2"):
        section = page.locator(f"#host-{host}")
        expect(section).to_contain_text("This host has applied nothing yet: everything is new.")
        expect(section).not_to_contain_text("No changes for this host")
    expect(page.locator("#host-director")).to_contain_text(
        "Revision 1 did not reach this host, so it changed nothing there: agent offline: the command expired"
    )
    for host in ("rs1", "rs2"):
        expect(page.locator(f"#host-{host}")).to_contain_text(
            "Revision 1 was not sent to this host (never enrolled), so it changed nothing there."
        )
    expect(operations).to_have_count(before)
    expect(page.locator("#host-director").get_by_role("row").filter(has_text="add-service")).to_contain_text("+ added")
    screenshot(page, "plan-after-failed-apply")


def test_an_apply_no_host_can_receive_is_stopped_before_the_button(page: Page, tun_cluster):
    cluster, _ = tun_cluster
    director = cluster.cluster_hosts.get(host__hostname="director").host
    director.public_key = ""  # nobody enrolled: the console can send this apply to no host
    director.save()
    sign_in(page, "olivia", PASSWORD)
    page.goto("/clusters/web/plan/")
    page.get_by_role("link", name="Apply…").click()

    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("No host can receive this revision: director, rs1 and rs2 were never enrolled")
    expect(page.get_by_role("button", name=re.compile(r"^Apply"))).to_have_count(0)
    screenshot(page, "apply-to-nobody")
    page.get_by_role("link", name="Back to the plan").click()
    expect(page).to_have_url("/clusters/web/plan/")
    assert not Revision.objects.exists()
