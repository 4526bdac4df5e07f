"""What someone with the database alone — or with the HMAC key too — can and cannot do to the history unseen.

Each test tampers as an administrator would (the append-only trigger switched off, rows edited with SQL,
hashes and macs recomputed with the console's own functions) and asserts what `verify_audit` then says:
the first entry that differs or is missing, or — for what docs/audit.md says it cannot see — nothing.
"""

import json
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError

from audit import anchors, keys, verify
from audit.models import AuditEntry
from audit.recording import record
from tests.audit.test_chain import tamper

pytestmark = pytest.mark.django_db


@pytest.fixture
def history():
    """Six entries; signed checkpoints at the 2nd and 4th; the 5th and 6th not yet anchored."""
    entries = []
    for number in range(1, 7):
        record(action=f"test.step{number}", object_repr=f"step {number}", team_id=7, cluster_id=11)
        entries.append(AuditEntry.objects.order_by("-id").first())
        if number in (2, 4):
            anchors.write_checkpoint()
    return entries


def report():
    return anchors.verify_database()


def rewrite(entries, start, *, alter=None, with_key=False, strip_macs=False):
    """Recompute the chain from entries[start] on, as a forger would; `alter` edits that first entry."""
    previous = entries[start - 1].hash if start else verify.GENESIS_HASH
    for index, entry in enumerate(entries[start:]):
        if index == 0 and alter:
            alter(entry)
        entry.prev_hash = previous
        entry.hash = entry.compute_hash()
        if with_key:
            entry.key_id, key = keys.hmac_keyring().current
            entry.mac = verify.entry_mac(key, entry.hash)
        if strip_macs:
            entry.mac = entry.key_id = ""
        tamper(
            "UPDATE audit_auditentry SET action = %s, message = %s, prev_hash = %s, hash = %s, mac = %s, "
            "key_id = %s WHERE id = %s",
            [entry.action, entry.message, entry.prev_hash, entry.hash, entry.mac, entry.key_id, entry.pk],
        )
        previous = entry.hash


def test_an_intact_history_verifies_and_says_what_is_not_yet_anchored(history):
    result = report()
    assert result.ok, result.problems
    assert result.entries == 6 and result.last_anchored.entry_id == history[3].pk
    assert f"not yet anchored: #{history[4].pk}–#{history[5].pk}" in " ".join(result.notes)


def test_an_entry_edited_in_place_is_named(history):
    tamper("UPDATE audit_auditentry SET message = 'nothing happened' WHERE id = %s", [history[2].pk])
    with pytest.raises(CommandError) as caught:
        call_command("verify_audit")
    first = str(caught.value).splitlines()[1]
    assert first == f"PROBLEM: entry #{history[2].pk}: its content does not match its hash — the entry was altered"


def test_a_deleted_entry_is_named_by_the_one_after_it(history):
    tamper("DELETE FROM audit_auditentry WHERE id = %s", [history[2].pk])
    result = report()
    assert result.problems[0].startswith(f"entry #{history[3].pk} does not follow #{history[1].pk}")


def test_an_inserted_entry_is_named_by_its_missing_mac(history):
    """Put between the 3rd and 4th entries, linked and hashed properly — but the forger cannot make its mac."""
    tamper("UPDATE audit_auditentry SET id = id + 1000 WHERE id > %s", [history[2].pk])
    forged = AuditEntry(**{name: getattr(history[2], name) for name in verify.HASHED_FIELDS})
    forged.pk, forged.action, forged.prev_hash = history[2].pk + 1, "test.forged", history[2].hash
    forged.hash = forged.compute_hash()
    forged.save(force_insert=True)
    result = report()
    assert result.problems[0].startswith(f"entry #{forged.pk} has no mac although entries before it have one")


def test_a_reorder_is_named(history):
    second, third = history[1], history[2]
    tamper("UPDATE audit_auditentry SET id = -1 WHERE id = %s", [second.pk])
    tamper("UPDATE audit_auditentry SET id = %s WHERE id = %s", [second.pk, third.pk])
    tamper("UPDATE audit_auditentry SET id = %s WHERE id = -1", [third.pk])
    result = report()
    assert result.problems[0].startswith(f"entry #{second.pk} does not follow #{history[0].pk}")


def test_truncating_the_unanchored_tail_shows_only_as_fewer_entries(history):
    """The threat model's limit: entries after the newest checkpoint can vanish unseen (stream them to syslog)."""
    tamper("DELETE FROM audit_auditentry WHERE id > %s", [history[3].pk])
    result = report()
    assert result.ok and result.entries == 4
    assert not any("not yet anchored" in note for note in result.notes)


def test_truncating_past_a_checkpoint_is_named(history):
    tamper("DELETE FROM audit_auditentry WHERE id >= %s", [history[3].pk])
    result = report()
    assert result.problems == [
        f"entry #{history[3].pk} is missing: the {result_checkpoint(history[3].pk)} names it, and the history ends "
        f"at #{history[2].pk} — the newest entries were removed"
    ]


def result_checkpoint(entry_id):
    lines = Path(settings.AUDIT_CHECKPOINT_FILE).read_text().splitlines()
    checkpoints, _ = verify.read_checkpoints(lines, keys.trusted_public_keys())
    return next(c for c in checkpoints if c.entry_id == entry_id).describe()


def falsify(entry):
    entry.message = "nothing happened"


def test_a_rewrite_without_the_hmac_key_is_named_at_its_first_entry(history):
    rewrite(history, 2, alter=falsify)
    result = report()
    assert result.problems[0] == (
        f"entry #{history[2].pk}: its mac does not match — the entry was altered or its hash recomputed by "
        "someone without the HMAC key"
    )
    assert any(f"entry #{history[3].pk} is not the entry the" in p for p in result.problems)


def test_a_rewrite_that_strips_the_macs_is_named(history):
    rewrite(history, 2, alter=falsify, strip_macs=True)
    assert report().problems[0].startswith(f"entry #{history[2].pk} has no mac although entries before it have one")


def test_a_whole_chain_rewrite_without_macs_is_caught_by_the_checkpoints(history):
    """Every mac stripped and every hash recomputed: the history looks 'written before the keyed chain'."""
    rewrite(history, 0, alter=falsify, strip_macs=True)
    result = report()
    assert result.problems[0].startswith(f"entry #{history[1].pk} is not the entry the checkpoint of")
    assert "the first changed entry is after the first entry and at or before" in result.problems[0]


def test_a_rewrite_with_the_hmac_key_is_caught_by_the_checkpoint_after_it(history):
    rewrite(history, 2, alter=falsify, with_key=True)
    result = report()
    assert len(result.problems) == 1
    assert result.problems[0].startswith(f"entry #{history[3].pk} is not the entry the checkpoint of")
    assert result.problems[0].endswith(
        f"the first changed entry is after #{history[1].pk} and at or before #{history[3].pk}"
    )


def test_a_rewrite_with_the_hmac_key_of_the_unanchored_tail_is_not_seen(history):
    """The threat model's limit: with the HMAC key, entries after the newest checkpoint can be rewritten."""
    rewrite(history, 4, alter=falsify, with_key=True)
    assert report().ok


def test_a_forged_checkpoint_line_is_refused(history):
    path = Path(settings.AUDIT_CHECKPOINT_FILE)
    lines = path.read_text().splitlines()
    forged = json.loads(lines[1])
    forged["hash"] = "f" * 64
    path.write_text("\n".join([lines[0], json.dumps(forged)]) + "\n")
    result = report()
    assert result.problems == ["checkpoint line 2: the signature does not verify (the line was altered)"]


def test_the_console_refuses_to_sign_an_altered_chain(history):
    tamper("UPDATE audit_auditentry SET message = 'nothing happened' WHERE id = %s", [history[4].pk])
    with pytest.raises(CommandError, match=rf"Not signed .*entry #{history[4].pk}: its content does not match"):
        call_command("audit_checkpoint")
    assert len(Path(settings.AUDIT_CHECKPOINT_FILE).read_text().splitlines()) == 2


def test_old_entries_verify_after_a_key_rotation_and_new_ones_use_the_new_key(history, capsys):
    old_id = history[0].key_id
    call_command("audit_rotate_key")
    record(action="test.after_rotation")
    newest = AuditEntry.objects.order_by("-id").first()
    assert newest.key_id != old_id and newest.key_id in capsys.readouterr().out
    assert report().ok
    assert (Path(settings.AUDIT_HMAC_KEYS_FILE).stat().st_mode & 0o777) == 0o600


def test_entries_from_before_the_keyed_chain_are_reported_as_not_keyed(history):
    tamper("UPDATE audit_auditentry SET mac = '', key_id = '' WHERE id <= %s", [history[1].pk])
    result = report()
    assert result.ok
    assert f"#{history[0].pk}–#{history[1].pk} not keyed (written before the keyed chain)" in result.notes


def test_the_audit_page_shows_the_newest_checkpoint_and_the_last_verification(history, client, operator):
    from audit import tasks

    client.force_login(operator)
    body = client.get("/audit/").content.decode()
    assert f"up to entry #{history[3].pk}, signed" in body
    assert "<strong>Verification:</strong> not run yet" in body
    tasks.verify()
    body = client.get("/audit/").content.decode()
    assert "<strong>Verification:</strong> passed at" in body
    tamper("UPDATE audit_auditentry SET message = 'nothing happened' WHERE id = %s", [history[2].pk])
    tasks.verify()
    body = client.get("/audit/").content.decode()
    assert "<strong>FAILED</strong>" in body
    assert f"PROBLEM: entry #{history[2].pk}: its content does not match its hash" in body


def test_the_console_refuses_to_sign_after_the_last_checkpointed_entry_was_removed(history):
    tamper("DELETE FROM audit_auditentry WHERE id = %s", [history[3].pk])
    with pytest.raises(CommandError, match=rf"Not signed .*entry #{history[3].pk} is missing"):
        call_command("audit_checkpoint")
