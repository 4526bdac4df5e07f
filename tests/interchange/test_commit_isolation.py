"""A large import's commit holds the audit chain only for its append: others write while it is prepared."""

import threading

import pytest
from django.core.management import call_command
from django.db import connection

from audit.models import AuditEntry
from clusters import actions
from clusters.actions import import_batch
from clusters.actions.imports import commit_import
from teams.choices import TeamRole
from tests.factories import make_cluster, make_member, make_team, make_user
from tests.interchange.helpers import large_site

pytestmark = pytest.mark.django_db(transaction=True)


def test_another_team_changes_and_audits_while_an_import_is_being_written(monkeypatch, capsys):
    importer = make_user(staff=False)
    make_member(importer, role=TeamRole.OPERATOR)
    cluster = make_cluster(slug="big")
    other_team = make_team(slug="other")
    other_user = make_user(staff=False)
    make_member(other_user, team=other_team, role=TeamRole.OPERATOR)
    other_cluster = make_cluster(team=other_team, slug="theirs")
    done: list = []

    def other_change():
        try:
            service = actions.create_virtual_service(
                acting_user=other_user,
                cluster=other_cluster,
                fields={"protocol": "tcp", "address": "203.0.113.5", "port": 443},
            )
            done.append(AuditEntry.objects.get(action="virtual_service.create", object_id=str(service.pk)).pk)
        finally:
            connection.close()

    write = import_batch.ImportBatch.write

    def write_after_another_change(batch):
        # Everything is checked and the import's transaction holds its cluster: another team's change, with
        # its audit entry, commits now rather than after the import.
        thread = threading.Thread(target=other_change)
        thread.start()
        thread.join(timeout=30)
        assert not thread.is_alive(), "another team's change waited for the import"
        assert done, "another team's change failed"
        write(batch)

    monkeypatch.setattr(import_batch.ImportBatch, "write", write_after_another_change)
    result = commit_import(acting_user=importer, cluster=cluster, text=large_site(30, 11))
    assert result.committed
    imported = AuditEntry.objects.filter(cluster_id=cluster.pk, action="real_server.create")
    assert imported.count() == 330
    assert done[0] < min(imported.values_list("pk", flat=True))  # the other change joined the chain first
    capsys.readouterr()
    call_command("verify_audit")
    assert "Audit chain intact" in capsys.readouterr().out
