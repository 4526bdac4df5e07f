"""Signed envelopes: what verifies, and every way one is refused."""

import base64
import json
import os

import pytest
from hypothesis import given
from hypothesis import strategies as st
from lvsweb_agent.envelope import (
    EnvelopeError,
    generate_private_key,
    load_or_create_private_key,
    load_public_key,
    open_envelope,
    public_key_text,
    seal,
)

CONTROL = generate_private_key()
OTHER = generate_private_key()

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)


@given(st.dictionaries(st.text(max_size=10), json_values, max_size=6))
def test_a_sealed_payload_opens_unchanged(payload):
    envelope = seal(payload, CONTROL, "control")
    assert open_envelope(envelope, CONTROL.public_key()) == payload


def test_a_tampered_payload_is_refused():
    envelope = seal({"kind": "apply", "serial": 7}, CONTROL, "control")
    tampered = dict(envelope, payload=base64.b64encode(json.dumps({"kind": "apply", "serial": 8}).encode()).decode())
    with pytest.raises(EnvelopeError, match="bad signature"):
        open_envelope(tampered, CONTROL.public_key())


def test_a_payload_signed_by_another_key_is_refused():
    envelope = seal({"kind": "apply"}, OTHER, "control")
    with pytest.raises(EnvelopeError, match="bad signature: the payload was altered or not signed by 'control'"):
        open_envelope(envelope, CONTROL.public_key())


@pytest.mark.parametrize(
    "envelope",
    [None, [], {}, {"v": 2}, {"v": 1, "payload": "!!", "signature": "AA=="}, {"v": 1, "signature": "AA=="}],
)
def test_malformed_envelopes_are_refused(envelope):
    with pytest.raises(EnvelopeError, match="malformed envelope"):
        open_envelope(envelope, CONTROL.public_key())


def test_public_keys_travel_as_base64():
    assert load_public_key(public_key_text(CONTROL)).public_bytes_raw() == CONTROL.public_key().public_bytes_raw()
    with pytest.raises(EnvelopeError, match="not a base64 Ed25519 public key"):
        load_public_key("not a key")


def test_key_files_are_created_private_and_reused(tmp_path):
    path = tmp_path / "keys" / "host.pem"
    key = load_or_create_private_key(path)
    assert os.stat(path).st_mode & 0o777 == 0o600
    assert public_key_text(load_or_create_private_key(path)) == public_key_text(key)
