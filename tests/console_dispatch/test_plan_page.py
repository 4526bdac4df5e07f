"""The Plan page: per host, the operations its agent will run, as a diff; failing hosts, kernel warnings, live
connections; asking the agents; Apply with its confirmation; Reconcile."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from lvsweb_agent.envelope import load_public_key, open_envelope

from audit.models import AuditEntry
from clusters import actions as inventory
from clusters.choices import HostRole
from dispatch import actions
from dispatch.models import Deployment, Revision
from dispatch.signing import control_public_key_text
from tests.console_dispatch.conftest import applied, heartbeat, report
from tests.dispatch.broker import purge, take_commands
from tests.dispatch.conftest import LAB_QUEUES
from tests.factories import make_cluster_host, make_host, make_real_server, make_virtual_service

pytestmark = pytest.mark.django_db(transaction=True)
ROW = re.compile(
    r'<tr class="(?P<change>\w+)">\s*<td data-label="Change"><span class="badge \w+" title="\w+">'
    r'<span aria-hidden="true">(?P<mark>.)</span> \w+</span></td>\s*'
    r'<td data-label="Operation"><code>(?P<op>[\w-]+)</code></td>\s*<td data-label="On"><code>(?P<target>[^<]*)</code>'
)


def host_rows(body: str, hostname: str) -> list[tuple[str, str, str, str]]:
    """(change, mark, operation, target) of each row of a host's diff on the Plan page."""
    section = body.split(f'id="host-{hostname}"', 1)[1].split("</section>", 1)[0]
    return [(m["change"], m["mark"], m["op"], m["target"].replace("&gt;", ">")) for m in ROW.finditer(section)]


@pytest.fixture
def applied_once(lab):
    """Revision 1 applied on every host, every agent online and in sync."""
    applied(lab, actions.apply_cluster(acting_user=None, cluster=lab.cluster))
    for name in ("director", "rs1", "rs2"):
        heartbeat(lab, name)
    purge(*LAB_QUEUES)  # revision 1's commands: the agents took them
    return lab


def test_an_inventory_change_shows_as_additions_changes_and_removals_per_host(applied_once, viewer):
    lab = applied_once
    inventory.update_real_server(acting_user=None, real_server=lab.real_server2, changes={"weight": 7})
    inventory.delete_real_server(acting_user=None, real_server=lab.real_server1)
    https = make_virtual_service(cluster=lab.cluster, address="10.10.0.101", port=443, scheduler="wlc")
    make_real_server(virtual_service=https, address="10.20.0.11", port=443, host=lab.rs1)

    response = viewer.get("/clusters/web/plan/")
    body = response.content.decode()

    assert response.status_code == 200
    assert "the last one applied" not in body
    for name in ("director", "rs1", "rs2"):
        assert "Compared with revision 1, applied on this host at" in host_section(body, name)
    assert host_rows(body, "director") == [
        ("added", "+", "add-address", "10.10.0.101/32 on eth0"),
        ("added", "+", "add-service", "tcp 10.10.0.101:443"),
        ("added", "+", "add-dest", "tcp 10.10.0.101:443 -> 10.20.0.11:443"),
        ("changed", "~", "edit-dest", "tcp 10.10.0.100:80 -> 10.20.0.12:80"),
        ("removed", "−", "drain-dest", "tcp 10.10.0.100:80 -> 10.20.0.11:80"),
    ]
    assert host_rows(body, "rs1") == [
        ("added", "+", "add-address", "10.10.0.101/32 on tunl0"),
        ("removed", "−", "del-address", "10.10.0.100/32 on tunl0"),
    ]
    assert host_rows(body, "rs2") == []
    assert "No changes for this host." in body.split('id="host-rs2"', 1)[1]
    assert "weight 1 -&gt; 7" in body
    assert "<strong>7 operations</strong> on 3 hosts." in body
    assert "Apply…" not in body and "Ask the agents</button>" not in body  # a viewer reads, an operator acts


def test_before_the_first_apply_everything_is_an_addition(lab, operator):
    body = operator.get("/clusters/web/plan/").content.decode()
    assert "This host has applied nothing yet: everything is new." in host_section(body, "director")
    director = host_rows(body, "director")
    assert director[0] == ("added", "+", "load-module", "ip_vs")
    assert {row[0] for row in director} == {"added"}
    assert ("added", "+", "add-address", "10.10.0.100/32 on tunl0") in host_rows(body, "rs1")


def test_hosts_that_will_fail_and_kernels_that_lack_a_module_are_named(applied_once, operator):
    lab = applied_once
    heartbeat(lab, "rs1", check={"tunnels": {"ipip": "missing"}})
    actions.revoke_host(acting_user=None, host=lab.rs2)
    newcomer = make_host(hostname="rs3")
    make_cluster_host(cluster=lab.cluster, host=newcomer, role=HostRole.REAL_SERVER)
    make_real_server(virtual_service=lab.service, address="10.20.0.13", host=newcomer)

    body = operator.get("/clusters/web/plan/").content.decode()

    rs1 = body.split('id="host-rs1"', 1)[1].split("</section>", 1)[0]
    assert "Tunnel type ipip: the kernel module ipip is missing on this host." in rs1
    assert "Will fail" not in rs1
    rs2 = body.split('id="host-rs2"', 1)[1].split("</section>", 1)[0]
    assert "<strong>Will fail:</strong> revoked: the console sends it nothing" in rs2
    rs3 = body.split('id="host-rs3"', 1)[1].split("</section>", 1)[0]
    assert "<strong>Will fail:</strong> never enrolled" in rs3
    assert '<span class="badge never_enrolled" data-host-state="rs3">never enrolled</span>' in rs3


def test_an_agent_that_stopped_beating_will_fail_after_the_command_ttl(applied_once, operator):
    later = timezone.now() + timedelta(seconds=3 * 10 + 1)
    assert actions.mark_offline_hosts(now=later) == 3
    body = operator.get("/clusters/web/plan/").content.decode()
    assert "agent offline: its command waits 120 s for the agent, then fails." in body


def test_each_real_server_a_change_touches_shows_its_connections_now(applied_once, operator):
    from traffic.models import HostFeed, Series

    lab = applied_once
    now = timezone.now()
    HostFeed.objects.create(host=lab.director, last_batch_at=now)
    Series.objects.create(
        host=lab.director,
        cluster=lab.cluster,
        virtual_service=lab.service,
        real_server=lab.real_server2,
        active=12,
        inactive=3,
        updated_at=now,
    )
    inventory.update_real_server(acting_user=None, real_server=lab.real_server2, changes={"weight": 0})
    inventory.update_real_server(acting_user=None, real_server=lab.real_server1, changes={"weight": 5})

    body = operator.get("/clusters/web/plan/").content.decode()

    rows = body.split('id="host-director"', 1)[1].split("</section>", 1)[0].split("<tr ")
    [rs1_row] = [row for row in rows if "10.20.0.11:80</code>" in row]
    [rs2_row] = [row for row in rows if "10.20.0.12:80</code>" in row]
    assert '12 <span class="muted">(3 inactive)</span>' in rs2_row
    assert 'title="no fresh figures from the directors for this real server">—' in rs1_row


def test_asking_the_agents_sends_each_a_dry_run_and_shows_their_answers(applied_once, operator):
    lab = applied_once
    response = operator.post("/clusters/web/plan/", follow=True)
    assert response.redirect_chain == [("/clusters/web/plan/", 302)]
    assert "Plan requested from 3 hosts; their answers appear below." in response.content.decode()
    key = load_public_key(control_public_key_text())
    for name in ("director", "rs1", "rs2"):
        [envelope] = take_commands(f"lvsweb.host.{name}")
        assert open_envelope(envelope, key)["kind"] == "plan"
    plan = Deployment.objects.get(kind="plan", host=lab.rs1)
    operations = [{"op": "add-address", "target": "10.10.0.100/32 on tunl0", "detail": "", "reason": "not there yet"}]
    report(lab, "rs1", {"kind": "plan", "deployment": plan.pk, "operations": operations})

    body = operator.get("/clusters/web/plan/").content.decode()
    answers = body.split("What the agents said", 1)[1]
    row = answers.split(f'data-deployment="{plan.pk}"', 1)[1].split("</tr>", 1)[0]
    assert '<span class="badge applied" data-field="status">applied</span>' in row
    assert '<td data-label="Operations" class="num" data-field="operations">1</td>' in row
    assert answers.count('<span class="badge pending" data-field="status">pending</span>') == 2


def test_apply_asks_first_naming_hosts_and_operations_then_sends_a_revision(applied_once, operator):
    lab = applied_once
    inventory.update_real_server(acting_user=None, real_server=lab.real_server2, changes={"weight": 7})

    confirm = operator.get("/clusters/web/apply/").content.decode()
    assert "becomes revision 2" in confirm
    assert "Apply to 3 hosts (1 operation)" in confirm
    assert Revision.objects.count() == 1  # looking changed nothing

    response = operator.post("/clusters/web/apply/")
    assert response.status_code == 302 and response["Location"] == "/clusters/web/revisions/2/"
    revision = Revision.objects.get(cluster=lab.cluster, number=2)
    assert sorted(revision.deployments.values_list("host__hostname", "status")) == [
        ("director", "pending"),
        ("rs1", "pending"),
        ("rs2", "pending"),
    ]
    [envelope] = take_commands("lvsweb.host.director")
    payload = open_envelope(envelope, load_public_key(control_public_key_text()))
    assert payload["kind"] == "apply" and payload["cluster_revision"] == 2
    assert payload["document"]["director"]["services"][0]["real_servers"][1]["weight"] == 7
    assert AuditEntry.objects.filter(action="cluster.apply").count() == 2

    progress = operator.get("/clusters/web/revisions/2/").content.decode()
    assert progress.count('<span class="badge pending" data-field="status">pending</span>') == 3

    again = operator.post("/clusters/web/apply/", follow=True)
    assert again.redirect_chain[-1][0] == "/clusters/web/plan/"
    assert "Revision 2 is still being applied on director, rs1, rs2" in again.content.decode()
    assert not Revision.objects.filter(number=3).exists()


def test_a_viewer_cannot_apply(applied_once, viewer):
    assert viewer.get("/clusters/web/apply/").status_code == 403
    assert viewer.post("/clusters/web/apply/").status_code == 403
    assert Revision.objects.count() == 1


def test_a_drifted_host_gets_a_reconcile_button_that_sends_its_agent_a_reconcile(applied_once, operator):
    lab = applied_once
    drift = [{"op": "add-service", "target": "tcp 10.10.0.100:80", "detail": "sched rr", "reason": "not in the kernel"}]
    heartbeat(lab, "director", drift=drift)
    body = operator.get("/clusters/web/plan/").content.decode()
    director = body.split('id="host-director"', 1)[1].split("</section>", 1)[0]
    assert '<span class="badge drifted" data-host-state="director">drifted</span>' in director
    assert 'action="/clusters/web/hosts/director/reconcile/"' in director

    response = operator.post("/clusters/web/hosts/director/reconcile/")
    deployment = Deployment.objects.get(kind="reconcile")
    assert response["Location"] == f"/clusters/web/deployments/{deployment.pk}/"
    [envelope] = take_commands("lvsweb.host.director")
    assert open_envelope(envelope, load_public_key(control_public_key_text()))["kind"] == "reconcile"
    page = operator.get(response["Location"]).content.decode()
    assert "<h1>Reconcile on director</h1>" in page


def test_the_deployment_page_shows_the_kernel_error(applied_once, viewer):
    lab = applied_once
    inventory.update_real_server(acting_user=None, real_server=lab.real_server2, changes={"weight": 7})
    deployment = actions.apply_cluster(acting_user=None, cluster=lab.cluster).deployments.get(host=lab.director)
    error = "tcp 10.10.0.100:80 -> 10.20.0.12:80: address not unicast (no route to 10.20.0.12 in this namespace)"
    report(lab, "director", {"kind": "deployment", "deployment": deployment.pk, "status": "failed", "error": error})
    body = viewer.get(f"/clusters/web/deployments/{deployment.pk}/").content.decode()
    assert '<span class="badge failed" data-field="status">failed</span>' in body
    assert "address not unicast (no route to 10.20.0.12 in this namespace)" in body
    assert viewer.get("/clusters/web/deployments/999999/").status_code == 404


def test_a_host_taken_out_of_the_cluster_is_shown_with_what_its_agent_will_remove(applied_once, operator):
    lab = applied_once
    inventory.delete_real_server(acting_user=None, real_server=lab.real_server2)
    inventory.remove_host_role(acting_user=None, cluster_host=lab.cluster.cluster_hosts.get(host=lab.rs2))

    body = operator.get("/clusters/web/plan/").content.decode()

    rs2 = body.split('id="host-rs2"', 1)[1].split("</section>", 1)[0]
    assert "Taken out of this cluster: the apply sends this host its document without the cluster" in rs2
    assert host_rows(body, "rs2") == [
        ("removed", "−", "del-address", "10.10.0.100/32 on tunl0"),
        ("removed", "−", "remove-file", "etc/sysctl.d/90-lvsweb.conf"),
        ("removed", "−", "remove-file", "etc/modules-load.d/lvsweb.conf"),
    ]
    assert ("removed", "−", "drain-dest", "tcp 10.10.0.100:80 -> 10.20.0.12:80") in host_rows(body, "director")
    confirm = operator.get("/clusters/web/apply/").content.decode()
    assert "Apply to 3 hosts (4 operations)" in confirm


def test_the_plan_flags_a_tun_real_server_that_no_host_configures_until_a_host_has_its_address(lab, viewer):
    make_real_server(virtual_service=lab.service, address="10.20.0.13")
    make_real_server(virtual_service=lab.service, address="10.20.0.14", configured_by_hand=True)

    body = viewer.get("/clusters/web/plan/").content.decode()

    assert "1 TUN/DR real server that nothing configures" in body
    assert (
        "traffic to 10.20.0.13 will be dropped: no host configures the VIP on tunl0 there — link a host or mark it "
        "as configured by hand" in body
    )
    assert "10.20.0.11 will be dropped" not in body and "10.20.0.14 will be dropped" not in body

    inventory.update_host(acting_user=None, host=lab.rs2, changes={"other_addresses": "10.20.0.13"})

    body = viewer.get("/clusters/web/plan/").content.decode()
    assert "will be dropped" not in body
    assert ("added", "+", "add-dest", "tcp 10.10.0.100:80 -> 10.20.0.13:80") in host_rows(body, "director")


def host_section(body: str, hostname: str) -> str:
    """The text of one host's section of the Plan page (tags dropped, spaces collapsed)."""
    section = body.split(f'id="host-{hostname}"', 1)[1].split("</section>", 1)[0]
    return " ".join(re.sub(r"<[^>]+>", " ", section).split())


def expire(revision) -> None:
    """Every command of `revision` still waiting expires unanswered (its agent was offline the whole time)."""
    later = max(revision.deployments.values_list("expires_at", flat=True)) + timedelta(seconds=1)
    actions.expire_deployments(now=later)


def test_after_an_apply_that_reached_no_host_the_plan_is_what_it_was_before(lab, operator):
    before = operator.get("/clusters/web/plan/").content.decode()
    count = re.search(r"<strong>(\d+) operations</strong> on 3 hosts", before)[1]
    expire(actions.apply_cluster(acting_user=None, cluster=lab.cluster))  # sent to 3 of 3, applied on none
    assert set(Deployment.objects.values_list("status", flat=True)) == {"failed"}

    body = operator.get("/clusters/web/plan/").content.decode()

    assert "the last one applied" not in body
    assert "compared with what each host last applied" in body
    assert f"<strong>{count} operations</strong> on 3 hosts" in body
    for name in ("director", "rs1", "rs2"):
        assert "This host has applied nothing yet: everything is new." in host_section(body, name)
        assert "No changes for this host." not in host_section(body, name)
    assert host_rows(body, "director")[0] == ("added", "+", "load-module", "ip_vs")
    assert host_rows(body, "director") == host_rows(before, "director")
    confirm = " ".join(re.sub(r"<[^>]+>", " ", operator.get("/clusters/web/apply/").content.decode()).split())
    assert "becomes revision 2" in confirm
    rs1 = rf"rs1 ?: {len(host_rows(before, 'rs1'))} operations \(has applied nothing yet: everything is new\)"
    assert re.search(rs1, confirm)


def test_each_host_is_compared_with_the_revision_it_last_applied(applied_once, operator):
    lab = applied_once
    https = make_virtual_service(cluster=lab.cluster, address="10.10.0.101", port=443, scheduler="wlc")
    make_real_server(virtual_service=https, address="10.20.0.12", port=443, host=lab.rs2)
    revision = actions.apply_cluster(acting_user=None, cluster=lab.cluster)
    for deployment in revision.deployments.select_related("host").exclude(host=lab.rs2):
        answer = {"kind": "deployment", "deployment": deployment.pk, "status": "applied", "serial": deployment.serial}
        report(lab, deployment.host.hostname, answer)
    expire(revision)  # rs2's agent never answered: its kernel is as revision 1 left it
    first = Deployment.objects.get(revision__number=1, host=lab.rs2)
    second = Deployment.objects.get(revision__number=2, host=lab.director)

    body = operator.get("/clusters/web/plan/").content.decode()

    director = host_section(body, "director")
    assert f"Compared with revision 2, applied on this host at {second.finished_at:%Y-%m-%d %H:%M:%S} UTC." in director
    assert "No changes for this host." in director
    rs2 = host_section(body, "rs2")
    assert f"Compared with revision 1, applied on this host at {first.finished_at:%Y-%m-%d %H:%M:%S} UTC." in rs2
    assert "Revision 2 did not reach this host, so it changed nothing there: agent offline: the command expired" in rs2
    assert host_rows(body, "rs2") == [("added", "+", "add-address", "10.10.0.101/32 on tunl0")]
    assert "<strong>1 operation</strong> on 3 hosts." in body


def test_a_host_whose_last_apply_failed_part_way_is_flagged_with_what_its_kernel_may_hold(applied_once, operator):
    lab = applied_once
    inventory.update_real_server(acting_user=None, real_server=lab.real_server2, changes={"weight": 7})
    make_real_server(virtual_service=lab.service, address="10.20.0.13")
    revision = actions.apply_cluster(acting_user=None, cluster=lab.cluster)
    deployment = revision.deployments.get(host=lab.director)
    report(lab, "director", {"kind": "deployment", "deployment": deployment.pk, "status": "applying", "serial": 1})
    done = {"op": "edit-dest", "target": "tcp 10.10.0.100:80 -> 10.20.0.12:80", "detail": "", "reason": ""}
    refused = {"op": "add-dest", "target": "tcp 10.10.0.100:80 -> 10.20.0.13:80", "detail": "", "reason": ""}
    failed = {"kind": "deployment", "deployment": deployment.pk, "status": "failed", "serial": 1}
    operations = [{**done, "done": True}, {**refused, "done": False}]
    report(lab, "director", {**failed, "operations": operations, "error": "address not unicast"})

    director = host_section(operator.get("/clusters/web/plan/").content.decode(), "director")

    assert "Compared with revision 1, applied on this host at" in director
    assert "Revision 2 failed part-way on this host" in director
    assert "1 of its 2 operations were done before it stopped: address not unicast" in director
    assert "its kernel may hold part of it" in director and "Ask the agents" in director

    reconcile = actions.reconcile_host(acting_user=None, cluster=lab.cluster, host=lab.director)
    report(lab, "director", {"kind": "deployment", "deployment": reconcile.pk, "status": "applied", "serial": 1})
    director = host_section(operator.get("/clusters/web/plan/").content.decode(), "director")
    completed = "Compared with revision 2, which failed part-way on this host and was completed by a reconcile at"
    assert completed in director
    assert "No changes for this host." in director


def test_an_apply_whose_report_was_lost_counts_when_the_agent_reports_its_serial(applied_once, operator):
    lab = applied_once
    inventory.update_real_server(acting_user=None, real_server=lab.real_server2, changes={"weight": 7})
    revision = actions.apply_cluster(acting_user=None, cluster=lab.cluster)
    deployment = revision.deployments.get(host=lab.director)
    report(lab, "director", {"kind": "deployment", "deployment": deployment.pk, "status": "applying", "serial": 1})
    expire(revision)  # its "applied" report was lost; the next heartbeat says which serial the kernel holds
    heartbeat(lab, "director", applied_serial=deployment.serial)

    body = operator.get("/clusters/web/plan/").content.decode()

    director = host_section(body, "director")
    reported = f"Compared with revision 2, which its agent reports applied (serial {deployment.serial}; the console"
    assert reported in director
    assert host_rows(body, "director") == []


def test_the_plan_finds_each_hosts_base_in_a_fixed_number_of_queries(applied_once, operator):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    lab = applied_once
    with CaptureQueriesContext(connection) as three:
        operator.get("/clusters/web/plan/")
    for n in (3, 4, 5):
        host = make_host(hostname=f"rs{n}", public_key=lab.rs1.public_key)
        make_cluster_host(cluster=lab.cluster, host=host, role=HostRole.REAL_SERVER)
        make_real_server(virtual_service=lab.service, address=f"10.20.0.{10 + n}", host=host)
    actions.apply_cluster(acting_user=None, cluster=lab.cluster)
    Deployment.objects.update(status="applied", started_at=timezone.now(), finished_at=timezone.now())
    with CaptureQueriesContext(connection) as six:
        operator.get("/clusters/web/plan/")
    assert len(six) == len(three)


def test_an_apply_that_no_host_can_receive_says_so_before_the_button_and_is_refused(lab, operator):
    for host in (lab.director, lab.rs1, lab.rs2):
        host.public_key = ""
        host.save()

    confirm = operator.get("/clusters/web/apply/").content.decode()

    alert = confirm.split('role="alert"', 1)[1].split("</div>", 1)[0]
    assert "No host can receive this revision: director, rs1 and rs2 were never enrolled" in alert
    assert "<button" not in confirm.split("<form", 1)[1].split("</form>", 1)[0]
    response = operator.post("/clusters/web/apply/", follow=True)
    assert response.redirect_chain[-1][0] == "/clusters/web/plan/"
    assert "No host can receive this revision: director, rs1 and rs2 were never enrolled" in response.content.decode()
    assert not Revision.objects.exists()


def test_an_apply_to_some_hosts_says_who_gets_nothing_and_history_records_it_partly_done(lab, operator):
    for host in (lab.rs1, lab.rs2):
        host.public_key = ""
        host.save()

    confirm = operator.get("/clusters/web/apply/").content.decode()
    assert "rs1 and rs2 were never enrolled: nothing is sent to them" in confirm
    assert re.search(r"Apply to 1 host \(\d+ operations\)</button>", confirm)

    response = operator.post("/clusters/web/apply/", follow=True)

    assert response.redirect_chain[-1][0] == "/clusters/web/revisions/1/"
    progress = response.content.decode()
    assert "Revision 1 sent to 1 of 3 hosts; rs1 and rs2 were never enrolled." in progress
    assert "is on its way to 3 hosts" not in progress
    assert "Kernel error" not in progress
    rows = {name: progress.split(f">{name}</a></td>", 1)[1].split("</tr>", 1)[0] for name in ("director", "rs1", "rs2")}
    assert '<span class="badge never_enrolled">never enrolled</span>' in rows["rs1"]
    assert "not sent" in rows["rs2"] and "never enrolled" in rows["rs2"]
    assert "never enrolled" not in rows["director"]
    history = operator.get("/clusters/web/history/").content.decode()
    assert '<span class="badge partial">partly done</span>' in history
    assert "Revision 1 sent to 1 of 3 hosts; rs1 and rs2 were never enrolled." in history


def test_a_host_in_two_clusters_is_compared_with_its_last_document_whichever_cluster_sent_it(applied_once, viewer):
    from tests.factories import make_cluster

    lab = applied_once
    api = make_cluster(name="api", slug="api")
    make_cluster_host(cluster=api, host=lab.rs1, role=HostRole.REAL_SERVER)
    service = make_virtual_service(cluster=api, address="10.30.0.100", port=80, scheduler="rr")
    make_real_server(virtual_service=service, address="10.20.0.11", host=lab.rs1)
    [deployment] = actions.apply_cluster(acting_user=None, cluster=api).deployments.all()
    answer = {"kind": "deployment", "deployment": deployment.pk, "status": "applied", "serial": deployment.serial}
    report(lab, "rs1", answer)
    deployment.refresh_from_db()

    body = viewer.get("/clusters/web/plan/").content.decode()

    rs1 = host_section(body, "rs1")
    assert "Compared with revision 1 of cluster “api” (a host's document holds every cluster it serves)" in rs1
    assert f"applied on this host at {deployment.finished_at:%Y-%m-%d %H:%M:%S} UTC." in rs1
    assert host_rows(body, "rs1") == []  # its document already holds both clusters' VIPs
    assert "Compared with revision 1, applied on this host at" in host_section(body, "rs2")


def test_a_drifted_host_says_its_kernel_differs_from_what_the_plan_assumes(applied_once, viewer):
    lab = applied_once
    drift = [{"op": "add-dest", "target": "tcp 10.10.0.100:80 -> 10.20.0.12:80", "detail": "", "reason": "gone"}]
    heartbeat(lab, "director", drift=drift)

    body = viewer.get("/clusters/web/plan/").content.decode()

    director = host_section(body, "director")
    assert "Compared with revision 1, applied on this host at" in director
    assert "Its agent's last heartbeat found its kernel differs from the last document it ran (1 operation" in director
    assert "Ask the agents compares with the real kernel" in director
    assert "differs from the last document" not in host_section(body, "rs1")


def test_a_long_plan_lists_its_first_operations_and_counts_them_all(lab, viewer, monkeypatch):
    """A first apply of thousands of real servers plans thousands of operations per director: the page lists the
    first OPERATIONS_SHOWN (here 2) and counts every operation by kind, rather than megabytes of rows."""
    from dispatch import preview

    monkeypatch.setattr(preview, "OPERATIONS_SHOWN", 2)
    body = viewer.get("/clusters/web/plan/").content.decode()
    rows = host_rows(body, "director")
    assert len(rows) == 2
    section = body.split('id="host-director"', 1)[1].split("</section>", 1)[0]
    summary = section.split("data-plan-summary>", 1)[1].split("</p>", 1)[0]
    total = int(re.search(r"<strong>(\d+) operations:</strong>", summary)[1])
    assert total > 2 and f"{total - 2} more not listed" in summary
    assert sum(int(count) for count in re.findall(r"× (\d+)</span>", summary)) == total
