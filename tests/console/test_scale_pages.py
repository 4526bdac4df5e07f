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
from tests.scale import big_cluster
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
    response, large = get(client, "/")
    assert len(large) == len(small)
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
    client.get(f"/clusters/{small.slug}/")
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
    from clusters.compiler import compile_documents
    from dispatch.choices import DeploymentKind, DeploymentStatus
    from dispatch.models import Deployment

    snapshot = inventory_snapshot(cluster)
    revision = Revision.objects.create(cluster=cluster, number=1, inventory=snapshot)
    hosts = list(Host.objects.filter(cluster_roles__cluster=cluster))
    documents = compile_documents([snapshot], {host.hostname: 1 for host in hosts})
    now = timezone.now()
    Deployment.objects.bulk_create(
        [
            Deployment(
                kind=DeploymentKind.APPLY,
                cluster=cluster,
                revision=revision,
                host=host,
                serial=1,
                document=documents[host.hostname],
                status=DeploymentStatus.APPLIED,
                started_at=now,
                finished_at=now,
                expires_at=now,
            )
            for host in hosts
        ]
    )
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
