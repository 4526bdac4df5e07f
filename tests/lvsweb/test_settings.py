"""Settings read from the environment: a production configuration passes Django's deploy checks, and a
missing SECRET_KEY is generated once into LVSWEB_VAR_DIR, readable by its owner only."""

import os
import secrets
import stat
import subprocess
import sys
from pathlib import Path

MANAGE = Path(__file__).resolve().parents[2] / "manage.py"


def manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    full_env = {key: value for key, value in os.environ.items() if key not in ("SECRET_KEY", "DEBUG", "LVSWEB_TLS")}
    full_env.update(env)
    return subprocess.run(
        [sys.executable, str(MANAGE), *args], env=full_env, capture_output=True, text=True, timeout=120
    )


def test_a_production_configuration_passes_check_deploy(tmp_path):
    result = manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        DEBUG="0",
        SECRET_KEY=secrets.token_urlsafe(60)[:60],
        ALLOWED_HOSTS="lvs.example.com",
        LVSWEB_TLS="1",
        LVSWEB_VAR_DIR=str(tmp_path),
        DATABASE_URL=os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/lvsweb"),
    )
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout


def test_without_tls_the_deploy_check_warns_about_cookies(tmp_path):
    result = manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        DEBUG="0",
        SECRET_KEY=secrets.token_urlsafe(60)[:60],
        ALLOWED_HOSTS="lvs.example.com",
        LVSWEB_VAR_DIR=str(tmp_path),
    )
    assert result.returncode == 1
    assert "security.W012" in result.stderr  # SESSION_COOKIE_SECURE


def print_secret_key(var_dir: Path) -> str:
    result = manage(
        "shell",
        "--verbosity=0",
        "-c",
        "from django.conf import settings; print(settings.SECRET_KEY)",
        LVSWEB_VAR_DIR=str(var_dir),
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_a_missing_secret_key_is_generated_once_with_mode_0600(tmp_path):
    var_dir = tmp_path / "var"
    key = print_secret_key(var_dir)
    key_file = var_dir / "secret_key"
    assert len(key) >= 50
    assert key_file.read_text().strip() == key
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert print_secret_key(var_dir) == key
