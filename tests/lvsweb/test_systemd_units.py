"""The systemd units of deploy/systemd for installs without containers (issue 22, item 2): systemd's own
`systemd-analyze verify` reads them, and they share one environment file, run as `lvsweb`, and are hardened.

`verify` checks that each ExecStart program exists, so the test points /opt/lvsweb/bin at this virtualenv's
bin directory (the same console scripts the wheels install there). It answers 0 even for an unknown key or a
bad value, which it only prints: any output counts as a failure here.
"""

import configparser
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
UNITS = ROOT / "deploy" / "systemd"
NAMES = ("lvsweb-web.service", "lvsweb-worker.service", "lvsweb-beat.service")
HARDENING = {
    "NoNewPrivileges": "yes",
    "ProtectSystem": "strict",
    "ProtectHome": "yes",
    "PrivateTmp": "yes",
    "PrivateDevices": "yes",
    "CapabilityBoundingSet": "",
}


def read_unit(name: str) -> configparser.ConfigParser:
    unit = configparser.ConfigParser(interpolation=None, strict=False)
    unit.optionxform = str  # type: ignore[assignment,method-assign]  # systemd's keys are case-sensitive
    unit.read(UNITS / name)
    return unit


def test_systemd_analyze_verify_finds_nothing_to_say(tmp_path):
    if shutil.which("systemd-analyze") is None:
        pytest.fail("systemd-analyze is missing: apt-get install systemd (.ci/run does)", pytrace=False)
    bin_dir = str(Path(sys.executable).parent)
    for name in NAMES:
        text = (UNITS / name).read_text().replace("/opt/lvsweb/bin/", f"{bin_dir}/")
        (tmp_path / name).write_text(text)
    result = subprocess.run(
        ["systemd-analyze", "verify", *(str(tmp_path / name) for name in NAMES)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


@pytest.mark.parametrize("name", NAMES)
def test_each_unit_runs_as_lvsweb_from_the_shared_environment_file_and_is_hardened(name):
    service = read_unit(name)["Service"]
    assert service["User"] == "lvsweb"
    assert service["EnvironmentFile"] == "/etc/lvsweb/lvsweb.env"
    assert "LVSWEB_VAR_DIR=/var/lib/lvsweb" in service["Environment"]
    assert service["StateDirectory"] == "lvsweb"
    assert service["Restart"] == "on-failure"
    assert {key: service.get(key) for key in HARDENING} == HARDENING
    assert read_unit(name)["Install"]["WantedBy"] == "multi-user.target"


def test_the_three_units_start_daphne_the_control_worker_and_beat():
    commands = {name: read_unit(name)["Service"]["ExecStart"] for name in NAMES}
    assert commands["lvsweb-web.service"].startswith("/opt/lvsweb/bin/daphne -b 127.0.0.1 -p 8000 lvsweb.asgi")
    assert " worker -Q control " in commands["lvsweb-worker.service"]
    assert " beat " in commands["lvsweb-beat.service"]
    assert read_unit("lvsweb-web.service")["Service"]["ExecStartPre"].endswith("django-admin migrate --noinput")


def test_the_example_environment_file_names_what_the_console_needs():
    example = (UNITS / "lvsweb.env.example").read_text()
    for variable in (
        "SECRET_KEY",
        "DATABASE_URL",
        "REDIS_URL",
        "AGENT_BROKER_URL",
        "ALLOWED_HOSTS",
        "CSRF_TRUSTED_ORIGINS",
        "LVSWEB_TLS",
        "LVSWEB_PROXY_COUNT",
    ):
        assert f"\n{variable}=" in example, variable
