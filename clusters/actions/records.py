"""Validated, audited saves shared by the inventory actions."""

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.db import models

from audit.recording import diff, record, snapshot

ModelT = TypeVar("ModelT", bound=models.Model)


def editable_fields(model: type[models.Model]) -> set[str]:
    """Names an action may set on `model` (concrete, editable, not the primary key)."""
    names = set()
    for field in model._meta.concrete_fields:
        if field.editable and not field.primary_key:
            names.add(field.name)
            if field.is_relation:
                names.add(field.attname)
    return names


def assign(instance: models.Model, values: Mapping[str, Any], *, fixed: frozenset[str] = frozenset()) -> None:
    """Set `values` on `instance`; unknown or fixed fields are refused by name."""
    allowed = editable_fields(type(instance)) - fixed
    unknown = sorted(set(values) - allowed)
    if unknown:
        raise ValidationError(dict.fromkeys(unknown, "This field cannot be set here."))
    for name, value in values.items():
        setattr(instance, name, value)


def loaded_relations(instance: models.Model) -> list[str]:
    """Foreign keys of `instance` set to an object read from the database (by the action or its caller).

    The field check of a foreign key asks the database whether the object exists: for an object just read
    (usually locked) that is a query per save for nothing. The database's own constraint stays behind it.
    """
    names = []
    for field in instance._meta.concrete_fields:
        if field.is_relation and field.is_cached(instance):
            related = getattr(instance, field.name)
            if related is not None and related.pk is not None and not related._state.adding:
                names.append(field.name)
    return names


def save_validated(instance: ModelT, known: Any = None) -> ModelT:
    """Run every model validation (fields, then `clean()` and uniqueness), then save.

    `known`, when given, answers `clean()`'s questions about other rows (`clean(known=...)` of the model).
    """
    # Unlike full_clean(), stop after the field checks when they fail: clean() compares and queries the
    # values, and an address such as "garbage" would raise ValueError there instead of a ValidationError.
    instance.clean_fields(exclude=loaded_relations(instance))
    if known is None:
        instance.clean()
    else:
        instance.clean(known=known)  # type: ignore[call-arg]
    instance.validate_unique()
    instance.validate_constraints()
    instance.save()
    return instance


def _loaded_cluster(instance: models.Model) -> models.Model | None:
    """The cluster object `instance` already holds (its own, or its service's), without a query; else None."""
    for path in (("cluster",), ("virtual_service", "cluster")):
        current: models.Model | None = instance
        for name in path:
            try:
                field = current._meta.get_field(name) if current is not None else None
            except FieldDoesNotExist:
                field = None
            if field is None or not field.is_relation or not field.is_cached(current):
                current = None
                break
            current = getattr(current, name)
        if current is not None:
            return current
    return None


def audit_scope(instance: models.Model) -> dict[str, int | None]:
    """The cluster and team an inventory object belongs to, so that its entries show in their history."""
    cluster_id = getattr(instance, "cluster_id", None)
    if cluster_id is None and hasattr(instance, "virtual_service"):
        cluster_id = instance.virtual_service.cluster_id
    if cluster_id is None and instance._meta.label_lower == "clusters.cluster":
        cluster_id = instance.pk
    team_id = getattr(instance, "team_id", None)
    cluster = _loaded_cluster(instance)
    if team_id is None and cluster is not None and cluster.pk == cluster_id:
        team_id = cluster.team_id
    elif team_id is None and cluster_id is not None:
        from clusters.models import Cluster

        team_id = Cluster.objects.filter(pk=cluster_id).values_list("team_id", flat=True).first()
    return {"cluster_id": cluster_id, "team_id": team_id}


def create_audited(
    instance: ModelT,
    values: Mapping[str, Any],
    *,
    acting_user: AbstractBaseUser | None,
    action: str,
    fixed: frozenset[str] = frozenset(),
    check: Callable[[ModelT], None] | None = None,
    known: Any = None,
) -> ModelT:
    """Set `values` on a new `instance`, validate, save, and record the creation with every field.

    `check` sees the instance with its values set, before anything is validated or saved: the policy
    question of the action (e.g. may this user create a cluster in this team). `known` answers the model's
    questions about other rows (see `save_validated`).
    """
    assign(instance, values, fixed=fixed)
    if check is not None:
        check(instance)
    save_validated(instance, known)
    record(
        action=action,
        acting_user=acting_user,
        obj=instance,
        changes=diff(None, snapshot(instance)),
        **audit_scope(instance),
    )
    return instance


def update_audited(
    instance: ModelT,
    changes: Mapping[str, Any],
    *,
    acting_user: AbstractBaseUser | None,
    action: str,
    fixed: frozenset[str] = frozenset(),
    check: Callable[[ModelT], None] | None = None,
) -> ModelT:
    """Apply `changes`, validate, save, and record the fields that really changed (nothing when none did).

    `check` sees the instance with the changes set, before anything is validated or saved.
    """
    before = snapshot(instance)
    assign(instance, changes, fixed=fixed)
    if check is not None:
        check(instance)
    save_validated(instance)
    changed = diff(before, snapshot(instance))
    if changed:
        record(action=action, acting_user=acting_user, obj=instance, changes=changed, **audit_scope(instance))
    return instance


def delete_audited(
    instance: models.Model, *, acting_user: AbstractBaseUser | None, action: str, message: str = ""
) -> None:
    """Delete `instance` and record what it was."""
    before = snapshot(instance)
    scope = audit_scope(instance)
    label, pk, text = instance._meta.label_lower, str(instance.pk), str(instance)
    instance.delete()
    record(
        action=action,
        acting_user=acting_user,
        object_type=label,
        object_id=pk,
        object_repr=text,
        changes=diff(before, None),
        message=message,
        **scope,
    )
