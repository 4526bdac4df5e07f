"""E-mail: a health transition in a signed report, through the real broker and control worker, arrives as a mail
(plain text and HTML, with a link to the alert's page) at a real SMTP server."""

import pytest
from celery import current_app

from alerts import actions
from alerts.choices import DeliveryStatus
from alerts.models import Alert
from tests.alerts.conftest import rule_for, wait_for
from tests.alerts.test_grouping import transition
from tests.reports import sealed_report

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_real_server_down_is_mailed_as_text_and_html_with_a_link(lab, cursor, smtp, alert_worker):
    team = lab.cluster.team
    channel, secret = actions.create_channel(
        acting_user=None,
        team=team,
        fields={"name": "on-call mail", "kind": "email", "addresses": "oncall@example.net, lead@example.net"},
    )
    assert secret == ""  # e-mail channels sign nothing
    rule_for(team, [channel])
    payload = {
        "kind": "health",
        "host": "director",
        "results": [],
        "transitions": [transition("10.20.0.11", "up", "down")],
    }
    current_app.send_task(
        "lvsweb.control.report", args=[sealed_report(payload, lab.keys["director"], "director")], queue="control"
    )

    recipients, mail = wait_for(lambda: smtp.messages and smtp.messages[0], timeout=90, what="the mail")
    alert = Alert.objects.get()
    assert sorted(recipients) == ["lead@example.net", "oncall@example.net"]
    assert mail["Subject"] == "[lvsweb] 1 real server down (web)"
    assert mail["From"] == "lvsweb <lvsweb@localhost>"
    text = mail.get_body(("plain",)).get_content()
    html = mail.get_body(("html",)).get_content()
    link = f"https://lvs.example.net/alerts/{alert.pk}/"
    for body in (text, html):
        assert "10.20.0.11:80" in body and "TCP connect: Connection refused" in body and link in body
    assert f'<a href="{link}">' in html
    # The SMTP server has the mail before the worker commits that it was sent: wait for the log.
    wait_for(lambda: alert.deliveries.get().status == DeliveryStatus.SENT, timeout=30, what="the delivery log")
