"""Trigram indexes for the address and description search of real servers (PostgreSQL only).

The search page and `?search=` of /api/real-servers/ match any part of an address ("10.0.0.1" finds 10.0.0.1,
10.0.0.10 … and 110.0.0.1) or of the description, which no btree index serves: at 100,000 real servers every
search read the whole table. pg_trgm GIN indexes on the expressions the search filters on
(`clusters.selectors.matching_real_servers`) let the planner read only the rows that share the query's
trigrams: the address with its dots and colons as letters (pg_trgm would split it into numbers whose trigrams
every address shares), and the description as Django's `icontains` writes it (docs/performance.md, "Console
at scale").

Not in the models' `Meta.indexes`: SQLite has no GIN and no pg_trgm, and a model index would be created on it
too. Where the database refuses to create the extension (a role without the right to), the indexes are left out
and search still works, only without them; the migration says so rather than fail the upgrade.
"""

from django.db import DatabaseError, migrations, transaction

INDEXES = {
    "clusters_realserver_address_trgm": ("clusters_realserver", "REPLACE(REPLACE(HOST(address), '.', 'x'), ':', 'y')"),
    "clusters_realserver_description_trgm": ("clusters_realserver", "UPPER(description)"),
}


def create_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    try:
        with transaction.atomic(using=schema_editor.connection.alias):
            schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    except DatabaseError as exc:  # a role without the right: search works without the indexes, only slower
        print(f"\n  pg_trgm could not be created ({exc}); address search stays without its index.")
        return
    for name, (table, expression) in INDEXES.items():
        schema_editor.execute(f"CREATE INDEX IF NOT EXISTS {name} ON {table} USING gin (({expression}) gin_trgm_ops)")


def drop_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in INDEXES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [
        ("clusters", "0011_vrrp_password_keepalived_can_read"),
    ]

    operations = [
        migrations.RunPython(create_indexes, drop_indexes, elidable=False),
    ]
