"""Upgrading keeps the data: a database at the last release's schema, with rows in it, migrates forward to this
code's schema (issue 22, item 6; docs/upgrading.md).

Migrations are forward-only: nothing here migrates backwards, and a rollback is a restore of the backup taken
before the upgrade (docs/upgrading.md).
"""

import psycopg
import pytest
from django.db import connections
from django.db.migrations.executor import MigrationExecutor
from django.db.utils import load_backend

#: The last migration of each of the console's apps at the last release, commit 604081a (computed with
#: `git ls-tree --name-only 604081a:<app>/migrations`; the dispatch app was then `agents/`, label "agents").
#: Django's and django-axes' own apps go to their newest migration, as a fresh install of that release had them.
RELEASE_604081A = {
    "accounts": "0001_initial",
    "teams": "0001_initial",
    "clusters": "0007_names_per_team_and_valid_hostnames",
    "agents": "0004_report_streams",
    "audit": "0003_keyed_chain_anchors_streams",
    "traffic": "0003_sample_series_index",
}


#: The console's apps that came after that release: the upgrade creates their tables.
APPS_AFTER_604081A = ("alerts",)


@pytest.fixture
def fresh_database(django_db_blocker):
    """A database of its own, empty, next to the test database, as the "default" connection; dropped afterwards."""
    default = connections["default"].settings_dict
    name = f"{default['NAME']}_upgrade"
    admin = {"host": default["HOST"], "port": default["PORT"], "user": default["USER"], "dbname": "postgres"}
    if default.get("PASSWORD"):
        admin["password"] = default["PASSWORD"]
    with django_db_blocker.unblock():
        with psycopg.connect(**admin, autocommit=True) as server:
            server.execute(f'DROP DATABASE IF EXISTS "{name}"')
            server.execute(f'CREATE DATABASE "{name}"')
        # In the place of "default": the release's data migrations use the default database (clusters 0004).
        wrapper = load_backend(default["ENGINE"]).DatabaseWrapper({**default, "NAME": name}, alias="default")
        test_database = connections["default"]
        connections["default"] = wrapper
        try:
            yield wrapper
        finally:
            wrapper.close()
            connections["default"] = test_database
            with psycopg.connect(**admin, autocommit=True) as server:
                server.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def migrate(connection, targets):
    executor = MigrationExecutor(connection)
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


def test_the_last_releases_data_survives_the_upgrade(fresh_database):
    loader = MigrationExecutor(fresh_database).loader
    release = [
        (app, RELEASE_604081A.get(app, name))
        for app, name in loader.graph.leaf_nodes()
        if app not in ("contenttypes", *APPS_AFTER_604081A)
    ] + [("contenttypes", "0002_remove_content_type_name")]
    old = migrate(fresh_database, release)

    # The release's rows, written with its own models (the migration state, not this code's models).
    user = old.get_model("auth", "User").objects.create(username="ops", password="!")
    team = old.get_model("teams", "Team").objects.create(name="Web", slug="web")
    cluster = old.get_model("clusters", "Cluster").objects.create(name="edge", slug="edge", team=team)
    host = old.get_model("clusters", "Host").objects.create(
        hostname="rs1", management_address="192.0.2.11", team=team, public_key="ed25519-key"
    )
    old.get_model("clusters", "ClusterHost").objects.create(cluster=cluster, host=host, role="real_server")
    service = old.get_model("clusters", "VirtualService").objects.create(
        cluster=cluster, address="198.51.100.10", port=443, protocol="tcp", scheduler="wlc"
    )
    old.get_model("clusters", "RealServer").objects.create(
        virtual_service=service, address="192.0.2.11", port=443, weight=7, host=host
    )

    new = migrate(fresh_database, MigrationExecutor(fresh_database).loader.graph.leaf_nodes())

    assert (
        MigrationExecutor(fresh_database).migration_plan(MigrationExecutor(fresh_database).loader.graph.leaf_nodes())
        == []
    )
    assert new.get_model("auth", "User").objects.get().username == user.username
    cluster = new.get_model("clusters", "Cluster").objects.get()
    assert (cluster.slug, cluster.team.slug) == ("edge", "web")
    host = new.get_model("clusters", "Host").objects.get()
    assert (host.hostname, host.public_key, host.other_addresses) == ("rs1", "ed25519-key", "")
    real_server = new.get_model("clusters", "RealServer").objects.get()
    assert (real_server.address, real_server.weight, real_server.host_id) == ("192.0.2.11", 7, host.pk)
    assert real_server.virtual_service.port == 443
    assert real_server.configured_by_hand is False
