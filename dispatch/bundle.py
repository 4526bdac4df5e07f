"""The agent bundle: the agent's wheel and its locked dependency wheels, for hosts without a package index.

`manage.py build_agent_bundle` builds it into settings.AGENT_BUNDLE_DIR; the console serves it at
/agent/download/ (dispatch/views/bundle.py) as a page of links with their SHA-256, which is what
`pip install --no-index --find-links URL lvsweb-agent` reads (pip checks every `#sha256=` it downloads).
The manifest (manifest.json, plus SHA256SUMS for people) is the list of files served: nothing else in the
folder, and no name a request makes up, is ever opened.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

MANIFEST = "manifest.json"
CHECKSUMS = "SHA256SUMS"


class BundleError(Exception):
    """Building the bundle failed; the message says which step and what to do."""


@dataclass(frozen=True)
class Bundle:
    """A built bundle: file name -> SHA-256 (hex), and the agent's version in it."""

    folder: Path
    files: dict[str, str]
    agent_version: str

    def path(self, name: str) -> Path | None:
        """The file called `name` if the manifest lists it, else None (so no path of a request's making)."""
        return self.folder / name if name in self.files else None


def load_bundle(folder: Path | None = None) -> Bundle | None:
    """The bundle in `folder` (default settings.AGENT_BUNDLE_DIR), or None when none was built."""
    folder = Path(folder or settings.AGENT_BUNDLE_DIR)
    try:
        manifest = json.loads((folder / MANIFEST).read_text())
        listed, version = dict(manifest["files"]), str(manifest["agent_version"])
    except (OSError, ValueError, KeyError, TypeError):
        return None  # none, or one a crash left half-written: as if none (build it again)
    files = {str(name): str(digest) for name, digest in listed.items() if "/" not in name and name[:1] != "."}
    return Bundle(folder=folder, files=files, agent_version=version)


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _run(step: str, args: list[str | Path]) -> None:
    result = subprocess.run([str(a) for a in args], capture_output=True, text=True)
    if result.returncode != 0:
        raise BundleError(f"{step} failed ({' '.join(map(str, args))}):\n{result.stdout}{result.stderr}")


def build_bundle(
    source: Path,
    folder: Path | None = None,
    wheelhouse: Path | None = None,
    pip_options: list[str] | None = None,
) -> Bundle:
    """Build the agent's wheel from `source` (the agents/ folder of a checkout) and gather its locked wheels.

    The dependencies are exactly agents/requirements.lock, hashes checked, binary wheels only: from
    `wheelhouse` when it holds them all, else from the package index the lock names. `pip_options` go to
    `pip download` (e.g. `--python-version 3.12 --platform manylinux2014_aarch64` for hosts unlike the
    console). The new bundle replaces the old one only once complete.
    """
    folder = Path(folder or settings.AGENT_BUNDLE_DIR)
    lock = source / "requirements.lock"
    if not (source / "pyproject.toml").is_file() or not lock.is_file():
        raise BundleError(f"{source} is not the agent's source folder (no pyproject.toml and requirements.lock).")
    folder.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".agent-bundle-", dir=folder.parent) as work:
        staging = Path(work) / "bundle"
        staging.mkdir()
        copy = Path(work) / "source"  # built from a copy: the build leaves build/ and *.egg-info behind
        shutil.copytree(source, copy, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
        pip: list[str | Path] = [sys.executable, "-m", "pip"]
        _run(
            "building the agent's wheel",
            [*pip, "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", staging, copy],
        )
        download = [*pip, "download", "-q", "-d", staging, "--only-binary=:all:", "--require-hashes", "-r", lock]
        download += pip_options or []
        offline = [*download, "--no-index", "--find-links", wheelhouse] if wheelhouse else None
        if not offline or subprocess.run([str(a) for a in offline], capture_output=True).returncode != 0:
            _run("downloading the locked dependencies", download)
        agents = list(staging.glob("lvsweb_agent-*.whl"))
        if len(agents) != 1:
            raise BundleError(f"expected one agent wheel, found {[a.name for a in agents]}")
        files = {path.name: sha256(path) for path in sorted(staging.iterdir()) if path.is_file()}
        version = agents[0].name.split("-")[1]
        (staging / MANIFEST).write_text(json.dumps({"agent_version": version, "files": files}, indent=2) + "\n")
        (staging / CHECKSUMS).write_text("".join(f"{digest}  {name}\n" for name, digest in files.items()))
        for path in staging.iterdir():
            path.chmod(0o644)
        staging.chmod(0o755)
        old = Path(work) / "old"
        if folder.exists():
            os.replace(folder, old)
        os.replace(staging, folder)
    bundle = load_bundle(folder)
    assert bundle is not None
    return bundle
