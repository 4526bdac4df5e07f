"""A large import: written in bulk, one audit entry per object in a chain that verifies, queries per batch."""

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from audit.models import AuditEntry
from clusters.actions.imports import ImportRejected, commit_import, preview_import
from clusters.models import HealthCheck, RealServer, VirtualService
from teams.choices import TeamRole
from tests.factories import make_cluster, make_member, make_user
from tests.interchange.helpers import large_site

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator_user():
    user = make_user(staff=False)
    make_member(user, role=TeamRole.OPERATOR)
    return user


def test_an_import_of_1200_objects_has_one_audit_entry_per_object_and_the_chain_verifies(
    operator_user, cluster, capsys
):
    before = AuditEntry.objects.count()
    result = commit_import(acting_user=operator_user, cluster=cluster, text=large_site(100, 11))
    assert (
        result.committed
        and result.summary() == "100 services created, 0 changed; 1,100 real servers created, 0 changed"
    )
    services = set(VirtualService.objects.filter(cluster=cluster).values_list("pk", flat=True))
    real_servers = set(RealServer.objects.filter(virtual_service__cluster=cluster).values_list("pk", flat=True))
    checks = set(HealthCheck.objects.filter(cluster=cluster).values_list("pk", flat=True))
    assert (len(services), len(real_servers), len(checks)) == (100, 1100, 200)

    def audited(action):
        entries = AuditEntry.objects.filter(action=action, cluster_id=cluster.pk, actor_name=operator_user.username)
        return sorted(int(pk) for pk in entries.values_list("object_id", flat=True))

    assert audited("virtual_service.create") == sorted(services)
    assert audited("real_server.create") == sorted(real_servers)
    assert audited("health_check.create") == sorted(checks)
    assert AuditEntry.objects.count() == before + 100 + 1100 + 200 + 1  # and the cluster.import summary
    created = AuditEntry.objects.filter(action="real_server.create").order_by("id").first()
    assert created.changes["weight"] == [None, 1] and created.changes["forward_method"] == [None, "tun"]
    capsys.readouterr()
    call_command("verify_audit")
    assert f"Audit chain intact: {before + 1401} entries verified" in capsys.readouterr().out


def queries(action, text, **kwargs):
    cluster = make_cluster()
    with CaptureQueriesContext(connection) as captured:
        result = action(cluster=cluster, text=text, **kwargs)
    assert result.ok, result.errors
    return len(captured.captured_queries)


@pytest.mark.parametrize("action", [preview_import, commit_import])
def test_the_queries_of_an_import_do_not_grow_with_its_objects(operator_user, action):
    queries(action, large_site(1, 1, first_octet=192), acting_user=operator_user)  # reads the user's roles once
    small = queries(action, large_site(2, 3), acting_user=operator_user)
    large = queries(action, large_site(60, 11, first_octet=203), acting_user=operator_user)  # 60 + 660 + 120
    assert large == small
    assert small <= 20


def test_a_large_import_with_one_bad_line_keeps_nothing_and_audits_nothing(operator_user, cluster):
    text = large_site(50, 11).replace("weight 3\n", "weight 70000\n", 1)
    before = AuditEntry.objects.count()
    with pytest.raises(ImportRejected) as rejected:
        commit_import(acting_user=operator_user, cluster=cluster, text=text)
    (error,) = rejected.value.result.errors
    assert "weight" in error.message and error.line > 0
    assert not VirtualService.objects.filter(cluster=cluster).exists()
    assert not HealthCheck.objects.filter(cluster=cluster).exists()
    assert AuditEntry.objects.count() == before
