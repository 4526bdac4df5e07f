"""CSV and JSON exports of exactly the entries a filter shows."""

import csv
import json

from django.core.serializers.json import DjangoJSONEncoder
from django.http import HttpResponse, StreamingHttpResponse

EXPORT_FIELDS = [
    "id",
    "occurred_at",
    "actor_type",
    "actor_name",
    "source_address",
    "user_agent",
    "request_id",
    "action",
    "object_type",
    "object_id",
    "object_repr",
    "result",
    "message",
    "changes",
]


#: A cell starting with one of these is a formula to Excel, LibreOffice and Google Sheets (OWASP "CSV injection").
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value):
    """`value` as a CSV cell that a spreadsheet shows as text: a leading single quote defuses a formula.

    An audit entry holds what users typed (a cluster named `=HYPERLINK(…)`); opened in a spreadsheet, the
    export must not run it.
    """
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


class _Echo:
    """A file-like object whose write returns the line, for streaming csv.writer output."""

    def write(self, value):
        return value


def _row(entry) -> dict:
    row = {name: getattr(entry, name) for name in EXPORT_FIELDS}
    row["occurred_at"] = entry.occurred_at.isoformat()
    return row


def as_csv(queryset, filename: str) -> StreamingHttpResponse:
    """Stream the entries as CSV (changes as a JSON column), oldest first."""
    writer = csv.writer(_Echo())

    def lines():
        yield writer.writerow(EXPORT_FIELDS)
        for entry in queryset.iterator(chunk_size=2000):
            row = _row(entry)
            row["changes"] = json.dumps(entry.changes, cls=DjangoJSONEncoder, sort_keys=True)
            yield writer.writerow(
                [spreadsheet_safe(row[name]) if row[name] is not None else "" for name in EXPORT_FIELDS]
            )

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}.csv"'
    return response


def as_json(queryset, filename: str) -> HttpResponse:
    """The entries as a JSON array, oldest first, with every field `verify_audit --export` needs to verify them.

    Besides the fields shown, each entry carries its chain fields (ids, previous-hash, hash, mac, key id)
    and occurred_at exactly as it was hashed (docs/audit.md, "Verifying an export offline").
    """
    body = json.dumps(
        [{**_row(entry), **entry.chain_document()} for entry in queryset.iterator(chunk_size=2000)],
        cls=DjangoJSONEncoder,
        indent=1,
    )
    response = HttpResponse(body, content_type="application/json")
    response["Content-Disposition"] = f'attachment; filename="{filename}.json"'
    return response
