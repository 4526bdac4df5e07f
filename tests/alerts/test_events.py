"""Key problems: what the console refuses of the agents' signed messages reaches the team as one kind of alert.

The refusals are real: reports sealed as the agent seals them, handled as the control worker handles them, which
write their audit entries (dispatch/actions/reports.py, replay.py); alerts read those entries.
"""

import time

import pytest

from alerts import grouping
from dispatch import actions as dispatch_actions
from tests.alerts.conftest import rule_for, webhook_channel
from tests.alerts.test_grouping import close_windows
from tests.reports import sealed_report

pytestmark = pytest.mark.django_db(transaction=True)
DAY = 86400


def heartbeat(**fields) -> dict:
    return {"host": "director", "kind": "heartbeat", "facts": {"drift": [], "applied_serial": 1}, **fields}


def test_a_forged_report_a_replayed_one_and_a_refused_command_are_one_key_problem_alert(lab, receiver, cursor):
    channel, _secret = webhook_channel(lab.cluster.team, receiver.url)
    rule_for(lab.cluster.team, [channel], event_types=["key_problem"], group_seconds=5)
    # Signed with rs1's key while claiming to be the director: the signature does not verify.
    assert dispatch_actions.handle_report(sealed_report(heartbeat(), lab.keys["rs1"], "director")) == "rejected"
    # The director's own signature, but a day old: a replay (or an agent whose clock is off).
    old = sealed_report(heartbeat(sent_at=time.time() - DAY), lab.keys["director"], "director")
    assert dispatch_actions.handle_report(old) == "refused"
    # rs1's agent could not verify a command the console signed (the agent's copy of the console's key is not it).
    refusal = {"host": "rs1", "kind": "refusal", "deployment": None, "error": "bad signature on the command"}
    assert dispatch_actions.handle_report(sealed_report(refusal, lab.keys["rs1"], "rs1")) == "refused"
    grouping.ingest()
    close_windows()

    (sent,) = receiver.received
    body = sent.json()
    assert (body["kind"], body["event_type"], body["severity"]) == ("notice", "key_problem", "warning")
    assert body["title"] == "3 signed messages refused (web)"
    texts = [item["text"] for item in body["items"]]
    assert "rejected: bad signature" in texts[0], texts
    assert "was refused" in texts[1] and "director" in texts[1], texts
    assert texts[2] == "refused by the agent: bad signature on the command", texts
