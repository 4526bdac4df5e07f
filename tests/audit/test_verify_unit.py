"""audit/verify.py alone (pure logic, no database): any single tampering of a keyed chain is named where it is."""

import copy
import json

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from hypothesis import given, settings
from hypothesis import strategies as st

from audit import verify

RING = verify.KeyRing((b"current key", b"older key"))
SIGNER = Ed25519PrivateKey.generate()
PUBLIC = verify.public_key_text(SIGNER.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw))


def chain(count: int) -> list[dict]:
    entries, previous = [], verify.GENESIS_HASH
    kid, key = RING.current
    for number in range(1, count + 1):
        entry = {
            "id": number,
            "occurred_at": f"2026-12-05T10:00:{number % 60:02d}.000000+00:00",
            "actor_type": "user",
            "actor_user_id": 1,
            "actor_name": "olga",
            "source_address": "192.0.2.1",
            "user_agent": "",
            "request_id": f"r{number}",
            "action": "cluster.update",
            "object_type": "clusters.cluster",
            "object_id": "3",
            "object_repr": "web",
            "team_id": 1,
            "cluster_id": 3,
            "changes": {"description": [str(number - 1), str(number)]},
            "result": "success",
            "message": "",
            "prev_hash": previous,
        }
        entry["hash"] = previous = verify.entry_hash(entry)
        entry["key_id"], entry["mac"] = kid, verify.entry_mac(key, entry["hash"])
        entries.append(entry)
    return entries


def checkpoint(entry: dict, count: int) -> verify.Checkpoint:
    payload = {"type": "audit.checkpoint", "entry": entry["id"], "hash": entry["hash"], "count": count}
    payload |= {"time": "2026-12-05T10:01:00+00:00", "key": PUBLIC}
    payload["signature"] = verify.public_key_text(SIGNER.sign(verify.canonical_bytes(payload)))
    return verify.parse_checkpoint(json.dumps(payload), 1, [PUBLIC])


def run(entries, checkpoints=(), complete=True):
    return verify.verify_entries(iter(entries), list(checkpoints), keyring=RING, complete=complete)


@settings(max_examples=60, deadline=None)
@given(st.integers(3, 12), st.data())
def test_any_edited_field_is_named_at_its_entry(count, data):
    entries = chain(count)
    index = data.draw(st.integers(0, count - 1))
    name = data.draw(st.sampled_from([n for n in verify.HASHED_FIELDS if n not in ("occurred_at", "prev_hash")]))
    entries[index][name] = "tampered" if entries[index][name] != "tampered" else "other"
    assert run(entries).problems[0].startswith(f"entry #{index + 1}: its content does not match its hash")


@settings(max_examples=60, deadline=None)
@given(st.integers(3, 12), st.data())
def test_a_rewrite_without_the_key_is_named_at_its_first_entry(count, data):
    entries = chain(count)
    index = data.draw(st.integers(0, count - 1))
    entries[index]["message"] = "nothing happened"
    previous = entries[index - 1]["hash"] if index else verify.GENESIS_HASH
    for entry in entries[index:]:
        entry["prev_hash"] = previous
        entry["hash"] = previous = verify.entry_hash(entry)
    assert run(entries).problems[0].startswith(f"entry #{index + 1}: its mac does not match")


@settings(max_examples=60, deadline=None)
@given(st.integers(3, 12), st.data())
def test_a_removed_entry_is_named_by_the_next_or_by_the_checkpoint(count, data):
    entries = chain(count)
    anchor = checkpoint(entries[-1], count)
    index = data.draw(st.integers(0, count - 1))
    removed = entries.pop(index)
    problems = run(entries, [anchor]).problems
    if index < count - 1:
        assert f"entry #{index + 2}" in problems[0] and ("does not follow" in problems[0] or "start" in problems[0])
    else:
        assert problems == [
            f"entry #{removed['id']} is missing: the {anchor.describe()} names it, and the history ends at "
            f"#{count - 1} — the newest entries were removed"
        ]


@settings(max_examples=40, deadline=None)
@given(st.integers(3, 12), st.data())
def test_two_swapped_entries_are_named(count, data):
    entries = chain(count)
    first = data.draw(st.integers(0, count - 2))
    second = data.draw(st.integers(first + 1, count - 1))
    a, b = copy.deepcopy(entries[first]), copy.deepcopy(entries[second])
    entries[first], entries[second] = {**b, "id": a["id"]}, {**a, "id": b["id"]}
    assert run(entries).problems[0].startswith(f"entry #{first + 1} does not")


def test_a_range_verifies_on_its_own_and_notes_what_is_outside():
    entries = chain(10)
    anchors = [checkpoint(entries[2], 3), checkpoint(entries[6], 7)]
    report = run(entries[4:], anchors, complete=False)
    assert report.ok and report.last_anchored.entry_id == 7
    assert (
        "not yet anchored: #8–#10 (no checkpoint covers them yet; removing them would show only as fewer entries)"
        in (report.notes)
    )
    assert any("is before this export's first entry" in note for note in report.notes)


def test_a_key_not_in_the_ring_is_named():
    entries = chain(3)
    ring = verify.KeyRing((b"another key",))
    report = verify.verify_entries(iter(entries), [], keyring=ring, complete=True)
    assert (
        report.problems[0] == f"entry #1: its mac is made with key {entries[0]['key_id']}, which is not in the key ring"
    )


def test_an_older_key_still_verifies():
    entries = chain(3)
    newer = verify.KeyRing((b"newest key", *RING.keys))
    assert verify.verify_entries(iter(entries), [], keyring=newer, complete=True).ok
