"""Every environment variable the code reads is documented where an operator looks (issue 14, item 7).

The console's variables belong in README.md's configuration table; the agent's own (agents/lvsweb_agent/, run on the
hosts) in README.md or docs/agent-spec.md / docs/traffic.md. A new os.environ.get("X") without a row fails here.
"""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# The lab VM's scripts are the developers' test bench, not the console's configuration: they describe their
# variables in their own header comments (test below).
LAB = ROOT / "scripts" / "lab"
LAB_INTERNAL = {"LVSWEB_IN_LAB_VM", "TMPDIR"}  # set by guest-init itself / the system's temporary directory
CONSOLE_DIRS = ["lvsweb", "dispatch", "audit", "clusters", "traffic", "accounts", "teams", "scripts"]
READS = re.compile(
    r"""(?:os\.environ\.get|os\.getenv|env_flag|env_list)\(\s*["']([A-Z][A-Z0-9_]+)["']"""
    r"""|os\.environ\[\s*["']([A-Z][A-Z0-9_]+)["']\s*\]"""
    r"""|^[A-Z_]*ENV\s*=\s*["']([A-Z][A-Z0-9_]+)["']"""  # CONFIG_ENV = "LVSWEB_AGENT_CONFIG", read via the name
    r"""|\$\{([A-Z][A-Z0-9_]+):-""",  # shell scripts: ${NAME:-default}
    re.MULTILINE,
)


def read_variables(paths) -> set[str]:
    names = set()
    for path in paths:
        for match in READS.finditer(path.read_text(errors="replace")):
            names.add(next(group for group in match.groups() if group))
    return names


def source_files(directory: Path):
    for path in directory.rglob("*"):
        if path.is_file() and (path.suffix == ".py" or (directory.name == "scripts" and path.suffix == "")):
            yield path


def documented_in_table(text: str) -> set[str]:
    """Backticked names in the rows of README's configuration table (first column or meaning)."""
    table = text.split("## Configuration", 1)[1].split("\n\n| variable", 1)[-1]
    rows = [line for line in table.splitlines() if line.startswith("| `")]
    return {name for row in rows for name in re.findall(r"`([A-Z][A-Z0-9_]+)[`=]", row)}


def test_the_reader_finds_the_known_forms():
    assert len(read_variables([ROOT / "lvsweb" / "settings.py"])) > 40
    assert {"LVSWEB_AGENT_CONFIG", "LVSWEB_NETLINK_TIMEOUT"} <= read_variables(
        (ROOT / "agents" / "lvsweb_agent").glob("*.py")
    )
    assert {"VENV", "LVSWEB_BIND"} <= read_variables([ROOT / "scripts" / "run"])


def test_every_console_variable_has_a_row_in_the_readme_table():
    readme = documented_in_table((ROOT / "README.md").read_text())
    host = ROOT / "agents" / "lvsweb_agent"
    console = set()
    for directory in CONSOLE_DIRS:
        console |= read_variables(p for p in source_files(ROOT / directory) if not {host, LAB} & set(p.parents))
    console.discard("DJANGO_SETTINGS_MODULE")  # set by the code itself, never by the operator
    missing = sorted(console - readme)
    assert not missing, f"add a row to README.md's configuration table for: {', '.join(missing)}"


def test_every_agent_variable_is_documented():
    docs = (ROOT / "README.md").read_text() + "".join(
        (ROOT / "docs" / name).read_text() for name in ("agent-spec.md", "traffic.md")
    )
    agent = read_variables((ROOT / "agents" / "lvsweb_agent").rglob("*.py"))
    missing = sorted(name for name in agent if f"`{name}`" not in docs and f"${name}" not in docs)
    assert not missing, f"document in docs/agent-spec.md: {', '.join(missing)}"


def test_every_lab_variable_is_described_in_the_lab_scripts():
    comments = "\n".join(
        line
        for path in LAB.iterdir()
        if path.is_file()
        for line in path.read_text().splitlines()
        if line.lstrip().startswith("#")
    )
    lab = read_variables(path for path in LAB.iterdir() if path.is_file()) - LAB_INTERNAL
    missing = sorted(name for name in lab if name not in comments)
    assert not missing, f"describe in the header of the scripts/lab script that reads it: {', '.join(missing)}"
