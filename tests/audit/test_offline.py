"""An external auditor verifies an export with no database: in a clean virtualenv holding only cryptography."""

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
from django.conf import settings

from audit import anchors, keys
from clusters import actions

pytestmark = pytest.mark.django_db
REPO = Path(__file__).resolve().parents[2]
#: What `pip install cryptography` brings into a virtualenv, and nothing else.
CRYPTOGRAPHY = ("cryptography", "cffi", "pycparser", "_cffi_backend")


@pytest.fixture(scope="module")
def clean_python(tmp_path_factory):
    """A virtualenv without Django, the console's code or settings: cryptography only, and audit/verify.py."""
    root = tmp_path_factory.mktemp("auditor")
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    site = Path(sysconfig.get_paths()["purelib"])
    (clean_site,) = venv.glob("lib/python*/site-packages")
    for item in site.iterdir():
        if item.name.split(".")[0].split("-")[0] in CRYPTOGRAPHY:
            (clean_site / item.name).symlink_to(item)
    work = root / "auditor"
    (work / "audit").mkdir(parents=True)
    for name in ("__init__.py", "verify.py"):
        shutil.copy(REPO / "audit" / name, work / "audit" / name)
    return venv / "bin" / "python", work


def run_clean(clean_python, *args):
    python, work = clean_python
    env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}  # no DJANGO_SETTINGS_MODULE, no DATABASE_URL
    return subprocess.run(
        [str(python), "-m", "audit.verify", *args], cwd=work, env=env, capture_output=True, text=True, timeout=60
    )


@pytest.fixture
def exported(client, operator, tmp_path):
    """A history with a team and a cluster, anchored but for its last entry; the export, checkpoints and key."""
    cluster = actions.create_cluster(
        acting_user=operator, fields={"team": operator_team(), "name": "edge", "slug": "edge"}
    )
    actions.update_cluster(acting_user=operator, cluster=cluster, changes={"description": "first"})
    anchors.write_checkpoint()
    actions.update_cluster(acting_user=operator, cluster=cluster, changes={"description": "second"})
    client.force_login(operator)
    response = client.get("/audit/", {"export": "json"})
    assert response.status_code == 200
    export = tmp_path / "audit.json"
    export.write_bytes(response.content)
    public_key = tmp_path / "audit-signing.pub"
    public_key.write_text(keys.signing_public_key() + "\n")
    checkpoints = tmp_path / "checkpoints.jsonl"
    shutil.copy(settings.AUDIT_CHECKPOINT_FILE, checkpoints)
    return export, checkpoints, public_key


def operator_team():
    from tests.factories import default_team

    return default_team()


def test_an_export_verifies_offline_with_the_checkpoints_and_public_key(clean_python, exported):
    export, checkpoints, public_key = exported
    rows = json.loads(export.read_text())
    assert {row["cluster_id"] for row in rows} - {None} and all(len(row["mac"]) == 64 for row in rows)
    result = run_clean(
        clean_python, "--export", str(export), "--checkpoints", str(checkpoints), "--public-key", str(public_key)
    )
    assert result.returncode == 0, result.stdout + result.stderr
    # The checkpoint was written after the second entry; the third and the sign-in's entry came after it.
    anchored, tail = rows[1]["id"], (rows[2]["id"], rows[-1]["id"])
    assert result.stdout.startswith(f"Audit chain intact: {len(rows)} entries verified, anchored up to #{anchored} (")
    assert f"not yet anchored: #{tail[0]}–#{tail[1]}" in result.stdout
    assert f"macs of {len(rows)} entries not checked: no HMAC key ring given" in result.stdout


def test_an_edited_export_fails_offline_naming_the_entry(clean_python, exported):
    export, checkpoints, public_key = exported
    rows = json.loads(export.read_text())
    rows[1]["changes"] = {"description": ["", "something else"]}
    export.write_text(json.dumps(rows))
    result = run_clean(
        clean_python, "--export", str(export), "--checkpoints", str(checkpoints), "--public-key", str(public_key)
    )
    assert result.returncode == 1
    assert f"PROBLEM: entry #{rows[1]['id']}: its content does not match its hash" in result.stdout


def test_an_export_rewritten_with_recomputed_hashes_fails_on_the_checkpoint(clean_python, exported):
    """The auditor has no HMAC key: the signed checkpoint is what catches a consistent rewrite."""
    export, checkpoints, public_key = exported
    python, work = clean_python
    script = (
        "import json, sys; from audit import verify\n"
        "rows = json.load(open(sys.argv[1]))\n"
        "rows[0]['message'] = 'nothing happened'\n"
        "prev = rows[0]['prev_hash']\n"
        "for row in rows:\n"
        "    row['prev_hash'] = prev; row['hash'] = prev = verify.entry_hash(row)\n"
        "json.dump(rows, open(sys.argv[1], 'w'))\n"
    )
    subprocess.run([str(python), "-c", script, str(export)], cwd=work, env={"PATH": "/usr/bin:/bin"}, check=True)
    result = run_clean(
        clean_python, "--export", str(export), "--checkpoints", str(checkpoints), "--public-key", str(public_key)
    )
    assert result.returncode == 1
    assert "is not the entry the checkpoint of" in result.stdout
    assert "the history was rewritten" in result.stdout


def test_checkpoints_need_a_trusted_key(clean_python, exported, tmp_path):
    export, checkpoints, _public_key = exported
    stranger = tmp_path / "stranger.pub"
    stranger.write_text("A" * 43 + "=\n")
    result = run_clean(
        clean_python, "--export", str(export), "--checkpoints", str(checkpoints), "--public-key", str(stranger)
    )
    assert result.returncode == 1
    assert "signed by a key that is not trusted" in result.stdout


def test_bad_input_is_named_not_a_traceback(clean_python, tmp_path):
    export = tmp_path / "not-an-export.json"
    export.write_text('{"entries": 1}')
    result = run_clean(clean_python, "--export", str(export))
    assert result.returncode == 2
    assert result.stderr == f"error: {export}: a JSON export is a list of entries\n"


def test_manage_py_verifies_an_export_without_reaching_the_database(exported, tmp_path):
    export, checkpoints, public_key = exported
    env = dict(os.environ, DATABASE_URL="postgres://nobody@127.0.0.1:1/none", LVSWEB_VAR_DIR=str(tmp_path))
    command = [sys.executable, "manage.py", "verify_audit", "--export", str(export)]
    command += ["--checkpoints", str(checkpoints), "--public-key", str(public_key)]
    result = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Audit chain intact" in result.stdout


def test_verify_audit_help_says_what_is_verified_and_how():
    result = subprocess.run(
        [sys.executable, "manage.py", "verify_audit", "--help"], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0
    text = " ".join(result.stdout.split())
    for promise in (
        "its previous-hash is the hash of the entry before it",
        "SHA-256 over its fields gives its hash",
        "HMAC-SHA256 of that hash with the key named by its key id",
        "signed by a trusted Ed25519 key",
        '"not yet anchored"',
        "python -m audit.verify --export FILE --checkpoints FILE --public-key FILE",
    ):
        assert promise in text
