"""The two wheels: the agent's alone on a bare host, and the console's (with the agent's) outside the checkout.

Both are built from a copy of the source tree (as a fresh clone would build them). The agent's wheel goes into
an empty virtualenv with its own lock (agents/requirements.lock): exactly its 26 locked packages arrive, no
Django, and `lvsweb-agent --version` answers. The console's goes with its lock and the agent's wheel into
another, run from a directory that is not the checkout: Django's checks pass, every template in the wheel
compiles (so every `{% load %}` library is there), the static files and npm's front-end libraries are found,
every app's migrations are in it (nothing left for makemigrations) and the agent's schema loads. This is
what `docker build` relies on (Dockerfile).

The locked dependencies come from a wheelhouse (LVSWEB_WHEELHOUSE, default var/wheelhouse): offline when it
already holds them, filled once from the package index otherwise. About a minute, most of it pip installing.
"""

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
APPS = ["lvsweb", "accounts", "teams", "clusters", "dispatch", "audit", "traffic", "alerts"]
#: What `pip install lvsweb-agent` brings to a host (agents/requirements.lock): the agent and these, no more.
AGENT_DEPENDENCIES = {
    "amqp", "attrs", "billiard", "celery", "cffi", "click", "click-didyoumean", "click-plugins", "click-repl",
    "cryptography", "jsonschema", "jsonschema-specifications", "kombu", "packaging", "prompt-toolkit", "pycparser",
    "pyroute2", "python-dateutil", "redis", "referencing", "rpds-py", "six", "typing-extensions", "tzlocal", "vine",
    "wcwidth",
}  # fmt: skip
# Not the console: node_modules comes from npm at install time, the rest never ships.
NOT_SOURCE = shutil.ignore_patterns(
    ".git", ".venv", "node_modules", "var", "build", "artifacts", "tests", "*.egg-info", "__pycache__", ".*_cache"
)


# Nothing of this checkout's environment may leak into the virtualenv (a PYTHONPATH naming the checkout would
# make pip take the console as installed already, and Django import it from here).
CLEAN_ENV = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "PYTHON"))}


def run(*args: str | Path, env: dict[str, str] = CLEAN_ENV, **kwargs) -> subprocess.CompletedProcess:
    """Run a command, failing the test with its output when it fails."""
    result = subprocess.run([str(a) for a in args], capture_output=True, text=True, env=env, **kwargs)
    assert result.returncode == 0, f"{' '.join(map(str, args))} failed:\n{result.stdout}\n{result.stderr}"
    return result


def install_locked_dependencies(python: Path, lock: Path = ROOT / "requirements.lock") -> None:
    """A lock into the virtualenv, from the wheelhouse; the wheelhouse is filled first if need be."""
    wheelhouse = Path(os.environ.get("LVSWEB_WHEELHOUSE", ROOT / "var" / "wheelhouse"))
    wheelhouse.mkdir(parents=True, exist_ok=True)
    offline = [python, "-m", "pip", "install", "-q", "--no-index", "--find-links", wheelhouse]
    offline += ["--require-hashes", "-r", lock]
    first = subprocess.run([str(a) for a in offline], capture_output=True, text=True, env=CLEAN_ENV)
    if first.returncode != 0:
        run(sys.executable, "-m", "pip", "download", "-q", "-d", wheelhouse, "--require-hashes", "-r", lock)
        run(*offline)


def build_wheels(tmp_path: Path) -> tuple[Path, Path]:
    """(the console's wheel, the agent's wheel), built from a copy of the source tree."""
    source = tmp_path / "source"
    shutil.copytree(ROOT, source, ignore=NOT_SOURCE, symlinks=True)
    dist = tmp_path / "dist"
    run(sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", dist, source)
    run(sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", dist, source / "agents")
    (console,) = dist.glob("lvsweb-*.whl")
    (agent,) = dist.glob("lvsweb_agent-*.whl")
    return console, agent


@pytest.fixture(scope="module")
def wheels(tmp_path_factory) -> tuple[Path, Path]:
    return build_wheels(tmp_path_factory.mktemp("wheels"))


@pytest.mark.timeout(900)
def test_the_agent_wheel_brings_only_the_agent_and_its_locked_dependencies(tmp_path, wheels):
    _, agent = wheels
    names = zipfile.ZipFile(agent).namelist()
    assert "lvsweb_agent/cli.py" in names and "lvsweb_agent/schema/host-state.schema.json" in names
    strays = [name for name in names if not name.startswith(("lvsweb_agent/", "lvsweb_agent-"))]
    assert not strays, f"the agent's wheel carries more than the agent: {strays}"
    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", venv)
    python = venv / "bin" / "python"
    install_locked_dependencies(python, ROOT / "agents" / "requirements.lock")
    run(python, "-m", "pip", "install", "-q", "--no-index", "--no-deps", agent)
    listed = run(python, "-m", "pip", "list", "--format=freeze", "--exclude", "pip", "--exclude", "setuptools")
    installed = {line.split("==")[0].lower().replace("_", "-") for line in listed.stdout.split()}
    assert installed == AGENT_DEPENDENCIES | {"lvsweb-agent"}, installed ^ (AGENT_DEPENDENCIES | {"lvsweb-agent"})
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    version = run(venv / "bin" / "lvsweb-agent", "--version", cwd=outside)
    assert version.stdout.startswith("lvsweb-agent 0.1.0 (document format ")
    no_django = subprocess.run([python, "-c", "import django"], capture_output=True, text=True, cwd=outside)
    assert no_django.returncode == 1 and "No module named 'django'" in no_django.stderr


@pytest.mark.timeout(900)
def test_the_wheel_installed_in_an_empty_virtualenv_runs_the_console_outside_the_checkout(tmp_path, wheels):
    wheel, agent = wheels
    names = zipfile.ZipFile(wheel).namelist()
    for app in APPS:
        assert f"{app}/__init__.py" in names, f"the wheel lacks the {app} app"
    for folder in ("lvsweb/templates", "lvsweb/static"):
        in_checkout = {p.relative_to(ROOT).as_posix() for p in (ROOT / folder).rglob("*") if p.is_file()}
        missing = in_checkout - set(names)
        assert not missing, f"the wheel lacks {sorted(missing)}"
    top = {name.split("/")[0] for name in names}
    assert not top & {"node_modules", "tests", "templates", "static", "agents", "lvsweb_agent"}, top

    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", venv)
    python = venv / "bin" / "python"
    install_locked_dependencies(python)
    run(python, "-m", "pip", "install", "-q", "--no-index", "--no-deps", wheel, agent)

    outside = tmp_path / "elsewhere"
    outside.mkdir()
    env = CLEAN_ENV | {
        "DJANGO_SETTINGS_MODULE": "lvsweb.settings",
        "LVSWEB_VAR_DIR": str(tmp_path / "var"),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'var' / 'lvsweb.sqlite3'}",
        # The front-end libraries come from npm, as the Dockerfile installs them: here the checkout's.
        "LVSWEB_NODE_MODULES": str((ROOT / "node_modules").resolve()),
    }
    admin = [venv / "bin" / "django-admin"]

    checked = run(*admin, "check", cwd=outside, env=env)
    assert "System check identified no issues" in checked.stdout

    found = run(*admin, "findstatic", "--first", "css/lvsweb.css", "js/console.js", "vendor/htmx/htmx.min.js",
                "vendor/uplot/uPlot.iife.min.js", cwd=outside, env=env)  # fmt: skip
    lines = [line.strip() for line in found.stdout.splitlines() if line.strip().startswith("/")]
    assert len(lines) == 4, found.stdout
    assert all(line.startswith(str(venv)) for line in lines[:2]), found.stdout

    # As the Dockerfile gathers them for whitenoise (no manage.py outside the checkout: django-admin).
    run(*admin, "collectstatic", "--noinput", "-v0", cwd=outside, env=env | {"STATIC_ROOT": str(tmp_path / "static")})
    for name in ("css/lvsweb.css", "js/console.js", "vendor/htmx/htmx.min.js", "vendor/uplot/uPlot.iife.min.js"):
        assert (tmp_path / "static" / name).is_file(), f"collectstatic left out {name}"

    migrations = run(*admin, "makemigrations", "--check", "--dry-run", cwd=outside, env=env)
    assert "No changes detected" in migrations.stdout

    probe = f"""
import django, sys
from pathlib import Path
django.setup()
from django.template import engines
from django.template.loader import get_template
venv = {str(venv)!r}
for app in {APPS!r}:
    module = __import__(app)
    assert module.__file__.startswith(venv), (app, module.__file__)
folder = Path(django.conf.settings.TEMPLATES[0]["DIRS"][0])
assert str(folder).startswith(venv), folder
names = [p.relative_to(folder).as_posix() for p in folder.rglob("*.html")]
for name in names:
    get_template(name)
print("compiled", len(names))
print("origin", get_template("base.html").origin.name)
from lvsweb_agent import document
print("schema", document.schema()["title"])
"""
    probed = run(python, "-c", probe, cwd=outside, env=env)
    in_checkout = len(list((ROOT / "lvsweb" / "templates").rglob("*.html")))
    assert f"compiled {in_checkout}\n" in probed.stdout
    assert f"origin {venv}" in probed.stdout
    assert "schema " in probed.stdout

    version = run(venv / "bin" / "lvsweb-agent", "--version", cwd=outside, env=env)
    assert version.stdout.startswith("lvsweb-agent 0.1.0 (document format ")
