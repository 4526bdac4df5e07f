"""Template helpers that render an entry's field-level changes readably."""

from django import template

register = template.Library()


@register.filter
def change_rows(changes: dict) -> list[tuple[str, object, object]]:
    """`{field: [before, after]}` as (field label, before, after) rows, sorted by field."""
    rows = []
    for field, pair in sorted((changes or {}).items()):
        before, after = [*pair, None, None][:2] if isinstance(pair, list) else (None, pair)
        rows.append((field.replace("_", " "), before, after))
    return rows


@register.filter
def entry_changes(presented: dict, entry_id: int):
    """The entry's changes as `audit.presentation.present` prepared them for the page."""
    return presented.get(entry_id)


@register.filter
def shown(value) -> str:
    """A value as an operator reads it: empty strings and None are made visible."""
    if value is None:
        return "—"
    if value == "":
        return "(empty)"
    if value is True:
        return "yes"
    if value is False:
        return "no"
    return str(value)


@register.simple_tag
def audit_stream_problems() -> list[str]:
    """A sentence per audit stream that fails or is behind (empty when none is configured or all keep up)."""
    from audit import streaming

    return streaming.lagging()
