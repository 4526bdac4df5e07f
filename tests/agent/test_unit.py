"""`lvsweb-agent install-unit`: the systemd unit a host runs the agent with, as systemd itself reads it."""

import configparser
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
#: What the agent does with the kernel and the file system, and so what the unit must let it do.
CAPABILITIES = {"CAP_NET_ADMIN", "CAP_SYS_MODULE", "CAP_NET_RAW"}


def install_unit(root: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "lvsweb_agent.cli", "--root", str(root), "install-unit"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )


def read_unit(path: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # systemd keys are case-sensitive
    parser.read_string(path.read_text())
    return parser


def test_install_unit_writes_a_unit_that_runs_this_installations_agent_with_few_privileges(tmp_path):
    result = install_unit(tmp_path)
    assert result.returncode == 0, result.stderr
    path = tmp_path / "etc" / "systemd" / "system" / "lvsweb-agent.service"
    link = tmp_path / "usr" / "local" / "bin" / "lvsweb-agent"
    assert f"wrote {path} and linked {link}" in result.stdout
    assert "systemctl enable --now lvsweb-agent" in result.stdout
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    # `lvsweb-agent enroll …` as the console shows it then runs this installation's agent.
    assert link.readlink() == Path(sys.executable).parent / "lvsweb-agent"

    service = read_unit(path)["Service"]
    # The virtualenv running install-unit is the one the service runs (not a symlink's target, not the PATH's).
    assert service["ExecStart"] == f"{Path(sys.executable).parent / 'lvsweb-agent'} run"
    assert service["Restart"] == "on-failure"
    # A restart stops the agent only: keepalived (a daemon in the unit's control group) keeps the VIPs and the new
    # agent adopts it (tests/agent/test_ha_restart.py, tests/lab/test_lab_ha.py).
    assert service["KillMode"] == "process"
    assert set(service["CapabilityBoundingSet"].split()) == CAPABILITIES
    assert set(service["AmbientCapabilities"].split()) == CAPABILITIES
    assert service["NoNewPrivileges"] == "yes"
    assert service["ProtectSystem"] == "strict"
    # Where the agent writes: sysctls and modules persisted for the next boot, its state, /proc/sys itself.
    assert set(service["ReadWritePaths"].split()) == {"-/etc/sysctl.d", "-/etc/modules-load.d"}
    assert service["StateDirectory"] == "lvsweb-agent"
    assert "ProtectKernelTunables" not in service and "ProtectKernelModules" not in service
    assert "AF_NETLINK" in service["RestrictAddressFamilies"].split()
    assert read_unit(path)["Install"]["WantedBy"] == "multi-user.target"


def test_install_unit_again_replaces_the_unit(tmp_path):
    path = tmp_path / "etc" / "systemd" / "system" / "lvsweb-agent.service"
    path.parent.mkdir(parents=True)
    path.write_text("[Service]\nExecStart=/old/lvsweb-agent run\n")
    assert install_unit(tmp_path).returncode == 0
    assert "/old/" not in path.read_text()
    assert list(path.parent.iterdir()) == [path]


def test_install_unit_leaves_a_program_that_is_not_its_link_alone(tmp_path):
    other = tmp_path / "usr" / "local" / "bin" / "lvsweb-agent"
    other.parent.mkdir(parents=True)
    other.write_text("#!/bin/sh\n")
    result = install_unit(tmp_path)
    assert result.returncode == 0 and "linked" not in result.stdout
    assert other.read_text() == "#!/bin/sh\n"


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="systemd-analyze is not installed")
def test_systemd_accepts_every_line_of_the_unit(tmp_path):
    assert install_unit(tmp_path).returncode == 0
    path = tmp_path / "etc" / "systemd" / "system" / "lvsweb-agent.service"
    verified = subprocess.run(["systemd-analyze", "verify", str(path)], capture_output=True, text=True, timeout=60)
    # systemd-analyze exits 0 on an unknown key or a bad value and only says so: nothing said is the test.
    assert verified.returncode == 0 and verified.stderr == "" and verified.stdout == "", verified.stderr


def test_the_shipped_unit_names_the_documented_place():
    unit = REPO / "agents" / "lvsweb_agent" / "systemd" / "lvsweb-agent.service"
    assert read_unit(unit)["Service"]["ExecStart"] == "/opt/lvsweb-agent/bin/lvsweb-agent run"
