"""Signed envelopes: the only form in which commands and reports cross the (untrusted) broker.

An envelope carries the payload's exact JSON bytes (base64) and an Ed25519 signature over them. The
receiver verifies before it parses, so a tampered payload is never even read. See docs/dispatch.md.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

ENVELOPE_VERSION = 1


class EnvelopeError(ValueError):
    """An envelope that must not be acted on; the message says why, in words fit for an audit entry."""


def generate_private_key() -> Ed25519PrivateKey:
    """A new Ed25519 private key."""
    return Ed25519PrivateKey.generate()


def public_key_text(key: Ed25519PrivateKey | Ed25519PublicKey) -> str:
    """The raw public key as base64 (what enrollment exchanges and the console stores)."""
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode()


def load_public_key(text: str) -> Ed25519PublicKey:
    """Parse a base64 raw Ed25519 public key; EnvelopeError when it is not one."""
    try:
        raw = base64.b64decode(text, validate=True)
        return Ed25519PublicKey.from_public_bytes(raw)
    except (binascii.Error, ValueError, TypeError) as exc:
        raise EnvelopeError("not a base64 Ed25519 public key (32 bytes)") from exc


def private_key_pem(key: Ed25519PrivateKey) -> bytes:
    """The private key as unencrypted PKCS#8 PEM (files holding it are mode 0600)."""
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def load_private_key_pem(data: bytes) -> Ed25519PrivateKey:
    """Parse a PKCS#8 PEM Ed25519 private key."""
    key = serialization.load_pem_private_key(data, password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise EnvelopeError("the key file does not hold an Ed25519 private key")
    return key


def load_or_create_private_key(path: str | Path) -> Ed25519PrivateKey:
    """Read the key at `path`, or create it there with mode 0600 (never readable by others)."""
    path = Path(path)
    if path.exists():
        return load_private_key_pem(path.read_bytes())
    path.parent.mkdir(parents=True, exist_ok=True)
    key = generate_private_key()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(private_key_pem(key))
    return key


def seal(payload: dict[str, Any], private_key: Ed25519PrivateKey, signer: str) -> dict[str, Any]:
    """Sign `payload` as `signer` and wrap it in an envelope."""
    data = json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()
    return {
        "v": ENVELOPE_VERSION,
        "signer": signer,
        "payload": base64.b64encode(data).decode(),
        "signature": base64.b64encode(private_key.sign(data)).decode(),
    }


def envelope_signer(envelope: object) -> str:
    """Who claims to have signed the envelope (not yet verified: use it only to pick the key)."""
    signer = envelope.get("signer") if isinstance(envelope, dict) else None
    if not isinstance(signer, str) or not signer:
        raise EnvelopeError("malformed envelope: no signer")
    return signer


def open_envelope(envelope: object, public_key: Ed25519PublicKey) -> dict[str, Any]:
    """Verify the envelope with `public_key` and return its payload; EnvelopeError when it does not verify."""
    if not isinstance(envelope, dict) or envelope.get("v") != ENVELOPE_VERSION:
        raise EnvelopeError("malformed envelope: not a version 1 envelope")
    try:
        data = base64.b64decode(envelope["payload"], validate=True)
        signature = base64.b64decode(envelope["signature"], validate=True)
    except (KeyError, TypeError, binascii.Error) as exc:
        raise EnvelopeError("malformed envelope: payload or signature is not base64") from exc
    try:
        public_key.verify(signature, data)
    except InvalidSignature:
        raise EnvelopeError(
            f"bad signature: the payload was altered or not signed by {envelope.get('signer')!r}"
        ) from None
    try:
        payload = json.loads(data)
    except ValueError as exc:
        raise EnvelopeError("malformed envelope: the signed payload is not JSON") from exc
    if not isinstance(payload, dict):
        raise EnvelopeError("malformed envelope: the signed payload is not an object")
    return payload
