"""Every API operation answers what /api/schema/ promises: schemathesis drives each one with generated requests.

The console is an ASGI app (`WSGI_APPLICATION` is None), but its views are plain Django: a `WSGIHandler` built
here serves the same middleware and URLs in-process, on the test's own database connection. Each generated
request runs in a savepoint that is rolled back afterwards, so examples never see each other's writes (a
deleted cluster, a revoked host) and every one starts from the same inventory: a team owner with a cluster,
a director, two real-server hosts, a TUN service with two real servers, a health check, a revision with its
deployments and a health report.

Generated identifiers are random, so half of the examples of an operation with a path parameter (or a body
that names a cluster, host, service, real server or team) get a real object of that inventory instead: the
operation then really reads, changes or deletes it, not just answers 404.

The run's own API token is never revoked: `DELETE /api/tokens/{id}/` is tested on a second token of the same
owner (a generated id may still hit the run's token, and the per-example rollback undoes that revocation).
Nothing is excluded.
"""

import pytest
import schemathesis
from django.core import signals
from django.core.handlers.wsgi import WSGIHandler
from django.db import close_old_connections, transaction
from django.utils import timezone
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from lvsweb_agent.envelope import generate_private_key, public_key_text
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from accounts.actions import create_api_token
from accounts.models import ApiToken
from clusters import actions as cluster_actions
from clusters.choices import HostRole
from clusters.models import HealthTransition, RealServerHealth
from dispatch.actions import apply_cluster
from tests.factories import (
    default_team,
    make_cluster,
    make_cluster_host,
    make_host,
    make_member,
    make_real_server,
    make_user,
    make_virtual_service,
)

#: Generated requests per operation and generation mode (valid, invalid).
MAX_EXAMPLES = 20

CHECKS = [
    schemathesis.checks.not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]

#: Real objects of the inventory by the collection their path or body names; filled by the `inventory` fixture.
KNOWN: dict[str, object] = {}

#: Which collection a path parameter or body field refers to.
COLLECTION_OF_PATH = {
    "/api/clusters/": "cluster",
    "/api/teams/": "team",
    "/api/hosts/": "host",
    "/api/cluster-hosts/": "cluster_host",
    "/api/virtual-services/": "virtual_service",
    "/api/real-servers/": "real_server",
    "/api/health-checks/": "health_check",
    "/api/real-server-health/": "real_server_health",
    "/api/health-transitions/": "health_transition",
    "/api/revisions/": "revision",
    "/api/deployments/": "deployment",
    "/api/tokens/": "spare_token",
    "/api/alert-channels/": "alert_channel",
    "/api/alert-rules/": "alert_rule",
    "/api/alert-silences/": "alert_silence",
    "/api/alerts/": "alert",
}
BODY_REFERENCES = {
    "cluster": "cluster",
    "team": "team",
    "host": "host_name",
    "virtual_service": "virtual_service",
    "real_server": "real_server",
}


def _real_path_parameters(path: str, parameters: dict | None) -> dict | None:
    if not parameters:
        return parameters
    collection = next((KNOWN.get(name) for prefix, name in COLLECTION_OF_PATH.items() if path.startswith(prefix)), None)
    if collection is None:
        return parameters
    return {name: collection for name in parameters}


def _real_body(body):
    if not isinstance(body, dict) or not body:
        return body
    return {key: KNOWN[BODY_REFERENCES[key]] if key in BODY_REFERENCES else value for key, value in body.items()}


@pytest.fixture(scope="module")
def inventory(django_db_setup, django_db_blocker):
    """The owner's inventory and two tokens: the run's own key, and a spare token for DELETE /api/tokens/{id}/.

    Made once for the module in a transaction that is rolled back at its end; each test's own `db` transaction
    (and each generated request's savepoint) nests inside it, so every test starts from exactly this state.
    """
    with django_db_blocker.unblock(), transaction.atomic():
        yield _make_inventory()
        transaction.set_rollback(True)
    KNOWN.clear()


def _make_inventory() -> dict:
    team_owner = make_user(staff=False)
    make_member(team_owner)
    keys = {name: generate_private_key() for name in ("director", "rs1", "rs2")}
    cluster = make_cluster(name="web", slug="web")
    director = make_host(hostname="director", vip_interface="eth0", public_key=public_key_text(keys["director"]))
    rs1 = make_host(hostname="rs1", uplinks="eth0", public_key=public_key_text(keys["rs1"]))
    rs2 = make_host(hostname="rs2", uplinks="eth0", public_key=public_key_text(keys["rs2"]))
    role = make_cluster_host(cluster=cluster, host=director, role=HostRole.DIRECTOR)
    make_cluster_host(cluster=cluster, host=rs1, role=HostRole.REAL_SERVER)
    make_cluster_host(cluster=cluster, host=rs2, role=HostRole.REAL_SERVER)
    service = make_virtual_service(cluster=cluster, address="10.10.0.100", port=80, scheduler="rr")
    real_server = make_real_server(virtual_service=service, address="10.20.0.11", host=rs1)
    make_real_server(virtual_service=service, address="10.20.0.12", host=rs2)
    check = cluster_actions.set_health_check(
        acting_user=team_owner, virtual_service=service, real_server=None, fields={"check_type": "tcp"}
    )
    revision = apply_cluster(acting_user=team_owner, cluster=cluster)
    health = RealServerHealth.objects.create(
        cluster=cluster, real_server=real_server, status="up", reported_by="director"
    )
    transition = HealthTransition.objects.create(
        cluster=cluster,
        real_server=real_server,
        service=service.endpoint,
        endpoint=real_server.endpoint,
        from_status="unknown",
        to_status="up",
        at=timezone.now(),
        reported_by="director",
    )
    # Someone else's team: its objects must stay invisible whatever the generated requests name.
    make_cluster(name="theirs", slug="theirs", team=make_team_of(make_user(staff=False)))
    alerting = _make_alerting(team_owner)
    run_token, key = create_api_token(acting_user=None, user=team_owner, name="schemathesis run")
    spare_token, _ = create_api_token(acting_user=None, user=team_owner, name="spare, revoked by the run")
    KNOWN.clear()
    KNOWN.update(
        cluster=cluster.slug,
        team=default_team().slug,
        host=director.pk,
        host_name=director.hostname,
        cluster_host=role.pk,
        virtual_service=service.pk,
        real_server=real_server.pk,
        health_check=check.pk,
        real_server_health=health.pk,
        health_transition=transition.pk,
        revision=revision.pk,
        deployment=revision.deployments.first().pk,
        spare_token=spare_token.pk,
        **alerting,
    )
    return {"key": key, "token": run_token}


def _make_alerting(owner) -> dict:
    """A webhook channel, a rule, a silence and an alert of the owner's team."""
    from datetime import timedelta

    from alerts import actions as alert_actions
    from alerts.models import Alert

    team = default_team()
    channel, _secret = alert_actions.create_channel(
        acting_user=owner, team=team, fields={"name": "pager", "kind": "webhook", "url": "https://hooks.example.net/x"}
    )
    rule = alert_actions.create_rule(acting_user=owner, team=team, fields={"name": "on call"}, channels=[channel])
    silence = alert_actions.create_silence(acting_user=owner, team=team, ends_at=timezone.now() + timedelta(hours=1))
    now = timezone.now()
    alert = Alert.objects.create(
        team=team,
        rule=rule,
        rule_name=rule.name,
        event_type="real_server_down",
        severity="warning",
        kind="problem",
        status="dispatched",
        opened_at=now,
        send_after=now,
    )
    return {"alert_channel": channel.pk, "alert_rule": rule.pk, "alert_silence": silence.pk, "alert": alert.pk}


def make_team_of(user):
    """A new team owned by `user`."""
    from tests.factories import make_team

    team = make_team()
    make_member(user, team=team)
    return team


@pytest.fixture(autouse=True)
def requests_keep_the_test_connection():
    """Django closes "old" connections at the start and end of every request; inside the test's transaction
    that would close it, so (as Django's own test client does) those two signal handlers are off here."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


def _load_schema() -> schemathesis.schemas.BaseSchema:
    """The schema as /api/schema/ serves it, bound to the in-process app; bounded examples per operation."""
    config = SchemathesisConfig.from_dict(
        {
            # Valid and invalid requests, NUL characters included; the examples and fuzzing phases. The coverage
            # phase (boundary values of every field, some 100 requests per operation) would take the run from
            # about a minute to ten on two cores.
            "generation": {"max-examples": MAX_EXAMPLES, "allow-x00": True, "mode": "all"},
            "phases": {"coverage": {"enabled": False}},
        }
    )
    loaded = schemathesis.openapi.from_wsgi("/api/schema/?format=json", WSGIHandler(), config=config)

    @loaded.hook
    def flatmap_path_parameters(context, path_parameters):
        if not path_parameters:
            return st.just(path_parameters)
        return st.sampled_from([path_parameters, _real_path_parameters(context.operation.path, path_parameters)])

    @loaded.hook
    def flatmap_body(context, body):
        if not isinstance(body, dict) or not BODY_REFERENCES.keys() & body.keys():
            return st.just(body)
        return st.sampled_from([body, _real_body(body)])

    return loaded


# Loaded while the tests are collected (the schema view reads no table): one test per operation.
schema = _load_schema()


@pytest.mark.timeout(120)
@schema.parametrize()
@settings(suppress_health_check=list(HealthCheck), deadline=None)
def test_every_operation_answers_as_the_schema_says(case, db, inventory):
    with transaction.atomic():
        case.call_and_validate(headers={"Authorization": f"Token {inventory['key']}"}, checks=CHECKS)
        transaction.set_rollback(True)
    token = ApiToken.objects.get(pk=inventory["token"].pk)
    assert token.revoked_at is None


# -- The answers the issue found outside the schema, each checked deterministically against it --------------------


def call(inventory, method: str, path: str, **data):
    """One request built by hand, sent to the in-process app and checked against the schema like the run above."""
    if "body" in data:
        data["media_type"] = "application/json"
    case = schema[path][method].Case(**data)
    return case.call_and_validate(headers={"Authorization": f"Token {inventory['key']}"}, checks=CHECKS)


@pytest.mark.django_db
def test_create_and_update_answers_carry_the_counts_the_schema_requires(inventory):
    created = call(inventory, "POST", "/api/clusters/", body={"name": "edge", "slug": "edge", "team": "ops"})
    assert created.status_code == 201
    assert (created.json()["virtual_service_count"], created.json()["real_server_count"]) == (0, 0)
    changed = call(inventory, "PATCH", "/api/clusters/{slug}/", path_parameters={"slug": "web"}, body={"name": "Web"})
    assert changed.status_code == 200
    assert (changed.json()["virtual_service_count"], changed.json()["real_server_count"]) == (1, 2)
    service = call(
        inventory,
        "POST",
        "/api/virtual-services/",
        body={"cluster": "web", "protocol": "tcp", "address": "10.10.0.101", "port": 443},
    )
    assert service.status_code == 201
    assert service.json()["real_server_count"] == 0
    path = {"id": KNOWN["virtual_service"]}
    renamed = call(inventory, "PATCH", "/api/virtual-services/{id}/", path_parameters=path, body={"name": "www"})
    assert renamed.json()["real_server_count"] == 2


@pytest.mark.django_db
def test_a_diff_is_the_list_the_schema_describes(inventory):
    path = {"id": KNOWN["revision"]}
    same = call(inventory, "GET", "/api/revisions/{id}/diff/", path_parameters=path)
    assert same.json() == []
    call(
        inventory, "PATCH", "/api/real-servers/{id}/", path_parameters={"id": KNOWN["real_server"]}, body={"weight": 7}
    )
    changed = call(inventory, "GET", "/api/revisions/{id}/diff/", path_parameters=path)
    assert [row["change"] for row in changed.json()] == ["changed"]
    wrong = call(inventory, "GET", "/api/revisions/{id}/diff/", path_parameters=path, query={"to": "junk"})
    assert wrong.status_code == 400
    assert list(wrong.json()) == ["to"]


@pytest.mark.django_db
def test_an_import_400_is_an_import_result_or_named_fields(inventory):
    path = {"slug": "web"}
    refused = call(inventory, "POST", "/api/clusters/{slug}/import/", path_parameters=path, body={"text": "-A -t x"})
    assert refused.status_code == 400
    assert refused.json()["ok"] is False and refused.json()["errors"]
    invalid = call(inventory, "POST", "/api/clusters/{slug}/import/", path_parameters=path, body={"format": "yaml"})
    assert invalid.status_code == 400
    assert set(invalid.json()) == {"format", "text"}


@pytest.mark.django_db
def test_errors_are_the_bodies_the_schema_declares(inventory):
    path = {"id": KNOWN["real_server"]}
    nested = call(inventory, "PATCH", "/api/real-servers/{id}/", path_parameters=path, body={"description": deep(40)})
    assert nested.status_code == 400
    assert "nested too deeply" in nested.json()["detail"]
    nul = call(inventory, "PATCH", "/api/real-servers/{id}/", path_parameters=path, body={"description": "a\x00"})
    assert nul.status_code == 400
    assert list(nul.json()) == ["description"]
    missing = call(inventory, "GET", "/api/real-servers/{id}/", path_parameters={"id": 10**9})
    assert missing.status_code == 404
    export = call(
        inventory, "GET", "/api/clusters/{slug}/export/", path_parameters={"slug": "web"}, query={"format": "x"}
    )
    assert export.status_code == 400
    assert export.text.startswith("format: ")


def deep(levels: int) -> list:
    """`levels` lists inside each other."""
    value: list = []
    for _ in range(levels - 1):
        value = [value]
    return value


@pytest.mark.django_db
def test_successful_writes_answer_as_the_schema_says(inventory):
    """The creations the generated data rarely gets right (a valid address, a real token), made by hand."""
    host = call(inventory, "POST", "/api/hosts/", body={"hostname": "rs3", "management_address": "192.0.2.13"})
    assert host.status_code == 201
    role = call(inventory, "POST", "/api/cluster-hosts/", body={"cluster": "web", "host": "rs3", "role": "real_server"})
    assert role.status_code == 201
    real_server = call(
        inventory,
        "POST",
        "/api/real-servers/",
        body={"virtual_service": KNOWN["virtual_service"], "address": "10.20.0.13", "port": 80, "host": "rs3"},
    )
    assert real_server.status_code == 201
    check = call(
        inventory, "POST", "/api/health-checks/", body={"real_server": real_server.json()["id"], "check_type": "none"}
    )
    assert check.status_code == 201
    token = call(inventory, "POST", "/api/hosts/{id}/enrollment-token/", path_parameters={"id": host.json()["id"]})
    assert token.status_code == 201
    key = public_key_text(generate_private_key())
    enrolled = call(
        inventory,
        "POST",
        "/api/agent/enroll/",
        body={"token": token.json()["token"], "public_key": key, "facts": {"kernel": "6.1", "nics": ["eth0"]}},
    )
    assert enrolled.status_code == 200
    assert enrolled.json()["host"] == "rs3"
