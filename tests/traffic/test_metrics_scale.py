"""/metrics at scale: streamed in bounded memory and a fixed number of queries, `?cluster=`, per-director totals."""

import re
import tracemalloc

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from tests.factories import make_team, signed_in
from tests.scale import big_cluster
from traffic import metrics
from traffic.models import HostFeed

pytestmark = pytest.mark.django_db


@pytest.fixture
def member():
    return signed_in(role="viewer")


def scrape(client, path="/metrics") -> tuple[int, str, int]:
    """(status, text, queries) of one scrape (every feed fresh: seeding may outlast TRAFFIC_STALE_AFTER)."""
    HostFeed.objects.update(last_batch_at=timezone.now())
    with CaptureQueriesContext(connection) as queries:
        response = client.get(path)
        body = b"".join(response.streaming_content) if response.streaming else response.content
    return response.status_code, body.decode(), len(queries)


def peak_memory(client, path: str) -> tuple[int, int]:
    """(bytes answered, tracemalloc peak) of one scrape read chunk by chunk, as a client on a socket would."""
    HostFeed.objects.update(last_batch_at=timezone.now())
    tracemalloc.start()
    try:
        response = client.get(path)
        size = sum(len(chunk) for chunk in response.streaming_content)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return size, peak


def test_memory_and_queries_do_not_grow_with_the_series(member, monkeypatch):
    """Ten times the series: ten times the text, the same queries and about the same memory (the former
    whole-string rendering held every row, object and line at once: its peak grew with the text).

    The buffers' sizes are made small so that both sizes here exceed them, as the real sizes do at scale.
    """
    monkeypatch.setattr(metrics, "FETCH_ROWS", 100)
    monkeypatch.setattr(metrics, "BATCH_BYTES", 4096)
    monkeypatch.setattr(metrics, "SPOOL_IN_MEMORY", 4096)
    monkeypatch.setattr(metrics, "CHUNK_BYTES", 16384)
    team, client = member
    big_cluster(team, services=40, dests=10, slug="small")
    big_cluster(team, services=400, dests=10, slug="large")
    _, text, small_queries = scrape(client, "/metrics?cluster=small")
    _, big_text, big_queries = scrape(client, "/metrics?cluster=large")
    assert big_text.count("\n") > 9 * text.count("\n")
    assert big_queries == small_queries
    assert 'cluster="small"' in text and 'cluster="large"' not in text
    _, small_peak = peak_memory(client, "/metrics?cluster=small")
    big_size, big_peak = peak_memory(client, "/metrics?cluster=large")
    assert big_size > 4_000_000
    assert big_peak < small_peak + 250_000 and big_peak < big_size / 10, (small_peak, big_peak)


def test_cluster_filter_and_director_totals(member):
    team, client = member
    big_cluster(team, services=3, dests=2, directors=2, slug="east")
    big_cluster(team, services=2, dests=2, slug="west")
    stranger = big_cluster(make_team(), services=1, dests=1, slug="theirs")

    status, text, _ = scrape(client, "/metrics?cluster=east")
    assert status == 200
    assert 'cluster="east"' in text and 'cluster="west"' not in text
    # Each director of east sums its three services’ 20 active connections.
    for index in range(2):
        assert f'lvsweb_director_active_connections{{cluster="east",director="east-director-{index}"}} 60' in text
        assert f'lvsweb_director_connections_per_second{{cluster="east",director="east-director-{index}"}} 15.0' in text
    assert "# TYPE lvsweb_director_connections_total counter" in text

    _, both, _ = scrape(client, "/metrics?cluster=east,west")
    assert 'cluster="west"' in both and 'cluster="east"' in both
    _, everything, _ = scrape(client)
    assert len(re.findall(r"^lvsweb_real_server_active_connections\{", everything, re.M)) == 3 * 2 * 2 + 2 * 2

    status, text, _ = scrape(client, f"/metrics?cluster={stranger.slug}")
    assert status == 404 and text == "cluster: no cluster theirs among yours.\n"
    assert scrape(client, "/metrics?cluster=nowhere")[0] == 404


def test_each_family_comes_whole_with_one_help_and_type(member):
    """The text format wants one group per metric: the streamed families come out of their spools whole."""
    team, client = member
    big_cluster(team, services=3, dests=2, directors=2)
    _, text, _ = scrape(client)
    order: list[str] = []
    for line in text.splitlines():
        name = line.split()[2] if line.startswith("# ") else re.split(r"[{ ]", line, maxsplit=1)[0]
        if not order or order[-1] != name:
            order.append(name)
    assert len(order) == len(set(order)), "a metric family is split"
    assert text.count("# TYPE lvsweb_real_server_in_bytes_total counter\n") == 1


@pytest.mark.django_db(transaction=True)
def test_under_asgi_the_text_comes_chunk_by_chunk(member):
    """Under ASGI (daphne) the view hands Django an asynchronous iterator, which it sends as it comes, rather
    than a synchronous one that Django would read whole into a list first."""
    from asgiref.sync import async_to_sync
    from django.test import AsyncClient

    team, client = member
    big_cluster(team, services=3, dests=2)
    HostFeed.objects.update(last_batch_at=timezone.now())
    asgi = AsyncClient()
    asgi.cookies = client.cookies

    async def scrape_async():
        response = await asgi.get("/metrics")
        assert response.is_async
        return b"".join([chunk async for chunk in response.streaming_content]).decode()

    def steady(text: str) -> list[str]:  # the ages move between two scrapes
        return [line for line in text.splitlines() if not line.startswith("lvsweb_director_traffic_age_seconds{")]

    text = async_to_sync(scrape_async)()
    assert 'lvsweb_real_server_active_connections{cluster="' in text
    assert steady(text) == steady(scrape(client)[1])


def test_labels_and_values_are_written_as_before(member):
    """The lines are made a batch at a time now: firewall-mark and IPv6 endpoints, a port-less real server,
    an escaped hostname and floats keep the text they had (`VirtualService.endpoint`, `_label`, repr())."""
    from clusters.models import Host, RealServer, VirtualService
    from traffic.models import Series

    team, client = member
    cluster = big_cluster(team, services=1, dests=1, slug="odd")
    host = Host.objects.get(hostname="odd-director-0")
    host.hostname = 'odd"director\\1'
    host.save(update_fields=["hostname"])
    fwmark = VirtualService.objects.create(
        cluster=cluster, protocol="fwmark", fwmark=7, address_family="ipv6", scheduler="wlc"
    )
    udp6 = VirtualService.objects.create(cluster=cluster, protocol="udp", address="2001:db8::1", port=53)
    bare = RealServer.objects.create(virtual_service=fwmark, address="2001:db8::11")
    six = RealServer.objects.create(virtual_service=udp6, address="2001:db8::12", port=53)
    now = timezone.now()
    Series.objects.bulk_create(
        [
            Series(host=host, cluster=cluster, virtual_service=fwmark, updated_at=now, cps=1e-05, in_bps=1e16),
            Series(host=host, cluster=cluster, virtual_service=fwmark, real_server=bare, updated_at=now, cps=2.0),
            Series(host=host, cluster=cluster, virtual_service=udp6, updated_at=now, cps=1 / 3, conns=2**62),
            Series(host=host, cluster=cluster, virtual_service=udp6, real_server=six, updated_at=now, out_bps=123.25),
        ]
    )
    _, text, _ = scrape(client, "/metrics?cluster=odd")
    director = 'cluster="odd",director="odd\\"director\\\\1"'
    for line in [
        f'lvsweb_virtual_service_connections_per_second{{{director},virtual_service="FWM 7 IPv6"}} 1e-05',
        f'lvsweb_virtual_service_in_bytes_per_second{{{director},virtual_service="FWM 7 IPv6"}} 1e+16',
        f'lvsweb_real_server_connections_per_second{{{director},virtual_service="FWM 7 IPv6",'
        'real_server="[2001:db8::11]"} 2.0',
        f'lvsweb_virtual_service_connections_per_second{{{director},virtual_service="UDP [2001:db8::1]:53"}} '
        "0.3333333333333333",
        f'lvsweb_virtual_service_connections_total{{{director},virtual_service="UDP [2001:db8::1]:53"}} {2**62}',
        f'lvsweb_real_server_out_bytes_per_second{{{director},virtual_service="UDP [2001:db8::1]:53",'
        'real_server="[2001:db8::12]:53"} 123.25',
        f'lvsweb_real_server_active_connections{{{director},virtual_service="UDP [2001:db8::1]:53",'
        'real_server="[2001:db8::12]:53"} 0',
    ]:
        assert line + "\n" in text, line


def test_the_streamed_rows_are_djangos_values(member):
    """On PostgreSQL the series are streamed past Django's iterator (and its converters): the same values."""
    from traffic.models import Series

    team, _client = member
    big_cluster(team, services=3, dests=2, directors=2)
    rows = Series.objects.order_by("pk").values_list(
        "cluster__slug", "virtual_service__address", "real_server__address", "real_server__port", "conns", "cps"
    )
    assert list(metrics._streamed(rows)) == list(rows.iterator()) != []
    assert list(metrics._streamed(rows.none())) == []
