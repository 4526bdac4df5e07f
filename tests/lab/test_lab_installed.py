"""The agent the lab starts as a process is the installed package, not this checkout (issue 15, item 4).

scripts/lab/run-tests builds LVSWEB_AGENT_VENV from the agent's wheel and its locked dependencies
(scripts/lab/agent-venv, the enrollment page's pip line); `agent_cli.process` and the full-stack guest run
its `lvsweb-agent`. Here: that program is the one run, it works against a real kernel, and nothing of the
console — Django, the checkout's sources — is importable from it.
"""

import os
import subprocess
from pathlib import Path

import pytest
from conftest import agent_program

pytestmark = pytest.mark.lab
REPO = Path(__file__).resolve().parents[2]


def test_agent_processes_run_the_installed_package_where_django_is_not_importable(network, agent_cli):
    venv = os.environ.get("LVSWEB_AGENT_VENV")
    assert venv, "LVSWEB_AGENT_VENV is not set: run the lab through scripts/lab/run-tests"
    program = Path(venv) / "bin" / "lvsweb-agent"
    assert agent_program() == [str(program)]
    # The console script's interpreter is the virtualenv's own (pip wrote the shebang at install time).
    assert program.read_text().splitlines()[0].startswith(f"#!{venv}/bin/python"), program.read_text()[:200]

    shown = agent_cli.process("director", "--version")
    assert shown.returncode == 0 and shown.stdout.startswith("lvsweb-agent "), shown.output
    shown = agent_cli.process("director", "show", "--json")
    assert shown.returncode == 0, shown.output

    probe = (
        "import sys, lvsweb_agent\n"
        "print(lvsweb_agent.__file__)\n"
        "print(sys.prefix)\n"
        "try:\n    import django\nexcept ModuleNotFoundError:\n    print('no django')\n"
        "try:\n    import dispatch\nexcept ModuleNotFoundError:\n    print('no console')\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    done = subprocess.run(
        [f"{venv}/bin/python", "-c", probe], capture_output=True, text=True, timeout=300, cwd="/", env=env
    )
    module, prefix, *rest = done.stdout.splitlines()
    assert module.startswith(f"{venv}/lib/") and not module.startswith(str(REPO / "agents")), module
    assert prefix == venv
    assert rest == ["no django", "no console"], done.stdout + done.stderr
