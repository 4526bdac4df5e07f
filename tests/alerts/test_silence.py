"""Silences and acknowledgements from the console: nothing is delivered while silenced, and the audit history
shows who silenced what and who acknowledged."""

import pytest
from django.urls import reverse

from alerts import actions
from alerts.choices import AlertStatus
from alerts.models import Alert, Silence
from audit.models import AuditEntry
from tests.alerts.conftest import rule_for, webhook_channel
from tests.alerts.test_grouping import close_windows, report, transition
from tests.factories import make_member, make_user

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def operator(lab):
    user = make_user(staff=False, username="otto")
    make_member(user, team=lab.cluster.team, role="operator")
    return user


def test_nothing_is_delivered_while_silenced_and_the_audit_says_who_silenced_what(
    lab, receiver, cursor, client, operator
):
    channel, _secret = webhook_channel(lab.cluster.team, receiver.url)
    rule_for(lab.cluster.team, [channel])
    client.force_login(operator)
    answer = client.post(
        reverse("alerts-silence-create", args=[lab.cluster.team.slug]),
        {"minutes": 60, "cluster": lab.cluster.pk, "event_type": "real_server_down", "reason": "rack 4 maintenance"},
    )
    assert answer.status_code == 302
    silence = Silence.objects.get()
    entry = AuditEntry.objects.get(action="alert_silence.create")
    assert entry.actor_name == "otto" and entry.team_id == lab.cluster.team.pk
    assert "real_server_down in web silenced until" in entry.message and "rack 4 maintenance" in entry.message

    report(lab, [transition("10.20.0.11", "up", "down")])
    close_windows()
    assert receiver.received == []
    silenced = Alert.objects.get()
    assert silenced.status == AlertStatus.SILENCED and silenced.silence == silence
    assert not silenced.deliveries.exists()
    # Never announced, so its recovery is not announced either.
    report(lab, [transition("10.20.0.11", "down", "up")])
    close_windows()
    assert receiver.received == []

    assert client.post(reverse("alerts-silence-end", args=[silence.pk])).status_code == 302
    assert AuditEntry.objects.get(action="alert_silence.end").actor_name == "otto"
    report(lab, [transition("10.20.0.12", "up", "down")])
    close_windows()
    assert [request.json()["title"] for request in receiver.received] == ["1 real server down (web)"]


def test_a_silence_of_another_cluster_or_type_lets_the_alert_through(lab, receiver, cursor, operator):
    from tests.factories import make_cluster

    channel, _secret = webhook_channel(lab.cluster.team, receiver.url)
    rule_for(lab.cluster.team, [channel])
    other = make_cluster(team=lab.cluster.team)
    actions.create_silence(acting_user=operator, team=lab.cluster.team, cluster=other, ends_at=_in(3600))
    actions.create_silence(acting_user=operator, team=lab.cluster.team, event_type="agent_offline", ends_at=_in(3600))
    report(lab, [transition("10.20.0.11", "up", "down")])
    close_windows()
    assert len(receiver.received) == 1


def test_an_operator_acknowledges_a_viewer_cannot(lab, receiver, cursor, client, operator):
    channel, _secret = webhook_channel(lab.cluster.team, receiver.url)
    rule_for(lab.cluster.team, [channel])
    report(lab, [transition("10.20.0.11", "up", "down")])
    close_windows()
    alert = Alert.objects.get()
    viewer = make_user(staff=False)
    make_member(viewer, team=lab.cluster.team, role="viewer")
    client.force_login(viewer)
    assert client.post(reverse("alerts-alert-ack", args=[alert.pk])).status_code == 403
    client.force_login(operator)
    assert client.post(reverse("alerts-alert-ack", args=[alert.pk])).status_code == 302
    alert.refresh_from_db()
    assert alert.acknowledged_by == "otto"
    assert AuditEntry.objects.get(action="alert.acknowledge").actor_name == "otto"
    page = client.get(alert.get_absolute_url()).content.decode()
    assert "Acknowledged by otto" in page
    assert "Delivery log" not in page  # owners only


def _in(seconds: int):
    from datetime import timedelta

    from django.utils import timezone

    return timezone.now() + timedelta(seconds=seconds)
