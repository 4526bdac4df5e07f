"""Every list page and API list at two sizes: the same queries, pages the same size, memory that does not grow with
the tables, no count that joins every real server, and address search served by its index (docs/performance.md,
"Console at scale")."""

import tracemalloc

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from clusters import selectors
from clusters.models import RealServer
from tests.factories import make_host, signed_in
from tests.scale import big_cluster
from traffic.models import HostFeed

pytestmark = pytest.mark.django_db

#: Lists over the whole inventory of the user's teams (each at least a page long at the smaller size).
LISTS = [
    "/clusters/",
    "/hosts/",
    "/search/?q=10.",
    "/api/clusters/",
    "/api/hosts/",
    "/api/virtual-services/",
    "/api/real-servers/",
    "/api/real-servers/?search=10.",
    "/api/real-server-health/",
]
#: The pages of one cluster, compared between a small cluster and one ten times its size.
CLUSTER_PAGES = ["/clusters/{slug}/traffic/", "/clusters/{slug}/revisions/"]


@pytest.fixture
def member():
    return signed_in(role="viewer")


def get(client, path):
    HostFeed.objects.update(last_batch_at=timezone.now())
    with CaptureQueriesContext(connection) as queries:
        response = client.get(path)
    assert response.status_code == 200, path
    return response, [query["sql"] for query in queries.captured_queries]


def measure(client, paths):
    """{path: (queries, bytes)}, each path asked once before (sessions, caches) so that only its own cost counts."""
    result = {}
    for path in paths:
        client.get(path)
        response, queries = get(client, path)
        result[path] = (queries, len(response.content))
    return result


def test_every_list_costs_the_same_queries_for_a_larger_inventory(member):
    team, client = member
    big_cluster(team, services=60, dests=2, directors=2)
    small = measure(client, LISTS)
    big_cluster(team, services=300, dests=4, directors=2)
    big_cluster(team, services=100, dests=3, directors=1)
    large = measure(client, LISTS)
    for path in LISTS:
        assert len(large[path][0]) == len(small[path][0]), path
        # A page of rows either way (a page of clusters or hosts lists a few more of them).
        assert large[path][1] < 1.5 * small[path][1] + 2000, path
        assert large[path][1] < 1_000_000, path


def test_the_pages_of_a_cluster_cost_the_same_for_ten_times_the_services(member):
    team, client = member
    small = big_cluster(team, services=30, dests=3, directors=2)
    large = big_cluster(team, services=300, dests=3, directors=2)
    for page in CLUSTER_PAGES:
        client.get(page.format(slug=small.slug))
        small_page, small_queries = get(client, page.format(slug=small.slug))
        large_page, large_queries = get(client, page.format(slug=large.slug))
        assert len(large_queries) == len(small_queries), page
        assert len(large_page.content) < 1.2 * len(small_page.content) + 2000, page


def test_no_list_counts_or_groups_every_real_server(member):
    """The counts a list shows (services and real servers of a cluster, real servers of a service) are counted
    for the rows of the page; the paginator's COUNT does not join the real servers to count clusters or services."""
    team, client = member
    big_cluster(team, services=60, dests=2)
    for path in ("/clusters/", "/api/clusters/", "/api/virtual-services/"):
        client.get(path)
        _, queries = get(client, path)
        for sql in queries:
            assert "GROUP BY" not in sql or "clusters_realserver" not in sql, (path, sql)
            if sql.startswith("SELECT COUNT(*)"):
                assert "clusters_realserver" not in sql, (path, sql)
    response = client.get("/api/virtual-services/?page_size=1")
    assert response.json()["results"][0]["real_server_count"] == 2
    assert client.get("/api/clusters/").json()["results"][0]["real_server_count"] == 120


@pytest.mark.parametrize(
    "path", ["/api/real-servers/", "/api/virtual-services/", "/api/real-server-health/", "/search/?q=10."]
)
def test_the_memory_of_a_list_does_not_grow_with_the_tables(member, path):
    team, client = member
    big_cluster(team, services=60, dests=2, directors=2)

    def peak() -> int:
        client.get(path)
        HostFeed.objects.update(last_batch_at=timezone.now())
        tracemalloc.start()
        try:
            assert client.get(path).status_code == 200
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    small = peak()
    big_cluster(team, services=400, dests=5, directors=2)  # 2,120 real servers instead of 120
    assert peak() < small + 250_000


def test_real_servers_are_found_by_address_description_or_host_name(member):
    team, client = member
    cluster = big_cluster(team, services=3, dests=2)
    named, described, other = RealServer.objects.filter(virtual_service__cluster=cluster).order_by("pk")[:3]
    host = make_host(team=team, hostname="rs-fra-17.example.net", management_address="192.0.2.170")
    RealServer.objects.filter(pk=named.pk).update(host=host)
    RealServer.objects.filter(pk=described.pk).update(description="Rack B17, behind the ToR switch")
    for text, expected in (("FRA-17", named), ("rack b17", described), (other.address, other)):
        found = client.get(f"/api/real-servers/?search={text}").json()["results"]
        assert expected.pk in [row["id"] for row in found], text
        assert {row["id"] for row in found} <= {named.pk, described.pk, other.pk} | {
            rs.pk for rs in RealServer.objects.filter(address__contains=text)
        }
        assert expected.address in client.get(f"/search/?q={text}").content.decode()


def test_address_search_is_served_by_the_trigram_indexes(member):
    """With scans of whole tables and indexes priced out (the planner prefers them on a table this small), the
    search reads the real servers through its trigram indexes; a search that joined the hosts into its OR could
    not."""
    team, _ = member
    big_cluster(team, services=20, dests=5)
    found = selectors.matching_real_servers(RealServer.objects.all(), "10.1.0.1")
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE clusters_realserver")
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_indexscan = off")  # nor a walk through a whole unrelated index
    try:
        plan = found.explain()
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL enable_seqscan = on")
            cursor.execute("SET LOCAL enable_indexscan = on")
    assert "clusters_realserver_address_trgm" in plan, plan
    assert "clusters_realserver_description_trgm" in plan
    assert "Seq Scan on clusters_realserver" not in plan
