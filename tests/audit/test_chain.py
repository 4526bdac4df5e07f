"""The history is append-only and hash-chained; `verify_audit` finds an altered or removed row."""

import pytest
from django.core.exceptions import PermissionDenied
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, connection, transaction

from audit.chain import GENESIS_HASH
from audit.models import AuditEntry
from clusters import actions
from tests.factories import default_team

pytestmark = pytest.mark.django_db


@pytest.fixture
def three_entries(operator):
    cluster = actions.create_cluster(
        acting_user=operator, fields={"team": default_team(), "name": "web", "slug": "web"}
    )
    actions.update_cluster(acting_user=operator, cluster=cluster, changes={"description": "one"})
    actions.update_cluster(acting_user=operator, cluster=cluster, changes={"description": "two"})
    return list(AuditEntry.objects.order_by("id"))


def tamper(sql, params):
    """What someone with the database superuser's rights could do: switch the guard off and edit."""
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE audit_auditentry DISABLE TRIGGER audit_entry_append_only")
        cursor.execute(sql, params)
        cursor.execute("ALTER TABLE audit_auditentry ENABLE TRIGGER audit_entry_append_only")


def test_entries_chain_from_genesis(three_entries):
    first, second, third = three_entries
    assert first.prev_hash == GENESIS_HASH
    assert second.prev_hash == first.hash and third.prev_hash == second.hash


def test_intact_chain_verifies(three_entries, capsys):
    call_command("verify_audit")
    out = capsys.readouterr().out
    assert "Audit chain intact: 3 entries verified, no checkpoint anchors them." in out
    assert f"not yet anchored: #{three_entries[0].pk}–#{three_entries[2].pk}" in out


def test_verify_finds_an_altered_row(three_entries):
    tamper(
        "UPDATE audit_auditentry SET changes = %s WHERE id = %s",
        ['{"description": ["one", "evil"]}', three_entries[1].pk],
    )
    altered = rf"entry #{three_entries[1].pk}: its content does not match its hash — the entry was altered"
    with pytest.raises(CommandError, match=altered):
        call_command("verify_audit")


def test_verify_finds_a_removed_row(three_entries):
    tamper("DELETE FROM audit_auditentry WHERE id = %s", [three_entries[1].pk])
    gap = rf"entry #{three_entries[2].pk} does not follow #{three_entries[0].pk}: .* was removed"
    with pytest.raises(CommandError, match=gap):
        call_command("verify_audit")


def test_the_database_refuses_updates_and_deletes(three_entries):
    for sql in ("UPDATE audit_auditentry SET action = 'x' WHERE id = %s", "DELETE FROM audit_auditentry WHERE id = %s"):
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql, [three_entries[0].pk])
    assert AuditEntry.objects.count() == 3


def test_the_app_refuses_updates_and_deletes(three_entries):
    entry = three_entries[0]
    entry.action = "cluster.delete"
    with pytest.raises(PermissionDenied):
        entry.save()
    with pytest.raises(PermissionDenied):
        entry.delete()
    with pytest.raises(PermissionDenied):
        AuditEntry.objects.filter(pk=entry.pk).update(action="x")
    with pytest.raises(PermissionDenied):
        AuditEntry.objects.all().delete()
    assert AuditEntry.objects.get(pk=entry.pk).action == "cluster.create"
