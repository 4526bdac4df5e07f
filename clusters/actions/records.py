"""Validated saves shared by the inventory actions."""

from collections.abc import Mapping
from typing import Any, TypeVar

from django.core.exceptions import ValidationError
from django.db import models

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
        raise ValidationError({name: "This field cannot be set here." for name in unknown})
    for name, value in values.items():
        setattr(instance, name, value)


def save_validated(instance: ModelT) -> ModelT:
    """Run every model validation (fields, then `clean()` and uniqueness), then save."""
    # Unlike full_clean(), stop after the field checks when they fail: clean() compares and queries the
    # values, and an address such as "garbage" would raise ValueError there instead of a ValidationError.
    instance.clean_fields()
    instance.clean()
    instance.validate_unique()
    instance.validate_constraints()
    instance.save()
    return instance
