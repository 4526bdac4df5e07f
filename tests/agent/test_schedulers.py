"""The scheduler list has one definition (lvsweb_agent.model.SCHEDULER_DESCRIPTIONS): everyone reads it."""

from lvsweb_agent import fastcheck
from lvsweb_agent.document import schema
from lvsweb_agent.model import SCHEDULERS

from clusters.choices import Scheduler


def test_the_documents_schema_allows_exactly_the_agents_schedulers():
    definitions = schema().get("$defs") or schema()["definitions"]
    assert definitions["scheduler"]["enum"] == list(SCHEDULERS)


def test_the_console_offers_the_agents_schedulers_with_their_names():
    assert Scheduler.values == list(SCHEDULERS)
    assert Scheduler.WLC == "wlc"
    assert Scheduler.WLC.label == "wlc: weighted least connection"
    assert frozenset(SCHEDULERS) == fastcheck.SCHEDULERS
