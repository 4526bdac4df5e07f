"""traffic.live.active_connections: what the Plan page shows before a real server is removed."""

from datetime import timedelta

import pytest
from django.utils import timezone

from tests.factories import make_cluster_host, make_host, make_real_server, make_virtual_service
from traffic.live import active_connections
from traffic.models import HostFeed, Series

pytestmark = pytest.mark.django_db


def _series(host, real_server, active, inactive):
    return Series.objects.create(
        host=host,
        cluster=real_server.virtual_service.cluster,
        virtual_service=real_server.virtual_service,
        real_server=real_server,
        updated_at=timezone.now(),
        active=active,
        inactive=inactive,
    )


def test_fresh_figures_are_summed_over_directors_and_stale_or_missing_ones_are_absent(settings):
    settings.TRAFFIC_STALE_AFTER = 10
    service = make_virtual_service()
    busy, idle, unreported, on_stale_director = (make_real_server(virtual_service=service) for _ in range(4))
    primary, backup, stale = make_host(), make_host(), make_host()
    for host in (primary, backup, stale):
        make_cluster_host(cluster=service.cluster, host=host)
    now = timezone.now()
    HostFeed.objects.create(host=primary, last_batch_at=now)
    HostFeed.objects.create(host=backup, last_batch_at=now - timedelta(seconds=2))
    HostFeed.objects.create(host=stale, last_batch_at=now - timedelta(seconds=30))
    _series(primary, busy, 12, 40)
    _series(backup, busy, 1, 2)
    _series(primary, idle, 0, 0)
    _series(stale, on_stale_director, 7, 7)

    found = active_connections([busy.pk, idle.pk, unreported.pk, on_stale_director.pk])

    assert found == {busy.pk: (13, 42), idle.pk: (0, 0)}


def test_a_real_server_gone_from_the_kernel_is_absent():
    real_server = make_real_server()
    host = make_host()
    HostFeed.objects.create(host=host, last_batch_at=timezone.now())
    series = _series(host, real_server, 3, 4)
    series.present = False
    series.save()

    assert active_connections([real_server.pk]) == {}
