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
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from accounts.actions import create_api_token
from accounts.models import ApiToken
from agents.actions import apply_cluster
from agents.host.envelope import generate_private_key, public_key_text
from clusters import actions as cluster_actions
from clusters.choices import HostRole
from clusters.models import HealthTransition, RealServerHealth
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


@pytest.fixture
def inventory(team_owner):
    """The owner's inventory and two tokens: the run's own key, and a spare token for DELETE /api/tokens/{id}/."""
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
    )
    yield {"key": key, "token": run_token}
    KNOWN.clear()


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
    config = SchemathesisConfig()
    config.projects.get_default().generation.update(max_examples=12, allow_x00=True)
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
def test_every_operation_answers_as_the_schema_says(case, inventory):
    with transaction.atomic():
        case.call_and_validate(headers={"Authorization": f"Token {inventory['key']}"}, checks=CHECKS)
        transaction.set_rollback(True)
    token = ApiToken.objects.get(pk=inventory["token"].pk)
    assert token.revoked_at is None
