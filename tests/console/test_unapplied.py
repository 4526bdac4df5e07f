"""Unapplied changes on the cluster page, its rows and the dashboard; Drain now / Enable now / Disable now."""

from datetime import timedelta

import pytest
from django.utils import timezone
from lvsweb_agent.envelope import generate_private_key, public_key_text

from audit.models import AuditEntry
from clusters import actions as inventory
from clusters.choices import HostRole
from clusters.compiler import inventory_snapshot
from clusters.models import Cluster, ClusterHost, Host, RealServer, VirtualService
from dispatch.models import Deployment, Revision
from dispatch.unapplied import latest_revisions, unapplied_of, unchanged_since_revision
from teams.choices import TeamRole
from tests.factories import (
    make_cluster,
    make_cluster_host,
    make_host,
    make_member,
    make_real_server,
    make_user,
    make_virtual_service,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def member(client, team_owner):
    client.force_login(team_owner)
    return client


@pytest.fixture
def sent():
    """Cluster “web” whose inventory is revision 1 as sent (an enrolled director, two real servers of weight 5)."""
    cluster = make_cluster(name="web frontend", slug="web")
    director = make_host(hostname="director", public_key=public_key_text(generate_private_key()))
    make_cluster_host(cluster=cluster, host=director, role=HostRole.DIRECTOR)
    service = make_virtual_service(cluster=cluster, address="10.10.0.100", port=80)
    first = make_real_server(virtual_service=service, address="10.20.0.11", weight=5)
    second = make_real_server(virtual_service=service, address="10.20.0.12", weight=5)
    Revision.objects.create(cluster=cluster, number=1, inventory=inventory_snapshot(cluster))
    return cluster, first, second


def row_of(html: str, real_server) -> str:
    start = html.index(f'<tr id="rs-{real_server.pk}"')
    return html[start : html.index("</tr>", start)]


def test_a_one_click_drain_says_it_waits_for_the_next_apply_on_the_row_the_page_and_the_dashboard(member, sent):
    _cluster, first, second = sent
    html = member.get("/clusters/web/").content.decode()
    assert "data-unapplied" not in html and "at next apply" not in html  # all sent

    member.post(f"/clusters/web/real-servers/{first.pk}/drain/", {"next": "/clusters/web/"})

    html = member.get("/clusters/web/").content.decode()
    assert '<a href="/clusters/web/plan/">1 unapplied change → Plan</a>' in html
    assert "differs from revision 1, the last one sent to the hosts" in html
    assert "weight 5 in revision 1 (last sent) → 0 at next apply (draining)" in row_of(html, first)
    assert "at next apply" not in row_of(html, second)
    dashboard = member.get("/").content.decode()
    assert "1 unapplied change</span> → Plan" in dashboard


def test_the_htmx_row_after_a_drain_says_what_the_kernel_still_has(member, sent):
    _cluster, first, _ = sent
    response = member.post(f"/clusters/web/real-servers/{first.pk}/drain/", HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert "weight 5 in revision 1 (last sent) → 0 at next apply (draining)" in html
    assert "Drain now" in html  # the drain the kernel does not have yet, at once


def test_a_cluster_never_applied_counts_everything_as_unapplied(member):
    cluster = make_cluster(slug="fresh")
    make_real_server(virtual_service=make_virtual_service(cluster=cluster))
    html = member.get("/clusters/fresh/").content.decode()
    assert "2 unapplied changes → Plan" in html  # the service and its real server
    assert "this cluster was never applied" in html
    assert "not sent yet → weight 1 at next apply" in html
    assert "Drain now" not in html  # nothing to change at once before a first apply


def test_drain_now_without_javascript_sends_a_revision_and_comes_back(member, sent):
    _cluster, first, second = sent
    RealServer.objects.filter(pk=second.pk).update(weight=9)  # another change, left for the next apply
    response = member.post(f"/clusters/web/real-servers/{first.pk}/now/drain/", {"next": "/clusters/web/"})
    assert response.status_code == 302 and response["Location"] == "/clusters/web/"
    html = member.get("/clusters/web/").content.decode()
    assert "is now draining: revision 2 is on its way to director with this change alone" in html
    assert "at next apply" not in row_of(html, first)
    assert "weight 5 in revision 2 (last sent) → 9 at next apply" in row_of(html, second)
    assert "1 unapplied change → Plan" in html
    assert list(Deployment.objects.values_list("revision__number", "host__hostname")) == [(2, "director")]
    assert AuditEntry.objects.filter(action="real_server.drain_now").count() == 1


def test_drain_now_with_htmx_swaps_the_row(member, sent):
    _cluster, first, _ = sent
    response = member.post(f"/clusters/web/real-servers/{first.pk}/now/drain/", HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert html.startswith(f'<tr id="rs-{first.pk}"') or f'<tr id="rs-{first.pk}"' in html
    assert '<span class="badge draining" role="status">draining</span>' in html
    assert "at next apply" not in html and "Enable now" in html


def test_a_refused_drain_now_says_why(member, sent):
    _cluster, first, _ = sent
    Revision.objects.all().delete()
    response = member.post(f"/clusters/web/real-servers/{first.pk}/now/drain/", {"next": "/clusters/web/"}, follow=True)
    html = response.content.decode()
    assert "web frontend was never applied, so 10.20.0.11:80 of TCP 10.10.0.100:80 is not in the kernel yet" in html
    first.refresh_from_db()
    assert first.state == "active"
    htmx = member.post(f"/clusters/web/real-servers/{first.pk}/now/drain/", HTTP_HX_REQUEST="true")
    assert htmx.status_code == 400  # the console's script then sends the form again, without htmx


def test_disable_now_asks_first(member, sent):
    _cluster, first, _ = sent
    html = member.get(f"/clusters/web/real-servers/{first.pk}/now/disable/").content.decode()
    assert "Disable real server 10.20.0.11:80 now?" in html
    assert "revision 2 is revision 1 (the last one sent) with only this real server disabled" in html
    assert "remove it from their kernels" in html
    assert not Revision.objects.filter(number=2).exists()


def test_a_viewer_sees_unapplied_changes_but_no_now_buttons(client, sent):
    _cluster, first, _ = sent
    viewer = make_user(staff=False)
    make_member(viewer, role=TeamRole.VIEWER)
    client.force_login(viewer)
    RealServer.objects.filter(pk=first.pk).update(state="draining")
    html = client.get("/clusters/web/").content.decode()
    assert "1 unapplied change" in html and "/now/" not in html
    assert client.post(f"/clusters/web/real-servers/{first.pk}/now/drain/").status_code == 403


def settle(cluster) -> None:
    """Make the cluster's objects look saved long ago, and its revisions ten minutes after them."""
    long_ago = timezone.now() - timedelta(hours=1)
    before = long_ago - timedelta(minutes=10)
    Cluster.objects.filter(pk=cluster.pk).update(updated_at=before)
    VirtualService.objects.filter(cluster=cluster).update(updated_at=before)
    RealServer.objects.filter(virtual_service__cluster=cluster).update(updated_at=before)
    Host.objects.filter(pk__in=ClusterHost.objects.filter(cluster=cluster).values("host")).update(updated_at=before)
    Revision.objects.filter(cluster=cluster).update(created_at=long_ago)


def test_the_dashboard_skips_clusters_untouched_since_their_apply_and_still_sees_every_change(sent):
    cluster, first, second = sent
    settle(cluster)

    def counted():
        fresh = Cluster.objects.get(pk=cluster.pk)
        skipped = unchanged_since_revision([fresh], latest_revisions([fresh.pk]))
        return skipped, unapplied_of([fresh], shortcut=True)[fresh.pk].count

    assert counted() == ({cluster.pk}, 0)  # not read: nothing saved since long before revision 1
    inventory.update_real_server(acting_user=None, real_server=first, changes={"weight": 6})  # an edit
    assert counted() == (set(), 1)
    # An edit saved shortly before the revision was made may have missed it: such a cluster is compared.
    settle(cluster)
    Revision.objects.filter(cluster=cluster).update(created_at=timezone.now())
    RealServer.objects.filter(pk=second.pk).update(updated_at=timezone.now() - timedelta(minutes=1))
    assert counted() == (set(), 1)


def test_deletions_and_host_roles_count_on_the_dashboard_too(sent):
    cluster, first, _ = sent
    settle(cluster)
    first.delete()  # no timestamp left behind: the count says it
    fresh = Cluster.objects.get(pk=cluster.pk)
    assert unapplied_of([fresh], shortcut=True)[cluster.pk].count == 1
    Revision.objects.filter(cluster=cluster).update(inventory=inventory_snapshot(cluster))
    settle(cluster)
    assert unapplied_of([Cluster.objects.get(pk=cluster.pk)], shortcut=True)[cluster.pk].count == 0
    ClusterHost.objects.filter(cluster=cluster).delete()  # the director's role, gone without a trace
    assert unapplied_of([Cluster.objects.get(pk=cluster.pk)], shortcut=True)[cluster.pk].count == 1
