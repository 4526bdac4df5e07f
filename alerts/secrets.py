"""Webhook signing secrets: made once, shown once, stored encrypted with a key derived from SECRET_KEY.

A secret that signs must be readable again (an HMAC needs the secret itself), so it cannot be stored hashed
the way API and enrollment tokens are. It is encrypted with Fernet (AES-128-CBC + HMAC-SHA256, from
`cryptography`) under a key derived from Django's SECRET_KEY by HKDF-SHA256 with an info string of its own:

- the key is not in the database, so a dump or backup of the database alone does not give the secrets away;
- SECRET_KEY already has to be kept secret, set in production and backed up (README, “SECRET_KEY”): deriving
  from it adds no file to generate, mount and back up, as a key of its own in var/ would;
- HKDF's info string separates this key from every other use Django makes of SECRET_KEY (sessions, signing).

After SECRET_KEY is rotated, secrets made under the old key still decrypt while it is listed in
SECRET_KEY_FALLBACKS; without it they cannot be read, and the channel's deliveries fail with a message that
says to make a new secret (“Rotate secret” on the alerts page).
"""

import base64
import secrets

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings

INFO = b"lvsweb alert channel webhook secrets v1"


class SecretUnreadable(Exception):
    """The stored secret cannot be decrypted with SECRET_KEY (or its fallbacks)."""


def _fernet(secret_key: str) -> Fernet:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=INFO).derive(secret_key.encode())
    return Fernet(base64.urlsafe_b64encode(key))


def _keys() -> MultiFernet:
    return MultiFernet([_fernet(key) for key in [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]])


def new_secret() -> str:
    """A fresh signing secret (shown once to the owner who made the channel)."""
    return "lvwh_" + secrets.token_urlsafe(32)


def encrypt(secret: str) -> str:
    """`secret` encrypted for the database."""
    return _keys().encrypt(secret.encode()).decode()


def decrypt(stored: str) -> str:
    """The secret back from the database."""
    try:
        return _keys().decrypt(stored.encode()).decode()
    except InvalidToken:
        raise SecretUnreadable(
            "The channel's signing secret cannot be decrypted (SECRET_KEY changed?): rotate the secret."
        ) from None
