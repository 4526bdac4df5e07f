"""The Plan of a small change plans only the services that changed, and says exactly what planning the whole
document says: the same operations in the same order (docs/performance.md, "Console at scale")."""

import copy

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from lvsweb_agent.document import DocumentError, parse_document
from lvsweb_agent.planner import plan

from clusters.models import RealServer
from dispatch import preview, preview_bases
from dispatch.preview import preview_apply
from dispatch.preview_bases import delta_operations, kernel_left_by, parsed_base
from tests.agent.test_properties import documents
from tests.console.test_scale_pages import applied_with_documents, get
from tests.console_dispatch.test_preview_properties import host_documents
from tests.factories import signed_in
from tests.scale import big_cluster

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def whole(before: dict, after: dict) -> list[str] | None:
    """The operations of planning `after` whole against the kernel `before` left (None: the agent refuses it)."""
    try:
        desired = parse_document(after)
    except DocumentError:
        return None
    return [str(op) for op in plan(desired, *kernel_left_by(parse_document(before)), now=1).operations]


def delta(before: dict, after: dict) -> list[str] | None:
    operations = delta_operations(parsed_base(before), after, now=1)
    return None if operations is None else [str(op) for op in operations]


@st.composite
def changes(draw, drain_timeout: int) -> tuple[dict, dict]:
    """A valid document and the same with a few changes: weights, real servers or services added, removed or
    changed, sometimes one of the other parts of the document, sometimes a change the agent refuses."""
    before = draw(host_documents(drain_timeout=drain_timeout))
    if before["director"] is None and draw(st.integers(0, 3)):  # mostly directors: the delta is theirs
        before["director"] = draw(documents(drain_timeout=drain_timeout))["director"]
    try:
        parse_document(before)
    except DocumentError:
        before = {**before, "director": None, "real_server": None}
    after = copy.deepcopy(before)
    after["revision"] = before["revision"] + 1
    others = draw(host_documents(drain_timeout=drain_timeout))
    services = (after.get("director") or {}).get("services", [])
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["weight", "remove", "add", "replace", "dests", "scheduler", "refused", "other"]))
        if kind == "other":
            after["director"] = others["director"]
            services = (after.get("director") or {}).get("services", [])
            continue
        if not services:
            continue
        index = draw(st.integers(0, len(services) - 1))
        service = services[index]
        if kind == "weight" and service["real_servers"]:
            dest = draw(st.sampled_from(service["real_servers"]))
            dest["weight"] = draw(st.integers(0, 5))
        elif kind == "remove":
            del services[index]
        elif kind in ("add", "replace"):
            candidates = ((others.get("director") or {}).get("services")) or [service]
            new = copy.deepcopy(draw(st.sampled_from(candidates)))
            services[index : index + (kind == "replace")] = [new]
        elif kind == "dests":
            service["real_servers"] = service["real_servers"][: draw(st.integers(0, len(service["real_servers"])))]
        elif kind == "scheduler":
            service["scheduler"], service["flags"] = draw(st.sampled_from(["rr", "wlc", "sh"])), []
        elif kind == "refused":
            service["flags"] = ["mh-port"] if service["scheduler"] != "mh" else ["sh-port"]
    return before, after


@SETTINGS
@given(change=changes(drain_timeout=300))
def test_the_delta_plans_what_the_whole_document_plans(change):
    before, after = change
    planned = delta(before, after)
    assert planned is None or planned == whole(before, after)


@SETTINGS
@given(change=changes(drain_timeout=0))
def test_the_delta_plans_what_the_whole_document_plans_without_drains(change):
    before, after = change
    planned = delta(before, after)
    assert planned is None or planned == whole(before, after)


@settings(max_examples=60, deadline=None)
@given(change=changes(drain_timeout=300))
def test_a_change_of_services_alone_is_planned_by_the_delta(change):
    """Valid, and only services changed: the delta tells (it is not a fallback that is always taken)."""
    before, after = change
    assume(before.get("director") is not None and after.get("director") is not None)
    assume(whole(before, after) is not None)
    services_alone = {**after, "revision": before["revision"]}
    services_alone["director"] = {**after["director"], "services": before["director"]["services"]}
    assume(services_alone == before)
    assert delta(before, after) == whole(before, after)


def test_nothing_changed_and_one_weight_are_planned_by_the_delta():
    before = {
        "version": 1,
        "host": "director1",
        "revision": 1,
        "director": {
            "owns_ipvs_table": True,
            "drain_timeout": 300,
            "vips": [{"address": "10.10.0.100", "interface": "eth0"}],
            "services": [
                {
                    "protocol": "tcp",
                    "address": "10.10.0.100",
                    "port": port,
                    "scheduler": "wlc",
                    "real_servers": [
                        {"address": f"10.20.0.{n}", "port": port, "forward": forward, "weight": 1} for n in range(1, 4)
                    ],
                }
                for port, forward in ((80, "nat"), (443, "tun"), (8080, "tun"))
            ],
        },
    }
    after = copy.deepcopy(before)
    assert delta(before, after) == whole(before, after) == []
    after["director"]["services"][2]["real_servers"][1]["weight"] = 9
    assert delta(before, after) == whole(before, after)
    assert [line.split()[0] for line in delta(before, after)] == ["edit-dest"]


@pytest.mark.django_db
def test_a_one_weight_plan_of_a_big_cluster_parses_and_plans_only_the_changed_service(monkeypatch):
    team, client = signed_in(role="viewer")
    cluster = big_cluster(team, services=120, dests=4, directors=2)
    applied_with_documents(cluster)
    changed = RealServer.objects.filter(virtual_service__cluster=cluster).order_by("pk").first()
    RealServer.objects.filter(pk=changed.pk).update(weight=7)
    get(client, f"/clusters/{cluster.slug}/plan/")  # parses and keeps the directors' last documents
    calls = {"document": 0, "service": 0}

    def counted(name, function):
        def call(*args, **kwargs):
            calls[name] += 1
            return function(*args, **kwargs)

        return call

    monkeypatch.setattr(preview_bases, "parse_document", counted("document", preview_bases.parse_document))
    monkeypatch.setattr(preview_bases, "parse_service", counted("service", preview_bases.parse_service))
    again, _ = get(client, f"/clusters/{cluster.slug}/plan/")
    assert calls == {"document": 0, "service": 2}  # the changed service, once on each director
    assert again.content.decode().count("<code>edit-dest</code>") == 2
    # The same preview as planning the whole documents: operations, their order and words, warnings.
    quick = preview_apply(cluster, now=1)
    monkeypatch.setattr(preview, "delta_operations", lambda *args, **kwargs: None)
    slow = preview_apply(cluster, now=1)
    assert calls["document"] == 2
    assert seen(quick) == seen(slow)
    assert [len(host.operations) for host in quick.hosts] == [1, 1]


def seen(cluster_preview) -> list:
    """What the Plan page shows of each host's preview."""
    return [
        (
            host.host.hostname,
            [(op.op, op.target, op.detail, op.reason, op.change, op.real_server) for op in host.operations],
            host.warnings,
            host.problems,
            host.base.unreadable,
        )
        for host in cluster_preview.hosts
    ]
