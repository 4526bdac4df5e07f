"""How an audit entry's recorded changes read on a page: names instead of ids, internals behind "details".

The entry itself is never altered (it is hash-chained and anchored): what it holds is exactly what was
recorded, foreign keys as ids. This module only prepares its display, for a page of entries at a time, with
one query per kind of object named (not one per entry).
"""

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.apps import apps
from django.db import models

#: Fields that only the machinery reads: what an agent reported (facts, drift), keys, serial numbers, queue
#: names. They stay in the record and its exports; pages show them under "details", not in the change list.
INTERNAL_FIELDS = frozenset(
    {
        "facts",
        "drift",
        "public_key",
        "document_serial",
        "applied_serial",
        "serial",
        "key_prefix",
        "key_hash",
        "token_hash",
        "queue",
        "username",  # a broker account's ACL user name
        "password_hash",
    }
)


@dataclass
class ChangeRow:
    """One field's change as shown: its label and the before/after values as text."""

    field: str
    before: Any
    after: Any


@dataclass
class PresentedChanges:
    """An entry's changes split into what an operator reads and the internals."""

    rows: list[ChangeRow] = field(default_factory=list)
    details: list[ChangeRow] = field(default_factory=list)


def _pair(value: Any) -> tuple[Any, Any]:
    if isinstance(value, list):
        before, after = [*value, None, None][:2]
        return before, after
    return None, value


def _model(object_type: str) -> type[models.Model] | None:
    try:
        return apps.get_model(object_type)
    except (LookupError, ValueError):
        return None


def _relation(model: type[models.Model] | None, name: str) -> type[models.Model] | None:
    """The model a recorded field points to, when it is a foreign key of `model` (else None)."""
    if model is None:
        return None
    try:
        model_field = model._meta.get_field(name)
    except Exception:  # FieldDoesNotExist, or a name that is no field: shown as recorded
        return None
    if model_field.many_to_one or model_field.one_to_one:
        return model_field.related_model  # type: ignore[return-value]
    return None


def _label(instance: models.Model) -> str:
    if hasattr(instance, "get_username"):
        return instance.get_username()
    return str(instance)


def present(entries: Iterable[Any]) -> dict[int, PresentedChanges]:
    """{entry id: its changes as shown} for a page of entries.

    A foreign key's id reads as the object's name with the id after it ("team-a (#1)"), or "#1 (deleted)" when
    the object is gone; internal fields go to `details`.
    """
    entries = list(entries)
    wanted: dict[type[models.Model], set[Any]] = defaultdict(set)
    plan: list[tuple[Any, list[tuple[str, Any, Any, type[models.Model] | None]]]] = []
    for entry in entries:
        model = _model(entry.object_type) if entry.object_type else None
        items = []
        changes: Mapping[str, Any] = entry.changes if isinstance(entry.changes, dict) else {}
        for name, value in sorted(changes.items()):
            before, after = _pair(value)
            related = _relation(model, name)
            if related is not None:
                for pk in (before, after):
                    if isinstance(pk, (int, str)) and pk != "":
                        wanted[related].add(pk)
            items.append((name, before, after, related))
        plan.append((entry, items))
    names: dict[type[models.Model], dict[str, str]] = {}
    for related, pks in wanted.items():
        try:
            found = related._default_manager.in_bulk(list(pks))
        except (ValueError, TypeError):
            found = {}
        names[related] = {str(pk): _label(instance) for pk, instance in found.items()}

    def shown(related: type[models.Model] | None, value: Any) -> Any:
        if related is None or value is None or value == "":
            return value
        name = names.get(related, {}).get(str(value))
        return f"{name} (#{value})" if name is not None else f"#{value} (deleted)"

    presented = {}
    for entry, items in plan:
        result = PresentedChanges()
        for name, before, after, related in items:
            row = ChangeRow(name.replace("_", " "), shown(related, before), shown(related, after))
            (result.details if name in INTERNAL_FIELDS else result.rows).append(row)
        presented[entry.pk] = result
    return presented
