"""The benches' throw-away PostgreSQL database, next to DATABASE_URL's: `<its name>_<suffix>`."""

from __future__ import annotations

import os
from urllib.parse import urlparse


def bench_database(suffix: str, reuse: bool = False) -> tuple[str, str, bool]:
    """Point DATABASE_URL at the bench database `<name>_<suffix>`, new unless `reuse` and it exists.

    Returns (the server's admin URL, the database's name, whether it is new and must be seeded)."""
    import psycopg

    url = urlparse(os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/lvsweb"))
    name = f"{url.path.lstrip('/') or 'lvsweb'}_{suffix}"
    admin = url._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone() is not None
        if not (reuse and exists):
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}"')
    os.environ["DATABASE_URL"] = url._replace(path=f"/{name}").geturl()
    return admin, name, not (reuse and exists)


def drop_database(admin: str, name: str) -> None:
    import psycopg

    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
