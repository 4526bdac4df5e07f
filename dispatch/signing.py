"""The console's Ed25519 signing key, which agents trust for commands (docs/dispatch.md, "Trust")."""

import functools
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.conf import settings
from lvsweb_agent.envelope import load_or_create_private_key, public_key_text, seal

CONTROL_SIGNER = "control"


@functools.cache
def control_private_key() -> Ed25519PrivateKey:
    """The signing key: LVSWEB_CONTROL_SIGNING_KEY_FILE, created there (mode 0600) on first use."""
    return load_or_create_private_key(Path(settings.CONTROL_SIGNING_KEY_FILE))


def control_public_key_text() -> str:
    """The public half, base64, as enrollment hands it to agents."""
    return public_key_text(control_private_key())


def seal_command(payload: dict) -> dict:
    """An envelope of `payload` signed by the console."""
    return seal(payload, control_private_key(), CONTROL_SIGNER)
