"""Traffic pages, the chart's history and /metrics, as a member, an outsider and Prometheus see them."""

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from accounts.actions import create_api_token, revoke_api_token
from tests.factories import make_cluster, make_member, make_team, make_user, make_virtual_service
from tests.traffic.conftest import rs_row, service_row
from traffic.choices import Resolution
from traffic.models import HostFeed, Sample, Series

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def busy(lab, director):
    """rs1 takes 50 conn/s, rs2 none (a quiet real server), as of now."""
    for second in range(5):
        c = 50 * (second // 2) * 2
        director.send(
            1000.0 + second,
            [
                rs_row("10.20.0.11", 7, 3, c, 10 * c, 600 * c),
                rs_row("10.20.0.12", 0, 0, 0),
                service_row(7, 3, c, 10 * c, 600 * c),
            ],
            full=second == 0,
        )
    return lab


def member_client(role="viewer"):
    user = make_user(staff=False)
    make_member(user, role=role)
    client = Client()
    client.force_login(user)
    return client, user


def row_of(html, service_id, real_server_id):
    return re.search(rf'<tr data-traffic-row="{service_id}:{real_server_id}".*?</tr>', html, re.S).group(0)


def test_the_traffic_page_shows_live_figures_and_warns_about_a_quiet_real_server(busy):
    client, _ = member_client()
    html = client.get("/clusters/web/traffic/").content.decode()
    rs1 = row_of(html, busy.service.pk, busy.real_server1.pk)
    assert '<td data-label="Active" class="num" data-field="active">7</td>' in rs1
    assert 'data-field="cps">50</td>' in rs1
    assert 'data-field="in_bps">30.0 kB</td>' in rs1
    rs2 = row_of(html, busy.service.pk, busy.real_server2.pk)
    assert '<span class="badge failed" data-quiet  title' in rs2  # shown: no `hidden`
    assert "director director: <span data-feed-state>live</span>" in html
    assert "vendor/uplot/uPlot.iife.min.js" in html and "js/traffic.js" in html


def test_the_cluster_page_and_dashboard_show_totals_and_a_stale_director(busy):
    client, _ = member_client()
    html = client.get("/clusters/web/").content.decode()
    assert "Live traffic" in html and '<div class="value">7</div>' in html
    assert "1 real server gets no new connections" in html
    assert '<td data-label="Conn/s" class="num">50</td>' in client.get("/").content.decode()

    HostFeed.objects.update(last_batch_at=timezone.now() - timedelta(seconds=60))
    html = client.get("/clusters/web/").content.decode()
    assert "<strong>Stale:</strong> no traffic figures from director director since 1" in html
    assert (
        '<td data-label="Live traffic" colspan="3" class="muted">no fresh figures</td>'
        in client.get("/").content.decode()
    )


def test_the_service_page_shows_only_that_service(busy):
    other = make_virtual_service(cluster=busy.cluster, address="10.10.0.101")
    client, _ = member_client()
    html = client.get(f"/clusters/web/services/{busy.service.pk}/traffic/").content.decode()
    assert f'id="traffic-vs-{busy.service.pk}"' in html and f'id="traffic-vs-{other.pk}"' not in html
    assert client.get(f"/clusters/web/services/{other.pk + 100}/traffic/").status_code == 404


def test_history_gives_chart_columns_and_refuses_a_foreign_real_server_by_name(busy):
    client, _ = member_client()
    url = f"/clusters/web/services/{busy.service.pk}/traffic/history/"
    data = client.get(url, {"real_server": busy.real_server1.pk, "range": "5m"}).json()
    # two closed windows (batches a few milliseconds apart here: they share a 2-s step, and are averaged)
    assert data["resolution"] == 1 and data["step"] == 2
    assert set(data["cps"]) == {50.0} and set(data["active"]) == {7.0} and len(data["t"]) == len(data["cps"]) >= 1

    series = Series.objects.get(real_server=busy.real_server1)
    Sample.objects.create(
        series=series, resolution=Resolution.MINUTE, at=timezone.now() - timedelta(hours=2), span=60, cps=12.5
    )
    assert client.get(url, {"real_server": busy.real_server1.pk, "range": "24h"}).json()["cps"] == [12.5]

    stranger = make_virtual_service(cluster=make_cluster(team=make_team()))
    response = client.get(url, {"real_server": 999999, "range": "2y"})
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert errors["real_server"] == ["Not a real server of TCP 10.10.0.100:80."]
    assert errors["range"][0].startswith("Select a valid choice. 2y")
    assert client.get(f"/clusters/web/services/{stranger.pk}/traffic/history/").status_code == 404


def test_metrics_need_a_token_and_show_only_ones_own_clusters(busy):
    client = Client()
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer nope").status_code == 401

    _, user = member_client()
    token, key = create_api_token(acting_user=None, user=user, name="prometheus", read_only=True)
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {key}")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    assert response.streaming
    text = b"".join(response.streaming_content).decode()
    labels = 'cluster="web",director="director",virtual_service="TCP 10.10.0.100:80"'
    assert "# TYPE lvsweb_real_server_connections_total counter" in text
    assert f'lvsweb_real_server_active_connections{{{labels},real_server="10.20.0.11:80"}} 7' in text
    assert f'lvsweb_real_server_connections_per_second{{{labels},real_server="10.20.0.11:80"}} 50.0' in text
    assert f"lvsweb_virtual_service_in_bytes_total{{{labels}}} 120000" in text
    assert re.search(r'lvsweb_director_traffic_age_seconds\{director="director"\} \d+\.\d{3}', text)

    _, outsider = member_client()
    outsider.memberships.all().delete()
    make_member(outsider, team=make_team(), role="owner")
    _, other_key = create_api_token(acting_user=None, user=outsider, name="prometheus")
    other = client.get("/metrics", HTTP_AUTHORIZATION=f"Token {other_key}")
    assert "10.20.0.11" not in b"".join(other.streaming_content).decode()

    revoke_api_token(acting_user=None, token=token)
    assert client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {key}").status_code == 401


def test_two_directors_are_added_up_on_the_page_and_in_the_chart(busy):
    from lvsweb_agent.envelope import generate_private_key, public_key_text

    from clusters.choices import HostRole
    from tests.factories import make_cluster_host, make_host
    from tests.reports import sealed_report
    from traffic import inventory
    from traffic.actions import handle_batch

    key = generate_private_key()
    backup = make_host(hostname="backup", public_key=public_key_text(key))
    make_cluster_host(cluster=busy.cluster, host=backup, role=HostRole.DIRECTOR)
    inventory.forget()
    for second in range(5):
        c = 10 * (second // 2) * 2
        batch = {
            "kind": "traffic",
            "host": "backup",
            "epoch": "backup-1",
            "seq": second + 1,
            "at": 1000.0 + second,
            "interval": 1.0,
            "full": second == 0,
            "rows": [list(rs_row("10.20.0.11", 1, 0, c, 10 * c, 600 * c))],
            "gone": [],
        }
        assert handle_batch(sealed_report(batch, key, "backup")) == "ok"
    # The console stamps each sample with its arrival time; the two directors' batches arrived a moment apart
    # here, so that a step boundary could fall between them (as it may between any two reports). Put them in
    # one step, as two directors reporting together would be.
    now = timezone.now().replace(microsecond=0)
    step_start = now - timedelta(seconds=4 + now.second % 2)  # an even second: where a 2 s step starts
    for n, sample in enumerate(Sample.objects.order_by("pk")):
        Sample.objects.filter(pk=sample.pk).update(at=step_start + timedelta(milliseconds=n))

    client, _ = member_client()
    html = client.get("/clusters/web/traffic/").content.decode()
    rs1 = row_of(html, busy.service.pk, busy.real_server1.pk)
    assert 'data-field="active">8</td>' in rs1 and 'data-field="cps">60</td>' in rs1
    url = f"/clusters/web/services/{busy.service.pk}/traffic/history/"
    data = client.get(url, {"real_server": busy.real_server1.pk}).json()
    assert max(data["cps"]) == 60.0  # 50 conn/s through the primary and 10 through the backup, same steps


def test_a_big_cluster_is_shown_25_services_a_page(busy):
    for port in range(81, 111):
        make_virtual_service(cluster=busy.cluster, address="10.10.0.100", port=port)
    client, _ = member_client()
    first = client.get("/clusters/web/traffic/").content.decode()
    second = client.get("/clusters/web/traffic/?page=2").content.decode()
    assert first.count('<section class="card" id="traffic-vs-') == 25
    assert second.count('<section class="card" id="traffic-vs-') == 6
    assert "Page 1 of 2 · 31 in all" in first
