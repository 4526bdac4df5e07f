"""Lists of revisions and deployments stay small and cost a fixed number of queries, however large the
inventories and documents they come from; a revision's or deployment's own page has everything."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from dispatch.choices import DeploymentKind, DeploymentStatus
from dispatch.models import Deployment, Revision
from tests.factories import make_cluster, make_cluster_host, make_member, make_team, make_user

pytestmark = pytest.mark.django_db

#: An inventory and a document of about 200 kB each, as a cluster of 1,000 real servers has them.
BIG = {"virtual_services": [{"address": f"10.0.{i // 250}.{i % 250}", "notes": "x" * 180} for i in range(1000)]}


def applied(cluster, hosts, count: int) -> None:
    """`count` more revisions of the cluster, each applied on every host."""
    now = timezone.now()
    start = Revision.objects.filter(cluster=cluster).count()
    for number in range(start + 1, start + count + 1):
        revision = Revision.objects.create(cluster=cluster, number=number, inventory=BIG)
        for host in hosts:
            Deployment.objects.create(
                kind=DeploymentKind.APPLY,
                cluster=cluster,
                revision=revision,
                host=host,
                serial=number,
                document=BIG,
                operations=[{"kind": "add-dest", "target": str(i)} for i in range(500)],
                status=DeploymentStatus.APPLIED,
                expires_at=now,
            )


@pytest.fixture
def api():
    team = make_team()
    user = make_user()
    make_member(user, team=team, role="viewer")
    client = APIClient()
    client.force_authenticate(user)
    cluster = make_cluster(team=team)
    hosts = [make_cluster_host(cluster=cluster).host for _ in range(2)]
    return client, cluster, hosts


def get(client, path):
    with CaptureQueriesContext(connection) as queries:
        response = client.get(path)
    assert response.status_code == 200, response.content[:300]
    return response, len(queries)


@pytest.mark.parametrize("path", ["/api/revisions/", "/api/deployments/"])
def test_lists_leave_out_inventories_documents_and_operations_in_fixed_queries(api, path):
    client, cluster, hosts = api
    applied(cluster, hosts, 2)
    _, small_queries = get(client, path)
    applied(cluster, hosts, 8)
    large, large_queries = get(client, path)
    assert large_queries == small_queries
    assert large.json()["count"] == (10 if "revisions" in path else 20)
    assert len(large.content) < 20_000, len(large.content)  # each document alone is about 200 kB
    for row in large.json()["results"]:
        assert "inventory" not in row and "document" not in row and "operations" not in row
        for deployment in row.get("deployments", []):
            assert deployment["status"] == "applied" and deployment["host"] in {h.hostname for h in hosts}
            assert "document" not in deployment and "operations" not in deployment


def test_a_revisions_and_a_deployments_own_page_have_everything(api):
    client, cluster, hosts = api
    applied(cluster, hosts, 1)
    revision = Revision.objects.get(cluster=cluster)
    body = get(client, f"/api/revisions/{revision.pk}/")[0].json()
    assert body["inventory"] == BIG and body["deployments"][0]["document"] == BIG
    deployment = revision.deployments.first()
    body = get(client, f"/api/deployments/{deployment.pk}/")[0].json()
    assert body["document"] == BIG and len(body["operations"]) == 500 and body["revision"] == 1
