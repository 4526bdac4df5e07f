"""Host pages: the list with each agent's status, register / edit / delete, roles in clusters, the detail page."""

from datetime import timedelta

import pytest
from django.utils import timezone

from audit.models import AuditEntry
from clusters.models import ClusterHost, Host
from dispatch import actions
from tests.console_dispatch.conftest import browser_as, heartbeat
from tests.factories import make_cluster, make_host, make_team

pytestmark = pytest.mark.django_db(transaction=True)


def row_of(body: str, hostname: str) -> str:
    return body.split(f">{hostname}</a></td>", 1)[1].split("</tr>", 1)[0]


def test_the_list_shows_each_agents_status_heartbeat_age_and_kernel(lab, viewer):
    heartbeat(lab, "director")
    heartbeat(lab, "rs1", drift=[{"op": "add-dest", "target": "x", "detail": "", "reason": "not in the kernel"}])
    actions.revoke_host(acting_user=None, host=lab.rs2)
    make_host(hostname="fresh")
    Host.objects.filter(hostname="director").update(last_heartbeat_at=timezone.now() - timedelta(minutes=5))
    make_host(hostname="elsewhere", team=make_team())  # another team's: not listed

    body = viewer.get("/hosts/").content.decode()

    assert '<span class="badge in_sync" data-host-state="director">in sync</span>' in row_of(body, "director")
    assert "5\xa0minutes ago" in row_of(body, "director")
    assert "6.1.0-13-amd64" in row_of(body, "director")
    assert '<span class="badge drifted" data-host-state="rs1">drifted</span>' in row_of(body, "rs1")
    assert '<span class="badge revoked" data-host-state="rs2">revoked</span>' in row_of(body, "rs2")
    fresh = row_of(body, "fresh")
    assert '<span class="badge never_enrolled" data-host-state="fresh">never enrolled</span>' in fresh
    assert "never" in fresh
    assert "elsewhere" not in body
    assert "Register a host" not in body  # a viewer registers nothing


def test_an_agent_that_missed_three_beats_is_offline(lab, viewer):
    heartbeat(lab, "rs1")
    actions.mark_offline_hosts(now=timezone.now() + timedelta(seconds=31))
    body = viewer.get("/hosts/").content.decode()
    assert '<span class="badge offline" data-host-state="rs1">agent offline</span>' in row_of(body, "rs1")


def test_no_hosts_says_what_to_do(db):
    body = browser_as("operator").get("/hosts/").content.decode()
    assert "No hosts yet" in body and 'href="/hosts/new/"' in body


def test_register_a_host_then_enroll_it(lab, operator):
    form = operator.get("/hosts/new/").content.decode()
    assert 'name="hostname"' in form and 'name="team"' in form
    response = operator.post(
        "/hosts/new/",
        {
            "team": lab.cluster.team.pk,
            "hostname": "web3",
            "management_address": "192.0.2.33",
            "vip_interface": "lo",
            "uplinks": "eth0, eth1",
        },
    )
    host = Host.objects.get(hostname="web3")
    assert response["Location"] == f"/hosts/{host.pk}/enroll/"
    assert host.uplink_list == ["eth0", "eth1"]
    assert AuditEntry.objects.filter(action="host.create", object_repr="web3").exists()


def test_bad_input_is_named_by_field_and_what_was_typed_is_kept(lab, operator):
    response = operator.post(
        "/hosts/new/",
        {
            "team": lab.cluster.team.pk,
            "hostname": "rs1",
            "management_address": "192.0.2.300",
            "vip_interface": "this-name-is-far-too-long",
            "uplinks": "eth0",
        },
    )
    body = response.content.decode()
    assert response.status_code == 200
    assert "Enter a valid IPv4 or IPv6 address." in body
    assert "Ensure this value has at most 15 characters (it has 25)." in body
    assert 'value="192.0.2.300"' in body and 'value="this-name-is-far-too-long"' in body
    assert sorted(Host.objects.values_list("hostname", flat=True)) == ["director", "rs1", "rs2"]

    duplicate = operator.post(
        "/hosts/new/",
        {"team": lab.cluster.team.pk, "hostname": "rs1", "management_address": "192.0.2.31", "vip_interface": "lo"},
    )
    assert "This hostname cannot be used: it is already registered in the console" in duplicate.content.decode()
    assert Host.objects.filter(hostname="rs1").count() == 1


def test_edit_a_host(lab, operator):
    page = operator.get(f"/hosts/{lab.rs1.pk}/edit/").content.decode()
    assert 'value="rs1"' in page and 'name="team"' not in page  # a host stays with its team
    response = operator.post(
        f"/hosts/{lab.rs1.pk}/edit/",
        {"hostname": "rs1", "management_address": "192.0.2.41", "vip_interface": "lo", "uplinks": "ens3"},
    )
    assert response["Location"] == f"/hosts/{lab.rs1.pk}/"
    lab.rs1.refresh_from_db()
    assert (lab.rs1.management_address, lab.rs1.uplinks) == ("192.0.2.41", "ens3")
    assert lab.rs1.public_key  # agent fields are not the form's
    assert AuditEntry.objects.filter(action="host.update", object_repr="rs1").exists()


def test_delete_asks_first_and_is_refused_while_the_host_has_a_role(lab, operator):
    confirm = operator.get(f"/hosts/{lab.rs1.pk}/delete/").content.decode()
    assert "Delete host “rs1”?" in confirm and "It still has a role in 1 cluster" in confirm
    refused = operator.post(f"/hosts/{lab.rs1.pk}/delete/", follow=True)
    assert "rs1 still has a role in a cluster; remove it from its clusters first." in refused.content.decode()
    assert Host.objects.filter(pk=lab.rs1.pk).exists()

    spare = make_host(hostname="spare")
    response = operator.post(f"/hosts/{spare.pk}/delete/")
    assert response["Location"] == "/hosts/"
    assert not Host.objects.filter(hostname="spare").exists()
    assert AuditEntry.objects.filter(action="host.delete", object_repr="spare").exists()


def test_add_to_a_cluster_with_a_role_and_remove_again(lab, operator):
    other = make_cluster(name="api", slug="api")
    spare = make_host(hostname="spare")
    response = operator.post(f"/hosts/{spare.pk}/roles/", {"cluster": "api", "role": "director"}, follow=True)
    assert "spare is now a director of api. Plan and apply." in response.content.decode()
    role = ClusterHost.objects.get(cluster=other, host=spare)
    assert role.role == "director"

    again = operator.post(f"/hosts/{spare.pk}/roles/", {"cluster": "api", "role": "real_server"}, follow=True)
    assert "spare already has a role in cluster “api”" in again.content.decode()

    bad = operator.post(f"/hosts/{spare.pk}/roles/", {"cluster": "nope", "role": "director"}, follow=True)
    assert "cluster: Select a valid choice." in bad.content.decode()

    confirm = operator.get(f"/hosts/{spare.pk}/roles/{role.pk}/remove/").content.decode()
    assert "Remove spare from “api”?" in confirm
    operator.post(f"/hosts/{spare.pk}/roles/{role.pk}/remove/")
    assert not ClusterHost.objects.filter(pk=role.pk).exists()
    assert AuditEntry.objects.filter(action="cluster_host.delete").exists()


def test_the_detail_page_shows_facts_drift_and_deployments(lab, viewer):
    drift = [{"op": "add-dest", "target": "tcp 10.10.0.100:80 -> 10.20.0.11:80", "detail": "", "reason": "gone"}]
    heartbeat(lab, "director", drift=drift, agent_version="1.4.0")
    revision = actions.apply_cluster(acting_user=None, cluster=lab.cluster)

    body = viewer.get(f"/hosts/{lab.director.pk}/").content.decode()

    assert '<h1>director <span class="badge drifted" data-host-state="director">drifted</span></h1>' in body
    assert '<th scope="row">Kernel</th><td>6.1.0-13-amd64</td>' in body
    assert '<th scope="row">Agent version</th><td>1.4.0</td>' in body
    assert "<code>tcp 10.10.0.100:80 -&gt; 10.20.0.11:80</code>" in body
    deployment = revision.deployments.get(host=lab.director)
    assert f'href="/clusters/web/deployments/{deployment.pk}/"' in body
    assert 'data-live-cluster="web ' in body
    assert "Reconcile through web" not in body  # viewers watch; operators repair
    assert "Facts from the last heartbeat" in body


def test_another_teams_host_is_not_there(lab):
    outsider = make_host(hostname="outsider", team=make_team())
    assert browser_as("owner").get(f"/hosts/{outsider.pk}/").status_code == 404


def test_the_list_costs_the_same_queries_for_3_hosts_or_53(lab, viewer):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert viewer.get("/hosts/").status_code == 200
        return len(captured)

    few = queries()
    for n in range(50):
        make_host(hostname=f"bulk{n:02}")
    assert queries() == few


def test_the_list_sorts_by_a_column_and_back(lab, viewer):
    heartbeat(lab, "rs2")
    make_host(hostname="aaa")

    def order(sort: str) -> list[str]:
        body = viewer.get("/hosts/", {"sort": sort}).content.decode()
        return sorted(("aaa", "director", "rs1", "rs2"), key=lambda name: body.index(f">{name}</a></td>"))

    assert order("hostname") == ["aaa", "director", "rs1", "rs2"]
    assert order("-hostname") == ["rs2", "rs1", "director", "aaa"]
    assert order("-heartbeat")[0] == "rs2"  # the only one that ever beat comes first
    assert order("nonsense") == ["aaa", "director", "rs1", "rs2"]


def test_a_host_just_enrolled_is_waiting_for_its_first_heartbeat_not_offline(lab, viewer):
    """Enrollment succeeded, the agent has not beaten yet: every page says so, none says "agent offline"."""
    from lvsweb_agent.envelope import generate_private_key, public_key_text

    host = make_host(hostname="web3")
    ClusterHost.objects.create(cluster=lab.cluster, host=host, role="real_server")
    _, token = actions.create_enrollment_token(acting_user=None, host=host)
    actions.enroll_host(token=token, public_key=public_key_text(generate_private_key()), facts={"kernel": "6.1.0"})

    listed = row_of(viewer.get("/hosts/").content.decode(), "web3")
    detail = viewer.get(f"/hosts/{host.pk}/").content.decode()
    cluster = viewer.get(lab.cluster.get_absolute_url()).content.decode()
    search = viewer.get("/search/?q=web3").content.decode()
    for body in (listed, detail, cluster, search):
        assert '<span class="badge waiting"' in body and "waiting for first heartbeat" in body
    for body in (listed, detail):  # (the cluster page and the search list the lab's other hosts, offline)
        assert '<span class="badge offline"' not in body

    heartbeat_host = Host.objects.get(pk=host.pk)  # a beat turns it online; three missed beats then offline
    heartbeat_host.agent_status = "online"
    heartbeat_host.last_heartbeat_at = timezone.now()
    heartbeat_host.save()
    actions.mark_offline_hosts(now=timezone.now() + timedelta(seconds=31))
    assert '<span class="badge offline" data-host-state="web3">agent offline</span>' in row_of(
        viewer.get("/hosts/").content.decode(), "web3"
    )
