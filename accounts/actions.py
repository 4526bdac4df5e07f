"""State changes of accounts; each runs in one transaction."""

from datetime import datetime

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

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
    """Create a token for `user`; returns the row and the key, which is not stored and cannot be shown again.

    Users make tokens for themselves; only the system (`acting_user=None`) and superusers for others.
    """
    if acting_user is not None and acting_user.pk != user.pk and not acting_user.is_superuser:
        raise PermissionDenied("You can create API tokens only for yourself.")
    if expires_at is not None and expires_at <= timezone.now():
        raise ValidationError({"expires_at": "The expiry must be in the future."})
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


@transaction.atomic
def revoke_api_token(*, acting_user: AbstractBaseUser | None, token: ApiToken) -> ApiToken:
    """Revoke a token at once; it is kept (revoked) so that lists still show when it was last used."""
    from teams import policy

    policy.require(acting_user, policy.MANAGE, token)
    token = ApiToken.objects.select_for_update().get(pk=token.pk)
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
        record(
            action="api_token.revoke",
            acting_user=acting_user,
            obj=token,
            changes={"revoked_at": [None, token.revoked_at]},
        )
    return token
