"""The cluster page shows each real server's connections, so that a drain can be watched from there."""

import pytest
from django.utils import timezone

from tests.factories import make_cluster, make_cluster_host, make_host, make_real_server, make_virtual_service
from traffic.models import HostFeed, Series

pytestmark = pytest.mark.django_db


def test_real_server_rows_show_active_and_inactive_connections(client, team_owner):
    service = make_virtual_service(cluster=make_cluster(slug="web"))
    busy = make_real_server(virtual_service=service, address="203.0.113.1")
    unreported = make_real_server(virtual_service=service, address="203.0.113.2")
    director = make_host()
    make_cluster_host(cluster=service.cluster, host=director)
    HostFeed.objects.create(host=director, last_batch_at=timezone.now())
    Series.objects.create(
        host=director,
        cluster=service.cluster,
        virtual_service=service,
        real_server=busy,
        updated_at=timezone.now(),
        active=17,
        inactive=4,
    )
    client.force_login(team_owner)
    html = client.get("/clusters/web/").content.decode()
    busy_row = html.split(f'<tr id="rs-{busy.pk}"', 1)[1].split("</tr>", 1)[0]
    idle_row = html.split(f'<tr id="rs-{unreported.pk}"', 1)[1].split("</tr>", 1)[0]
    assert '17 <span class="muted">/ 4</span>' in busy_row
    assert 'data-label="Connections"' in idle_row and '<span class="muted">—</span>' in idle_row
    drained = client.post(f"/clusters/web/real-servers/{busy.pk}/drain/", HTTP_HX_REQUEST="true").content.decode()
    assert '<span class="badge draining"' in drained and '17 <span class="muted">/ 4</span>' in drained


def test_a_draining_row_rereads_its_connections_until_they_are_gone(client, team_owner):
    service = make_virtual_service(cluster=make_cluster(slug="web"))
    draining = make_real_server(virtual_service=service, address="203.0.113.1", state="draining")
    active = make_real_server(virtual_service=service, address="203.0.113.2")
    director = make_host()
    make_cluster_host(cluster=service.cluster, host=director)
    feed = HostFeed.objects.create(host=director, last_batch_at=timezone.now())
    series = Series.objects.create(
        host=director,
        cluster=service.cluster,
        virtual_service=service,
        real_server=draining,
        updated_at=timezone.now(),
        active=9,
        inactive=1,
    )
    client.force_login(team_owner)
    html = client.get("/clusters/web/").content.decode()
    poll = f'hx-get="/clusters/web/real-servers/{draining.pk}/connections/" hx-trigger="every 3s"'
    assert poll in html
    assert f"/real-servers/{active.pk}/connections/" not in html  # only draining rows are watched
    assert (
        '9 <span class="muted">/ 1</span>'
        in client.get(f"/clusters/web/real-servers/{draining.pk}/connections/").content.decode()
    )
    series.active, series.inactive = 2, 0
    series.save()
    feed.last_batch_at = timezone.now()
    feed.save()
    cell = client.get(f"/clusters/web/real-servers/{draining.pk}/connections/").content.decode()
    assert cell.strip().startswith(f'<td data-label="Connections" class="num" id="rs-{draining.pk}-connections"')
    assert '2 <span class="muted">/ 0</span>' in cell
