"""Writing audit entries: called by the actions layer inside the transaction of the change itself."""

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, ParamSpec

from django.contrib.auth.models import AbstractBaseUser
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, models, transaction
from django.utils import timezone

from audit import context
from audit.chain import link_and_insert
from audit.choices import ActorType, Result
from audit.models import AuditEntry

P = ParamSpec("P")

#: Field names whose values never enter the record (the entry says that they changed, not to what).
SECRET_FIELDS = frozenset({"password", "key_hash", "token_hash", "secret", "private_key", "signing_key"})
SECRET_PLACEHOLDER = "(secret)"  # noqa: S105 (the mask shown instead of a secret)


def snapshot(instance: models.Model, fields: Iterable[str] | None = None) -> dict[str, Any]:
    """The instance's concrete field values as JSON-ready data (foreign keys by id, secrets masked)."""
    values: dict[str, Any] = {}
    for field in instance._meta.concrete_fields:
        if field.primary_key or (fields is not None and field.name not in fields):
            continue
        if field.name in ("created_at", "updated_at"):
            continue
        value = field.value_from_object(instance)
        values[field.name] = SECRET_PLACEHOLDER if field.name in SECRET_FIELDS else value
    return json.loads(json.dumps(values, cls=DjangoJSONEncoder))


def diff(before: Mapping[str, Any] | None, after: Mapping[str, Any] | None) -> dict[str, list[Any]]:
    """Field-level changes `{field: [before, after]}`; a create has before None, a delete after None."""
    before = before or {}
    after = after or {}
    changes = {}
    for name in sorted(set(before) | set(after)):
        old, new = before.get(name), after.get(name)
        if old != new or (name in before) != (name in after):
            changes[name] = [old, new]
    return changes


def build(
    *,
    action: str,
    acting_user: AbstractBaseUser | None = None,
    actor_host: Any | None = None,
    obj: models.Model | None = None,
    object_type: str = "",
    object_id: str = "",
    object_repr: str = "",
    changes: Mapping[str, Any] | None = None,
    result: Result | str = Result.SUCCESS,
    message: str = "",
    team_id: int | None = None,
    cluster_id: int | None = None,
    anonymous: bool = False,
) -> AuditEntry:
    """An entry as `record` writes it, not yet in the chain: give a batch of them to `append` at once.

    The actor is `acting_user`, else `actor_host` (an agent), else "anonymous" when the caller says the
    request had no signed-in user (a failed sign-in), else "system" (shell, commands, tasks).
    """
    request = context.current()
    if acting_user is not None and getattr(acting_user, "is_authenticated", False):
        actor_type, actor_user_id, actor_name = ActorType.USER, acting_user.pk, acting_user.get_username()
    elif actor_host is not None:
        actor_type, actor_user_id, actor_name = ActorType.AGENT, None, str(actor_host)
    elif anonymous:
        actor_type, actor_user_id, actor_name = ActorType.ANONYMOUS, None, "anonymous"
    else:
        actor_type, actor_user_id, actor_name = ActorType.SYSTEM, None, "system"
    if obj is not None:
        object_type = object_type or obj._meta.label_lower
        object_id = object_id or str(obj.pk)
        object_repr = object_repr or str(obj)
    return AuditEntry(
        occurred_at=timezone.now(),
        actor_type=actor_type,
        actor_user_id=actor_user_id,
        actor_name=actor_name[:255],
        source_address=request.source_address,
        user_agent=request.user_agent,
        request_id=request.request_id,
        action=action,
        object_type=object_type,
        object_id=object_id,
        object_repr=object_repr[:255],
        team_id=team_id,
        cluster_id=cluster_id,
        changes=json.loads(json.dumps(dict(changes or {}), cls=DjangoJSONEncoder)),
        result=result,
        message=message,
    )


def append(entries: Sequence[AuditEntry]) -> None:
    """Add `entries` (from `build`), in order, to the chain as part of the caller's transaction.

    The entries join the chain when the caller's transaction commits (audit/chain.py): until then they have
    no id and no hash, and the chain's lock is not taken — an import of thousands of objects appends them all
    in one short step at its commit. A rollback of the transaction, or of a savepoint open now, drops them.
    """
    if not entries:
        return
    if getattr(connection, "audit_chain", False) and any(not b._from_testcase for b in connection.atomic_blocks):
        # Already in a change's transaction: the entries belong to its open savepoints (no savepoint of their
        # own, which would cost two statements per entry). A test case's own transaction does not count: there
        # the entries join the chain at the end of the outermost block of the code under test (chain.py).
        for entry in entries:
            connection.audit_enqueue(entry)
        return
    # An atomic block of its own makes a transaction when the caller has none.
    with transaction.atomic():
        if getattr(connection, "audit_chain", False):
            for entry in entries:
                connection.audit_enqueue(entry)
        else:
            link_and_insert(list(entries), using=connection.alias)


def _appending(make: Callable[P, AuditEntry]) -> Callable[P, AuditEntry]:
    def record(*args: P.args, **kwargs: P.kwargs) -> AuditEntry:
        """Append one entry (`build`'s arguments) to the chain as part of the caller's transaction (a rollback
        removes it too)."""
        entry = make(*args, **kwargs)
        append([entry])
        return entry

    return record


#: One entry: `build` then `append`, with `build`'s arguments (and their types) as its own.
record = _appending(build)
