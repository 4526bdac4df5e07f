"""The alerts page: what each role sees, a webhook's secret shown once, the send-test button."""

import pytest
from django.urls import reverse

from alerts.models import Channel, Delivery
from audit.models import AuditEntry
from tests.factories import default_team, make_member, make_user

pytestmark = pytest.mark.django_db


def test_an_owner_adds_a_webhook_channel_and_sees_its_secret_once(client, team_owner):
    client.force_login(team_owner)
    page = client.post(
        reverse("alerts-channel-create", args=["ops"]),
        {"name": "pager", "kind": "webhook", "url": "https://hooks.example.net/x", "rate_limit_per_hour": 30},
    )
    assert page.status_code == 201
    html = page.content.decode()
    assert "shown only this once" in html
    assert html.count("lvwh_") == 1
    assert "lvwh_" not in client.get(reverse("alerts-team", args=["ops"])).content.decode()


def test_a_bad_url_is_shown_at_its_field(client, team_owner):
    client.force_login(team_owner)
    page = client.post(
        reverse("alerts-channel-create", args=["ops"]),
        {"name": "pager", "kind": "webhook", "url": "ftp://x", "rate_limit_per_hour": 30},
    )
    assert page.status_code == 400
    assert "Only http:// and https:// URLs can receive webhooks." in page.content.decode()


def test_send_test_alert_queues_a_delivery_and_is_audited(client, team_owner):
    channel = Channel.objects.create(team=default_team(), name="mail", kind="email", addresses="a@example.net")
    client.force_login(team_owner)
    assert client.post(reverse("alerts-channel-test", args=[channel.pk])).status_code == 302
    assert Delivery.objects.get().alert.kind == "test"
    assert AuditEntry.objects.filter(action="alert_channel.test").exists()


def test_a_viewer_reads_without_forms(client):
    Channel.objects.create(team=default_team(), name="mail", kind="email", addresses="a@example.net")
    viewer = make_user(staff=False)
    make_member(viewer, role="viewer")
    client.force_login(viewer)
    html = client.get(reverse("alerts-team", args=["ops"])).content.decode()
    assert "a@example.net" in html
    assert "New channel" not in html and "Silence alerts" not in html and "Send test alert" not in html
