"""docker-compose.yml as `docker-compose config` reads it with .env.example: what survives a recreated container
(named volumes), the one-shot services, health checks and restart policies (issue 22, item 1).

No docker daemon is needed: `config` only reads and checks the file. .ci/run installs docker-compose, so a
machine without it fails here instead of skipping.
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
LONG_RUNNING = ("postgres", "redis", "web", "worker", "beat")
CONSOLE = ("migrate", "admin", "web", "worker", "beat")


@pytest.fixture(scope="module")
def compose() -> dict:
    if shutil.which("docker-compose") is None:
        pytest.fail("docker-compose is not installed: apt-get install docker-compose (.ci/run does)", pytrace=False)
    command = ["docker-compose", "-f", "docker-compose.yml", "--env-file", ".env.example", "config"]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"{' '.join(command)} failed:\n{result.stderr}"
    return yaml.safe_load(result.stdout)


def test_the_database_and_the_var_directory_live_in_named_volumes(compose):
    assert {"pgdata", "lvsweb-var"} <= set(compose["volumes"])
    assert "pgdata:/var/lib/postgresql/data" in compose["services"]["postgres"]["volumes"][0]
    for name in CONSOLE:  # the signing key and SECRET_KEY file are the same for every console process
        assert any(volume.startswith("lvsweb-var:/var/lib/lvsweb") for volume in compose["services"][name]["volumes"])


def test_every_long_running_service_has_a_health_check_and_restarts(compose):
    for name in LONG_RUNNING:
        service = compose["services"][name]
        assert service["restart"] == "unless-stopped", name
        assert service["healthcheck"]["test"][0] in ("CMD", "CMD-SHELL"), name
        assert service["healthcheck"]["interval"], name


def test_the_first_administrator_is_made_once_after_the_migrations(compose):
    admin = compose["services"]["admin"]
    assert admin["restart"] == "no"
    assert "ensure_admin" in " ".join(admin["command"])
    assert admin["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    migrate = compose["services"]["migrate"]
    assert migrate["restart"] == "no"
    assert migrate["command"] == ["django-admin", "migrate", "--noinput"]
    for name in ("web", "worker", "beat"):  # nothing serves before the schema is there, and no one migrates twice
        assert compose["services"][name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
        assert "migrate" not in " ".join(compose["services"][name]["command"])


def test_agents_get_the_broker_url_from_env_and_redis_asks_for_a_password(compose):
    environment = compose["services"]["web"]["environment"]
    assert environment["AGENT_BROKER_URL"] == "redis://lvs-console.example.net:6379/0"
    assert environment["ALLOWED_HOSTS"] == "lvs-console.example.net"
    assert environment["CSRF_TRUSTED_ORIGINS"] == "https://lvs-console.example.net"
    assert (environment["LVSWEB_TLS"], environment["LVSWEB_PROXY_COUNT"]) == ("1", "1")
    redis = compose["services"]["redis"]
    assert "--requirepass" in redis["command"]
    assert redis["ports"], "agents reach Redis on a published port"
    assert "REDIS_PASSWORD" not in (ROOT / ".env.example").read_text().split("AGENT_BROKER_URL=", 1)[1].split("\n")[0]


def test_config_refuses_a_missing_secret_key(tmp_path):
    """A .env without SECRET_KEY stops `docker-compose` with the variable's name instead of starting a console
    whose key would change with every container."""
    env = tmp_path / ".env"
    lines = (ROOT / ".env.example").read_text().splitlines()
    env.write_text("\n".join(line for line in lines if not line.startswith("SECRET_KEY=")) + "\n")
    command = ["docker-compose", "-f", "docker-compose.yml", "--env-file", str(env), "config"]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert "set SECRET_KEY in .env" in result.stderr


def test_the_tls_override_gives_redis_a_tls_port_for_the_agents():
    command = ["docker-compose", "-f", "docker-compose.yml", "-f", "deploy/compose/redis-tls.yml"]
    command += ["--env-file", ".env.example", "config"]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    redis = yaml.safe_load(result.stdout)["services"]["redis"]
    arguments = redis["command"]
    assert arguments[arguments.index("--tls-port") + 1] == "6380"
    assert "--requirepass" in arguments  # the console's password still guards the default user
    assert {"published": 6380, "target": 6380} in redis["ports"]


def test_the_web_health_check_passes_while_daphne_serves_and_fails_when_it_stops(compose, tmp_path):
    """The web service's health check run against a real daphne set up as compose sets it up (LVSWEB_TLS=1, an
    ALLOWED_HOSTS without 127.0.0.1: the check is answered with a redirect or 400, both mean "serving"). Only
    the port is changed, to a free one."""
    test = compose["services"]["web"]["healthcheck"]["test"]
    assert test[0] == "CMD" and "('127.0.0.1', 8000" in test[-1]
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    check = [sys.executable, *test[2:-1], test[-1].replace("('127.0.0.1', 8000", f"('127.0.0.1', {port}")]
    environment = compose["services"]["web"]["environment"]
    env = dict(os.environ, LVSWEB_TLS="1", ALLOWED_HOSTS=environment["ALLOWED_HOSTS"], DEBUG="0")
    daphne = [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "lvsweb.asgi:application"]
    log = tmp_path / "daphne.log"
    with open(log, "wb") as out:
        server = subprocess.Popen(daphne, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while subprocess.run(check, env=env, capture_output=True, timeout=30).returncode != 0:
            assert server.poll() is None and time.monotonic() < deadline, log.read_text(errors="replace")
            time.sleep(0.5)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
    assert subprocess.run(check, env=env, capture_output=True, timeout=30).returncode != 0


def test_the_image_runs_as_lvsweb_from_the_locked_dependencies_and_keeps_its_var_directory_in_the_volume(compose):
    """What docker-compose.yml relies on in the Dockerfile (no daemon here to build it: the wheel test installs
    the same wheels the same way)."""
    final_stage = (ROOT / "Dockerfile").read_text().rsplit("\nFROM ", 1)[1]
    instructions = [line.split(None, 1) for line in final_stage.splitlines() if line and line[0].isupper()]
    users = [argument for keyword, argument in instructions if keyword == "USER"]
    assert users == ["lvsweb"]
    assert "pip install --no-cache-dir --require-hashes -r /tmp/requirements.lock" in final_stage
    assert "pip install --no-cache-dir --no-deps /tmp/wheels/lvsweb-" in final_stage
    assert "LVSWEB_VAR_DIR=/var/lib/lvsweb" in final_stage
    assert "chown lvsweb /var/lib/lvsweb" in final_stage  # a new named volume takes this owner
    assert "lvsweb-var:/var/lib/lvsweb:rw" in compose["services"]["web"]["volumes"]
