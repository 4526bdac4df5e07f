"""Writing a batch's many rows fast: on PostgreSQL with COPY (thousands of rows a second), elsewhere (SQLite
under `make run`) through the ORM. Django's bulk methods spend ~1 µs per field and row preparing values,
which for 10,000 series × 27 fields a second is most of a core."""

from __future__ import annotations

from operator import attrgetter

from django.db import connection

from traffic.models import Sample, Series

SAMPLE_COLUMNS = ("series_id", "resolution", "at", "span", "active", "inactive")


def update_series(items: list[Series], fields: list[str]) -> None:
    """Save `fields` of existing series rows."""
    if not items:
        return
    if connection.vendor != "postgresql":
        Series.objects.bulk_create(
            items, update_conflicts=True, unique_fields=["id"], update_fields=fields, batch_size=2000
        )
        return
    columns = ["id", *fields]
    types = {f.attname: f.db_type(connection) for f in Series._meta.concrete_fields}
    table = Series._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TEMPORARY TABLE IF NOT EXISTS traffic_series_batch ("
            + ", ".join(f"{name} {types[name].replace('serial', 'integer')}" for name in columns)
            + ") ON COMMIT DELETE ROWS"
        )
        values = attrgetter("pk", *fields)
        with cursor.cursor.copy(f"COPY traffic_series_batch ({', '.join(columns)}) FROM STDIN") as copy:
            for item in items:
                copy.write_row(values(item))
        # Names of the model's own columns only, never input.
        assignments = ", ".join(f"{name} = b.{name}" for name in fields)
        update = f"UPDATE {table} AS s SET {assignments} FROM traffic_series_batch AS b WHERE s.id = b.id"  # noqa: S608
        cursor.execute(update)
        cursor.execute("DELETE FROM traffic_series_batch")


def insert_samples(rows: list[tuple], rates: tuple[str, ...]) -> None:
    """Insert raw samples: (series id, resolution, at, span, active, inactive, *rates) tuples."""
    if not rows:
        return
    columns = [*SAMPLE_COLUMNS, *rates]
    if connection.vendor != "postgresql":
        Sample.objects.bulk_create(
            [Sample(**dict(zip(columns, row, strict=True))) for row in rows], ignore_conflicts=True
        )
        return
    # One agent batch is one transaction stamped `now`: its samples cannot collide with older ones.
    statement = f"COPY {Sample._meta.db_table} ({', '.join(columns)}) FROM STDIN"
    with connection.cursor() as cursor, cursor.cursor.copy(statement) as copy:
        for row in rows:
            copy.write_row(row)
