"""The alerts API: the secret once, field-named errors, the delivery log for owners only."""

import pytest
from django.utils import timezone

from alerts.choices import DeliveryStatus
from alerts.models import Alert, Channel, Delivery
from audit.models import AuditEntry
from tests.factories import default_team, make_cluster, make_member, make_team, make_user

pytestmark = pytest.mark.django_db


def test_a_webhook_channels_secret_is_answered_once_and_stored_encrypted(api):
    answer = api.post(
        "/api/alert-channels/",
        {"team": "ops", "name": "pager", "kind": "webhook", "url": "https://hooks.example.net/lvsweb"},
        format="json",
    )
    assert answer.status_code == 201, answer.json()
    secret = answer.json()["secret"]
    assert secret.startswith("lvwh_")
    channel = Channel.objects.get()
    assert secret not in channel.secret_encrypted
    read = api.get(f"/api/alert-channels/{channel.pk}/").json()
    assert "secret" not in read and "secret_encrypted" not in read
    entry = AuditEntry.objects.get(action="alert_channel.create")
    assert secret not in str(entry.changes) and channel.secret_encrypted not in str(entry.changes)
    rotated = api.post(f"/api/alert-channels/{channel.pk}/rotate-secret/").json()["secret"]
    assert rotated != secret


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"kind": "webhook", "url": "gopher://x"}, "url", "Only http:// and https://"),
        ({"kind": "email", "addresses": "oncall@example.net, not-an-address"}, "addresses", "“not-an-address”"),
        ({"kind": "email", "addresses": ""}, "addresses", "at least one"),
        ({"kind": "pager"}, "kind", "not a valid choice"),
    ],
)
def test_a_bad_channel_is_refused_naming_the_field(api, body, field, words):
    answer = api.post("/api/alert-channels/", {"team": "ops", "name": "x", **body}, format="json")
    assert answer.status_code == 400
    assert words in " ".join(answer.json()[field])


def test_a_rule_names_only_its_own_teams_clusters_and_channels(api, team_owner):
    channel = Channel.objects.create(team=default_team(), name="mail", kind="email", addresses="a@example.net")
    other_team = make_team()
    make_member(team_owner, team=other_team)
    foreign = make_cluster(team=other_team)
    answer = api.post(
        "/api/alert-rules/",
        {"team": "ops", "name": "r", "channels": [channel.pk], "clusters": [foreign.slug]},
        format="json",
    )
    assert answer.status_code == 400 and "own team" in answer.json()["clusters"][0]
    answer = api.post(
        "/api/alert-rules/",
        {"team": "ops", "name": "r", "channels": [channel.pk], "event_types": ["real_server_down", "nope"]},
        format="json",
    )
    assert answer.status_code == 400 and "event_types" in answer.json()
    answer = api.post(
        "/api/alert-rules/",
        {"team": "ops", "name": "r", "channels": [channel.pk], "min_severity": "critical"},
        format="json",
    )
    assert answer.status_code == 201 and answer.json()["event_types"] == []


def test_the_delivery_log_is_for_owners(api, client):
    team = default_team()
    channel = Channel.objects.create(team=team, name="mail", kind="email", addresses="a@example.net")
    now = timezone.now()
    alert = Alert.objects.create(
        team=team,
        rule_name="r",
        event_type="agent_offline",
        severity="critical",
        kind="problem",
        opened_at=now,
        send_after=now,
    )
    Delivery.objects.create(
        alert=alert, channel=channel, status=DeliveryStatus.FAILED, attempts=6, last_error="mail not sent: refused"
    )
    owner_view = api.get(f"/api/alerts/{alert.pk}/").json()
    assert owner_view["deliveries"][0]["last_error"] == "mail not sent: refused"
    viewer = make_user(staff=False)
    make_member(viewer, team=team, role="viewer")
    client.force_login(viewer)
    assert client.get(f"/api/alerts/{alert.pk}/").json()["deliveries"] is None
    assert "Delivery log" not in client.get(alert.get_absolute_url()).content.decode()
    assert "mail not sent: refused" in api.get(alert.get_absolute_url()).content.decode()


def test_a_silence_in_the_past_or_too_long_is_refused(api):
    past = api.post("/api/alert-silences/", {"team": "ops", "ends_at": "2020-01-01T00:00:00Z"}, format="json")
    assert past.status_code == 400 and "future" in past.json()["ends_at"][0]
    later = (timezone.now() + timezone.timedelta(days=31)).isoformat()
    long = api.post("/api/alert-silences/", {"team": "ops", "ends_at": later}, format="json")
    assert long.status_code == 400 and "30 days" in long.json()["ends_at"][0]


def test_a_nul_character_in_a_slug_is_a_400_not_a_500(api):
    channel = Channel.objects.create(team=default_team(), name="mail", kind="email", addresses="a@example.net")
    answer = api.post(
        "/api/alert-rules/",
        {"team": "ops", "name": "r", "channels": [channel.pk], "clusters": ["we\x00b"]},
        format="json",
    )
    assert answer.status_code == 400 and "clusters" in answer.json()
    answer = api.post("/api/alert-silences/", {"team": "o\x00ps", "ends_at": "2030-01-01T00:00:00Z"}, format="json")
    assert answer.status_code == 400 and "team" in answer.json()
