"""Entries join the chain when their transaction commits, in one short step: a long change holds up nobody."""

import threading
import time

import pytest
from django.db import connection, transaction

from audit.anchors import verify_database
from audit.models import AuditEntry
from audit.recording import record
from clusters import actions
from tests.factories import default_team, make_member, make_team, make_user

pytestmark = pytest.mark.django_db(transaction=True)


def actions_in_chain() -> list[str]:
    return list(AuditEntry.objects.order_by("id").values_list("action", flat=True))


def test_an_entry_joins_the_chain_only_when_its_transaction_commits():
    with transaction.atomic():
        entry = record(action="test.first")
        assert entry.pk is None and not entry.hash  # waiting for the commit
        assert AuditEntry.objects.count() == 0
    assert entry.pk is not None and len(entry.hash) == 64
    assert actions_in_chain() == ["test.first"]


def test_a_rolled_back_savepoint_takes_its_entries_with_it():
    with transaction.atomic():
        record(action="test.kept")
        try:
            with transaction.atomic():
                record(action="test.undone")
                raise RuntimeError("the inner change fails")
        except RuntimeError:
            pass
        record(action="test.kept.too")
    with transaction.atomic():
        record(action="test.rolled.back")
        transaction.set_rollback(True)
    assert actions_in_chain() == ["test.kept", "test.kept.too"]
    report = verify_database()
    assert report.ok, report.lines()


def test_a_long_transaction_does_not_hold_up_other_writers():
    """The one that wrote first but commits last is linked last; the quick one never waited for it."""
    writing, finish = threading.Event(), threading.Event()
    errors = []

    def slow_change():
        try:
            with transaction.atomic():
                record(action="test.slow")
                writing.set()
                assert finish.wait(20)
        except Exception as exc:  # reported by the main thread
            errors.append(exc)
        finally:
            connection.close()

    owner = make_user(staff=False)
    other_team = make_team(name="Other team", slug="other")
    make_member(owner, team=other_team)
    slow = threading.Thread(target=slow_change)
    slow.start()
    try:
        assert writing.wait(10)
        started = time.monotonic()
        actions.create_cluster(acting_user=owner, fields={"team": other_team, "name": "b", "slug": "b"})
        quick = time.monotonic() - started
    finally:
        finish.set()
        slow.join(20)
    assert not errors
    assert quick < 1.0, f"another team's change waited {quick:.2f} s for a transaction that had written an entry"
    assert actions_in_chain()[-2:] == ["cluster.create", "test.slow"]
    report = verify_database()
    assert report.ok, report.lines()


def test_concurrent_writers_keep_one_unbroken_chain():
    team = default_team()
    users = [make_user(staff=False, username=f"writer{i}") for i in range(6)]
    for user in users:
        make_member(user, team=team)
    errors = []

    def write(user, number):
        try:
            cluster = actions.create_cluster(
                acting_user=user, fields={"team": team, "name": f"c{number}", "slug": f"c{number}"}
            )
            for step in range(5):
                actions.update_cluster(acting_user=user, cluster=cluster, changes={"description": f"step {step}"})
        except Exception as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=write, args=(user, n)) for n, user in enumerate(users)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors
    assert AuditEntry.objects.filter(action__startswith="cluster.").count() == 6 * 6
    report = verify_database()
    assert report.ok, report.lines()
