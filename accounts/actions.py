"""State changes of accounts; each runs in one transaction."""

from datetime import datetime

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from accounts.models import ApiToken, hash_token
from audit.recording import diff, record, snapshot


@transaction.atomic
def create_api_token(
    *,
    acting_user: AbstractBaseUser | None,
    user: AbstractBaseUser,
    name: str,
    read_only: bool = False,
    expires_at: datetime | None = None,
) -> tuple[ApiToken, str]:
    """Create a token for `user`; returns the row and the key, which is not stored and cannot be shown again."""
    key = ApiToken.generate_key()
    token = ApiToken(
        user=user,
        name=name,
        key_prefix=key[:12],
        key_hash=hash_token(key),
        read_only=read_only,
        expires_at=expires_at,
    )
    token.full_clean()
    token.save()
    record(
        action="api_token.create",
        acting_user=acting_user,
        obj=token,
        changes=diff(
            None, snapshot(token, fields=["user", "name", "key_prefix", "key_hash", "read_only", "expires_at"])
        ),
    )
    return token, key
