"""Versions (issue 15, item 3): a heartbeat carries the agent's version and the document format it reads; the
console shows both per host and warns, in the plan and on the deployment, when an agent is too old for the
document it is about to get — instead of the agent refusing it at apply."""

import pytest

from clusters.compiler import DOCUMENT_VERSION
from dispatch import actions
from dispatch.capabilities import capability_gaps
from dispatch.models import Deployment
from tests.console_dispatch.conftest import heartbeat

pytestmark = pytest.mark.django_db(transaction=True)

TOO_OLD = (
    "Agent 0.1.0 on this host reads document format 1, and this document is format 2: "
    "upgrade lvsweb-agent on this host before applying, or it refuses the document."
)


def test_the_host_pages_show_each_agents_version_and_document_format(lab, viewer):
    assert heartbeat(lab, "director", agent_version="0.2.0", document_version=DOCUMENT_VERSION) == "heartbeat"

    listing = viewer.get("/hosts/").content.decode()
    detail = viewer.get(f"/hosts/{lab.director.pk}/").content.decode()

    assert f'<span class="muted">0.2.0, document format {DOCUMENT_VERSION}</span>' in listing
    assert '<th scope="row">Agent version</th><td>0.2.0</td>' in detail
    assert f'<th scope="row">Document format</th><td>{DOCUMENT_VERSION}</td>' in detail
    rs1 = viewer.get(f"/hosts/{lab.rs1.pk}/").content.decode()
    assert '<th scope="row">Document format</th><td>—</td>' in rs1  # never reported


def test_an_old_agents_heartbeat_without_its_document_format_is_accepted_and_read_as_format_1(lab, viewer):
    assert heartbeat(lab, "rs1", agent_version="0.1.0") == "heartbeat"  # as agents before the field send it

    lab.rs1.refresh_from_db()
    assert lab.rs1.agent_version == "0.1.0"
    assert "0.1.0, document format 1" in viewer.get("/hosts/").content.decode()


def test_the_plan_names_an_agent_too_old_for_the_document():
    document = {"version": 2, "host": "rs1", "revision": 4, "director": None, "real_server": None}
    old = {"agent_version": "0.1.0", "kernel": "6.1.0", "check": {}}  # before heartbeats said their format

    assert capability_gaps(document, old) == [TOO_OLD]
    assert capability_gaps(document, {**old, "document_version": 1}) == [TOO_OLD]
    assert capability_gaps(document, {**old, "document_version": 2}) == []
    assert capability_gaps({**document, "version": 1}, old) == []
    assert capability_gaps(document, {}) == []  # never reported: nothing known, nothing flagged


def test_an_apply_records_the_warning_on_the_old_agents_deployment(lab, viewer, monkeypatch):
    # A console whose documents moved on to format 2, and hosts whose agents did or did not follow.
    monkeypatch.setattr("clusters.compiler.DOCUMENT_VERSION", 2)
    monkeypatch.setattr("dispatch.views.hosts.DOCUMENT_VERSION", 2)
    heartbeat(lab, "director", agent_version="0.1.0")
    heartbeat(lab, "rs1", agent_version="0.2.0", document_version=2)

    revision = actions.apply_cluster(acting_user=None, cluster=lab.cluster)

    warnings = {d.host.hostname: d.warnings for d in Deployment.objects.filter(revision=revision)}
    assert warnings == {"director": [TOO_OLD], "rs1": [], "rs2": []}
    deployment = revision.deployments.get(host=lab.director)
    page = viewer.get(f"/clusters/web/deployments/{deployment.pk}/").content.decode()
    assert TOO_OLD in page
    assert (
        '<span class="badge failed">too old</span> the console writes format 2'
        in viewer.get(f"/hosts/{lab.director.pk}/").content.decode()
    )
