"""`lvsweb-agent install-unit`: the systemd unit shipped with the package, pointed at this installation.

It also links /usr/local/bin/lvsweb-agent to this installation, so that the rest is typed without a path.

The unit (systemd/lvsweb-agent.service, package data) runs `lvsweb-agent run` with restart on failure and only
the capabilities the agent uses; see its comments. Its ExecStart names /opt/lvsweb-agent, the documented
place; installing it from a virtualenv elsewhere rewrites that line to the virtualenv's own `lvsweb-agent`,
so that the service runs the agent that wrote it (not whatever is first on root's PATH).
"""

from __future__ import annotations

import os
import sys
from importlib import resources
from pathlib import Path

UNIT_NAME = "lvsweb-agent.service"
UNIT_DIR = "etc/systemd/system"
#: The program the shipped unit names, replaced by this installation's.
DOCUMENTED_PROGRAM = "/opt/lvsweb-agent/bin/lvsweb-agent"
#: On root's PATH, for `lvsweb-agent enroll` and the rest by hand.
LINK = "usr/local/bin/lvsweb-agent"


def shipped_unit() -> str:
    """The unit file as the package ships it."""
    return resources.files("lvsweb_agent").joinpath("systemd", UNIT_NAME).read_text(encoding="utf-8")


def this_program() -> str:
    """The `lvsweb-agent` script of the environment running this code, or `python -m lvsweb_agent.cli`.

    Next to the interpreter, not resolved: a virtualenv's python is a symlink to the system's, and the
    virtualenv is what matters.
    """
    script = Path(sys.executable).parent / "lvsweb-agent"
    if script.is_file() and os.access(script, os.X_OK):
        return str(script)
    return f"{sys.executable} -m lvsweb_agent.cli"


def render_unit(program: str | None = None) -> str:
    """The shipped unit with ExecStart running `program` (default: this installation's)."""
    text = shipped_unit()
    line = f"ExecStart={DOCUMENTED_PROGRAM} run"
    assert line in text, "the shipped unit lost its ExecStart line"
    return text.replace(line, f"ExecStart={program or this_program()} run")


def link_program(root: str = "/", program: str | None = None) -> Path | None:
    """<root>/usr/local/bin/lvsweb-agent -> this installation's script, so that `lvsweb-agent enroll` works.

    An existing symlink is replaced; a file that is not a symlink is someone else's and stays (None).
    """
    target = program or this_program()
    link = Path(root) / LINK
    if " " in target or (link.exists() and not link.is_symlink()):
        return None
    link.parent.mkdir(parents=True, exist_ok=True)
    temporary = link.with_name(".lvsweb-agent.tmp")
    temporary.unlink(missing_ok=True)
    temporary.symlink_to(target)
    temporary.replace(link)
    return link


def install_unit(root: str = "/", program: str | None = None) -> Path:
    """Write the unit to <root>/etc/systemd/system/lvsweb-agent.service (mode 0644); returns its path."""
    path = Path(root) / UNIT_DIR / UNIT_NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{UNIT_NAME}.tmp")
    temporary.write_text(render_unit(program), encoding="utf-8")
    temporary.chmod(0o644)
    temporary.replace(path)
    return path
