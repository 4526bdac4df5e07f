"""The console's layers (.importlinter, run by `make lint`): kept on the real tree, broken by a back-import.

The broken case runs on a copy of the tree, so the checkout is never touched: the copy's clusters app imports
dispatch (a layer above it), and lint-imports must fail naming the layers contract and that import. The agent
contract gets the same treatment: the copied agent imports a console app.
"""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ["lvsweb", "accounts", "teams", "clusters", "dispatch", "audit", "traffic", "alerts"]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(root: Path) -> subprocess.CompletedProcess:
    """lint-imports with `root` (and its agents/ folder) first on the path, so that the copy is what it reads."""
    env = {"PYTHONPATH": f"{root}:{root / 'agents'}", "PATH": "/usr/bin:/bin", "NO_COLOR": "1"}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", str(root / ".importlinter")],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def tree_copy(tmp_path: Path) -> Path:
    """The console's packages, the agent package and the contracts, copied (sources only)."""
    ignore = shutil.ignore_patterns("__pycache__", "static", "templates", "*.pyc")
    for package in PACKAGES:
        shutil.copytree(ROOT / package, tmp_path / package, ignore=ignore)
    shutil.copytree(ROOT / "agents" / "lvsweb_agent", tmp_path / "agents" / "lvsweb_agent", ignore=ignore)
    shutil.copy(ROOT / ".importlinter", tmp_path / ".importlinter")
    return tmp_path


def test_the_real_tree_keeps_every_contract():
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: 2 kept, 0 broken." in result.stdout


def test_the_copy_keeps_every_contract(tree_copy: Path):
    """The copy alone (no back-import yet) passes: what fails below is the added import, not the copying."""
    result = lint_imports(tree_copy)
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_back_import_from_clusters_to_dispatch_breaks_the_layers(tree_copy: Path):
    module = tree_copy / "clusters" / "choices.py"
    module.write_text(module.read_text() + "\nimport dispatch  # noqa\n")

    result = lint_imports(tree_copy)

    assert result.returncode != 0
    assert "Console layers: each app imports only the apps below it BROKEN" in result.stdout
    assert "clusters is not allowed to import dispatch" in result.stdout
    assert "clusters.choices -> dispatch" in result.stdout


def test_the_agent_importing_the_console_breaks_its_contract(tree_copy: Path):
    module = tree_copy / "agents" / "lvsweb_agent" / "names.py"
    module.write_text(module.read_text() + "\nimport clusters  # noqa\n")

    result = lint_imports(tree_copy)

    assert result.returncode != 0
    assert "The agent (lvsweb_agent) imports no console package BROKEN" in result.stdout
    assert "lvsweb_agent.names -> clusters" in result.stdout
