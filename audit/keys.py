"""The audit keys, kept outside the database: the HMAC key ring of the chain and the checkpoint signing key.

Both live in the var directory (mode 0600, created on first use) or come from the environment, so that
someone who can write to the database alone can neither recompute an entry's mac nor sign a checkpoint.
"""

import os
import secrets
import threading
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.conf import settings

from audit.verify import KeyRing, load_public_key_text, parse_hmac_keys, public_key_text

_lock = threading.Lock()
_ring_cache: dict[str, tuple[int, KeyRing]] = {}
_signing_cache: dict[str, Ed25519PrivateKey] = {}


def _create_file(path: Path, data: bytes) -> bool:
    """Create `path` with mode 0600 holding `data`; False when another process created it first.

    Written whole under another name and then linked into place, so that a process starting at the same
    moment never reads a half-written key.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.link(temporary, path)
        return True
    except FileExistsError:
        return False
    finally:
        temporary.unlink(missing_ok=True)


def new_hmac_key() -> str:
    """A fresh random HMAC key, as the key file holds it (256 bits, hex)."""
    return secrets.token_hex(32)


def hmac_keyring() -> KeyRing:
    """The HMAC keys: LVSWEB_AUDIT_HMAC_KEYS, else the key file (created with one key on first use).

    The file is read again when it changes (`audit_rotate_key`), so a rotation needs no restart.
    """
    if settings.AUDIT_HMAC_KEYS:
        keys = tuple(parse_hmac_keys(settings.AUDIT_HMAC_KEYS))
        if not keys:
            raise RuntimeError("LVSWEB_AUDIT_HMAC_KEYS holds no key (one per line or comma-separated, current first)")
        return KeyRing(keys)
    path = Path(settings.AUDIT_HMAC_KEYS_FILE)
    try:
        mtime = path.stat().st_mtime_ns
    except FileNotFoundError:
        _create_file(path, (new_hmac_key() + "\n").encode())
        mtime = path.stat().st_mtime_ns
    cached = _ring_cache.get(str(path))
    if cached and cached[0] == mtime:
        return cached[1]
    with _lock:
        keys = tuple(parse_hmac_keys(path.read_text()))
        if not keys:
            raise RuntimeError(f"{path} holds no HMAC key (one per line, the current one first)")
        ring = KeyRing(keys)
        _ring_cache[str(path)] = (mtime, ring)
        return ring


def rotate_hmac_key() -> str:
    """Make a new current HMAC key in the key file (older ones stay, to verify older entries); its id."""
    if settings.AUDIT_HMAC_KEYS:
        raise RuntimeError(
            "the HMAC keys come from LVSWEB_AUDIT_HMAC_KEYS: put a new key first in that variable instead"
        )
    path = Path(settings.AUDIT_HMAC_KEYS_FILE)
    old = hmac_keyring().keys
    key = new_hmac_key()
    text = "\n".join([key, *(k.decode() for k in old)]) + "\n"
    temporary = path.with_name(f".{path.name}.rotate")
    temporary.unlink(missing_ok=True)
    _create_file(temporary, text.encode())
    os.replace(temporary, path)
    return KeyRing((key.encode(),)).current[0]


def signing_key() -> Ed25519PrivateKey:
    """The checkpoint signing key: LVSWEB_AUDIT_SIGNING_KEY_FILE, created there (mode 0600) on first use."""
    path = Path(settings.AUDIT_SIGNING_KEY_FILE)
    cached = _signing_cache.get(str(path))
    if cached is not None:
        return cached
    with _lock:
        if not path.exists():
            key = Ed25519PrivateKey.generate()
            pem = key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
            _create_file(path, pem)
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise RuntimeError(f"{path} is not an Ed25519 private key")
        _signing_cache[str(path)] = key
        return key


def signing_public_key() -> str:
    """The public half of the signing key, base64 (what auditors are given to trust)."""
    raw = signing_key().public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return public_key_text(raw)


def trusted_public_keys(extra_files: list[str] | tuple[str, ...] = ()) -> list[str]:
    """Keys whose checkpoints are believed: the current one, LVSWEB_AUDIT_TRUSTED_KEYS, and `extra_files`."""
    keys = [signing_public_key()]
    keys += [load_public_key_text(text) for text in settings.AUDIT_TRUSTED_KEYS]
    keys += [load_public_key_text(Path(name).read_text()) for name in extra_files]
    return keys


def forget_cached_keys() -> None:
    """Drop the keys read so far (tests point the settings at other files)."""
    _ring_cache.clear()
    _signing_cache.clear()
