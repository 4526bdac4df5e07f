"""`manage.py backup` and `manage.py restore` (issue 22, item 5): a backup restored into a fresh database and a
fresh var directory gives a console whose audit history verifies and whose signed commands an agent enrolled
before the backup still accepts (a real `lvsweb-agent run` on the real Redis broker).
"""

import dataclasses
import json
import os
import stat
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import psycopg
import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import connection
from lvsweb_agent.config import write_config

from audit.models import AuditEntry
from dispatch.signing import control_private_key, control_public_key_text
from teams.actions import create_team
from tests.agent.test_worker import HOST, QUEUE, AgentProcess, director_doc
from tests.dispatch.broker import purge

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.timeout(180)


@pytest.fixture
def console_var(tmp_path, settings):
    """The backed-up console's var directory (its secret_key and control signing key) in a temporary place."""
    var = tmp_path / "var"
    var.mkdir()
    (var / "secret_key").write_text("the-original-secret-key\n")
    settings.VAR_DIR = var
    settings.CONTROL_SIGNING_KEY_FILE = str(var / "control-signing-key.pem")
    control_private_key.cache_clear()
    yield var
    control_private_key.cache_clear()


@pytest.fixture
def fresh_database():
    """An empty database next to the test database: its DATABASE_URL; dropped afterwards."""
    db = connection.settings_dict
    name = f"{db['NAME']}_restored"
    admin = {"host": db["HOST"], "port": db["PORT"], "user": db["USER"], "dbname": "postgres"}
    with psycopg.connect(**admin, autocommit=True) as server:
        server.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        server.execute(f'CREATE DATABASE "{name}"')
    yield f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{name}"
    with psycopg.connect(**admin, autocommit=True) as server:
        server.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def enrolled_agent(tmp_path, console_var):
    """A running agent that trusts the backed-up console's signing key, on the test broker."""
    purge("control", QUEUE)
    (tmp_path / "agent").mkdir()
    agent = AgentProcess(tmp_path / "agent", settings.CELERY_BROKER_URL, heartbeat_interval=30)
    agent.config = dataclasses.replace(agent.config, control_public_key=control_public_key_text())
    write_config(agent.config, agent.config_file)
    agent.start()
    yield agent
    agent.stop()
    purge("control", QUEUE)


def restored_console(database_url: str, var: Path, *argv: str, stdin: str = "") -> subprocess.CompletedProcess:
    """`manage.py ARGV` of a console on the restored database and var directory, and nothing else of ours."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("LVSWEB_AUDIT_", "LVSWEB_CONTROL_")) and key != "SECRET_KEY"
    }
    env.update(DATABASE_URL=database_url, LVSWEB_VAR_DIR=str(var))
    return subprocess.run(
        [sys.executable, "manage.py", *argv], cwd=REPO, env=env, input=stdin, capture_output=True, text=True
    )


SEAL = """
import json, sys
from dispatch.signing import seal_command
print(json.dumps(seal_command(json.load(sys.stdin))))
"""


@pytest.mark.django_db(transaction=True)
def test_a_restored_console_verifies_its_audit_and_its_agents_accept_its_commands(
    tmp_path, console_var, fresh_database, enrolled_agent
):
    owner = get_user_model().objects.create_superuser(username="root", password="x")
    create_team(acting_user=owner, name="Web", slug="web", owner=owner)
    call_command("audit_checkpoint")
    entries = AuditEntry.objects.count()
    assert entries > 0

    archive = tmp_path / "audit.backup.tar"
    call_command("backup", str(archive))
    assert stat.S_IMODE(archive.stat().st_mode) == 0o600
    with tarfile.open(archive) as tar:
        names = set(tar.getnames())
        assert all(member.mode == 0o600 for member in tar.getmembers())
    assert {
        "manifest.json",
        "database.pgdump",
        "var/secret_key",
        "var/control-signing-key.pem",
        "var/audit-hmac-keys",
        "var/audit-signing-key.pem",
        "var/audit-checkpoints.jsonl",
    } <= names

    new_var = tmp_path / "restored-var"
    restored = restored_console(fresh_database, new_var, "restore", str(archive))
    assert restored.returncode == 0, restored.stderr
    assert "Restored the postgresql database" in restored.stdout
    assert (new_var / "secret_key").read_text() == "the-original-secret-key\n"
    assert stat.S_IMODE((new_var / "control-signing-key.pem").stat().st_mode) == 0o600
    # The restore's own start made a new secret_key in the empty var directory: kept, not deleted.
    assert (new_var / "secret_key.before-restore").exists()

    verified = restored_console(fresh_database, new_var, "verify_audit")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert f"Audit chain intact: {entries} entries verified, anchored up to" in verified.stdout
    migrated = restored_console(fresh_database, new_var, "migrate", "--check")
    assert migrated.returncode == 0, migrated.stdout + migrated.stderr

    now = time.time()
    payload = {
        "kind": "plan",
        "host": HOST,
        "serial": 1,
        "cluster": "edge",
        "cluster_revision": 1,
        "deployment": 4242,
        "issued_at": now,
        "expires_at": now + 60,
        "document": director_doc(1),
    }
    sealed = restored_console(fresh_database, new_var, "shell", "-c", SEAL, stdin=json.dumps(payload))
    assert sealed.returncode == 0, sealed.stderr
    enrolled_agent.send(json.loads(sealed.stdout.splitlines()[-1]))
    plan = enrolled_agent.report(kind="plan", deployment=4242)
    assert "error" not in plan
    assert plan["operations"]


@pytest.mark.django_db(transaction=True)
def test_restore_refuses_a_database_that_is_not_empty(tmp_path, console_var):
    archive = tmp_path / "audit.backup.tar"
    call_command("backup", str(archive))
    db = connection.settings_dict
    url = f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
    refused = restored_console(url, tmp_path / "other-var", "restore", str(archive))
    assert refused.returncode == 1
    assert "The database is not empty: restore into a new, empty database" in refused.stderr


def test_a_sqlite_console_backs_up_and_restores_with_its_audit_verified(tmp_path):
    """The zero-configuration console (SQLite under var/): the same commands, SQLite's online backup."""
    old_var, new_var = tmp_path / "var", tmp_path / "restored-var"

    def console(var: Path, *argv: str) -> subprocess.CompletedProcess:
        done = restored_console(f"sqlite:///{var / 'lvsweb.sqlite3'}", var, *argv)
        assert done.returncode == 0, done.stdout + done.stderr
        return done

    console(old_var, "migrate", "--no-input")
    console(old_var, "ensure_admin")  # audited: the first team
    console(old_var, "audit_checkpoint")
    console(old_var, "backup", str(tmp_path / "backup.tar"))
    with tarfile.open(tmp_path / "backup.tar") as tar:
        assert "database.sqlite3" in tar.getnames()

    assert "Restored the sqlite database" in console(new_var, "restore", str(tmp_path / "backup.tar")).stdout
    assert "Audit chain intact: 2 entries verified, anchored up to #2" in console(new_var, "verify_audit").stdout
    assert (new_var / "audit-hmac-keys").read_bytes() == (old_var / "audit-hmac-keys").read_bytes()
