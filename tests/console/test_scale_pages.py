"""The dashboard and the cluster page at scale: a fixed number of queries whatever the size of the clusters, and
no revision inventory or whole-cluster traffic read to show a count (docs/performance.md, "Console at scale")."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from clusters.compiler import inventory_snapshot
from clusters.models import Cluster, Host, RealServer, VirtualService
from dispatch.models import Revision
from tests.factories import signed_in
from tests.scale import applied_on, big_cluster
from traffic.models import HostFeed

pytestmark = pytest.mark.django_db


@pytest.fixture
def member():
    return signed_in(role="viewer")


def applied(cluster: Cluster) -> None:
    """The cluster as it stands, applied (revision 1), its inventory last edited an hour before."""
    Revision.objects.create(cluster=cluster, number=1, inventory=inventory_snapshot(cluster))
    hour_ago = timezone.now() - timedelta(hours=1)
    Cluster.objects.filter(pk=cluster.pk).update(updated_at=hour_ago)
    VirtualService.objects.filter(cluster=cluster).update(updated_at=hour_ago)
    RealServer.objects.filter(virtual_service__cluster=cluster).update(updated_at=hour_ago)
    Host.objects.filter(cluster_roles__cluster=cluster).update(updated_at=hour_ago)


def get(client, path):
    HostFeed.objects.update(last_batch_at=timezone.now())
    with CaptureQueriesContext(connection) as queries:
        response = client.get(path)
    assert response.status_code == 200
    return response, [query["sql"] for query in queries.captured_queries]


def test_the_dashboard_reads_no_inventory_and_sums_traffic_in_the_database(member):
    team, client = member
    for _ in range(2):
        applied(big_cluster(team, services=30, dests=4, directors=2))
    client.get("/")
    _, small = get(client, "/")
    applied(big_cluster(team, services=90, dests=4, directors=2))
    _, first = get(client, "/")
    response, large = get(client, "/")
    assert len(large) == len(small)
    # A revision's JSON is counted in once (a revision never changes): the third cluster's on the first view.
    counting = "jsonb_array_elements" if connection.vendor == "postgresql" else "json_each"
    assert [sql for sql in first if counting in sql] and not [sql for sql in large if counting in sql]
    # The real servers are read once, for the health counts and for telling the clusters unchanged.
    assert len([sql for sql in large if 'FROM "clusters_realserver"' in sql]) == 1
    # The revisions' inventories stay in the database: counted there, never selected.
    assert not [sql for sql in large if '"agents_revision"."inventory"' in sql]
    # The traffic totals are sums, not the services' rows.
    series = [sql for sql in large if 'FROM "traffic_series"' in sql]
    assert series and all("SUM(" in sql for sql in series)
    assert "unapplied" not in response.content.decode()


def test_the_cluster_page_costs_the_same_for_30_or_300_services(member):
    team, client = member
    small = big_cluster(team, services=30, dests=4, directors=2)
    large = big_cluster(team, services=300, dests=4, directors=2)
    applied(small)
    applied(large)
    for cluster in (small, large):  # each revision's JSON counted once (`sent_counts`), on the first view
        client.get(f"/clusters/{cluster.slug}/")
    small_page, small_queries = get(client, f"/clusters/{small.slug}/")
    large_page, large_queries = get(client, f"/clusters/{large.slug}/")
    assert len(large_queries) == len(small_queries)
    # 25 services shown either way: the page does not grow with the cluster.
    assert len(large_page.content) < 1.2 * len(small_page.content)


def test_a_never_applied_cluster_is_counted_as_comparing_would(member):
    """Every host role, service and real server of a cluster never applied is one unapplied change: counted in
    the database for the dashboard, the same number as comparing its inventory with nothing sent."""
    from dispatch.unapplied import unapplied_of
    from tests.factories import make_cluster_host

    team, _ = member
    cluster = big_cluster(team, services=7, dests=3, directors=2)
    make_cluster_host(cluster=cluster, role="real_server")
    counted = unapplied_of([cluster], shortcut=True)[cluster.pk]
    compared = unapplied_of([cluster])[cluster.pk]
    assert counted.count == compared.count == 3 + 7 + 7 * 3
    assert counted.revision is None and counted.counted == counted.count


def applied_with_documents(cluster: Cluster) -> None:
    """The cluster applied (revision 1) on its directors as an apply leaves them: each holds its compiled document."""
    hosts = list(Host.objects.filter(cluster_roles__cluster=cluster))
    applied_on(cluster, hosts)
    Host.objects.filter(pk__in=[host.pk for host in hosts]).update(document_serial=1, applied_serial=1)


def test_the_plan_of_one_weight_change_costs_the_same_queries_for_ten_times_the_services(member):
    import gc

    team, client = member
    clusters = [big_cluster(team, services=services, dests=4, directors=2) for services in (30, 300)]
    pages = []
    for cluster in clusters:
        applied_with_documents(cluster)
        changed = RealServer.objects.filter(virtual_service__cluster=cluster).order_by("pk").first()
        RealServer.objects.filter(pk=changed.pk).update(weight=7)
        pages.append(get(client, f"/clusters/{cluster.slug}/plan/"))
    (small_page, small_queries), (large_page, large_queries) = pages
    assert len(large_queries) == len(small_queries)
    for page in (small_page, large_page):
        assert page.content.decode().count("<code>edit-dest</code>") == 2  # the one weight, on each director
    # Asked again, the directors' last documents are not read again: they were parsed once, and kept.
    read_documents = '"agents_deployment"."document" AS "document" FROM'
    assert [sql for sql in large_queries if read_documents in sql]
    _, again = get(client, f"/clusters/{clusters[1].slug}/plan/")
    assert not [sql for sql in again if read_documents in sql]
    assert len(again) == len(large_queries) - 1
    assert gc.isenabled()  # collection paused while planning, and resumed


def test_collection_resumes_when_the_last_plan_is_done_and_stays_off_if_someone_else_turned_it_off():
    import gc

    from dispatch.preview import collection_paused

    with collection_paused():
        assert not gc.isenabled()
        with collection_paused():  # another thread's Plan at the same time
            assert not gc.isenabled()
        assert not gc.isenabled()  # the first Plan is not done yet
    assert gc.isenabled()
    gc.disable()
    try:
        with collection_paused():
            pass
        assert not gc.isenabled()  # whoever turned it off turns it on again
    finally:
        gc.enable()


def test_the_dashboard_still_sees_a_real_server_deleted_or_edited_since_the_apply(member):
    """The one count of the real servers tells an unchanged cluster from one with a real server less, or edited."""
    team, client = member
    cluster = big_cluster(team, services=3, dests=2, directors=1)
    applied(cluster)
    get(client, "/")
    assert "unapplied" not in get(client, "/")[0].content.decode()
    RealServer.objects.filter(virtual_service__cluster=cluster).order_by("pk").first().delete()
    assert "1 unapplied change" in get(client, "/")[0].content.decode()
    edited = RealServer.objects.filter(virtual_service__cluster=cluster).order_by("pk").last()
    RealServer.objects.filter(pk=edited.pk).update(weight=edited.weight + 1, updated_at=timezone.now())
    assert "2 unapplied changes" in get(client, "/")[0].content.decode()


@pytest.mark.parametrize("slug", ["web", "2147483647"])
def test_each_real_server_row_links_where_the_url_tags_did(slug):
    """The rows' links are made without a `reverse` each: the same paths, behind a script prefix too, whatever
    the slug (even all digits, as the stand-in id)."""
    from django.template.loader import render_to_string
    from django.urls import reverse, set_script_prefix

    team, client = signed_in(role="operator")
    cluster = big_cluster(team, services=1, dests=2, directors=1, slug=slug)
    applied(cluster)
    draining = RealServer.objects.filter(virtual_service__cluster=cluster).order_by("pk").last()
    RealServer.objects.filter(pk=draining.pk).update(state="draining")
    page = get(client, f"/clusters/{slug}/")[0].content.decode()
    for rs in RealServer.objects.filter(virtual_service__cluster=cluster):
        expected = [
            reverse("real-server-state", args=[slug, rs.pk, "drain" if rs.state == "active" else "enable"]),
            f"{reverse('real-server-state', args=[slug, rs.pk, 'disable'])}?next=/clusters/{slug}/",
            reverse("real-server-now", args=[slug, rs.pk, "drain"]),
            f"{reverse('real-server-now', args=[slug, rs.pk, 'disable'])}?next=/clusters/{slug}/",
            f"{reverse('real-server-edit', args=[slug, rs.pk])}?next=/clusters/{slug}/",
            f"{reverse('real-server-delete', args=[slug, rs.pk])}?next=/clusters/{slug}/",
            reverse("audit-object", args=["clusters.realserver", rs.pk]),
            reverse("health-real-server-edit", args=[slug, rs.pk]),
        ]
        if rs.pk == draining.pk:
            expected.append(f'hx-get="{reverse("real-server-connections", args=[slug, rs.pk])}"')
        for link in expected:
            assert link in page, link
    draining.refresh_from_db()
    set_script_prefix("/lvs/")
    try:
        row = render_to_string(
            "clusters/partials/real_server_row.html",
            {"rs": draining, "cluster": cluster, "can_change": True, "next": "/lvs/x?a=1&b=2"},
        )
    finally:
        set_script_prefix("/")
    assert f'href="/lvs/clusters/{slug}/real-servers/{draining.pk}/edit/?next=/lvs/x%3Fa%3D1%26b%3D2"' in row
    assert f'hx-get="/lvs/clusters/{slug}/real-servers/{draining.pk}/connections/"' in row
