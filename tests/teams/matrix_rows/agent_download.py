"""Permission-matrix rows of /agent/download/: the agent bundle, served to hosts that have no console account."""

import hashlib
import json

from django.conf import settings

WHEEL = "lvsweb_agent-0.1.0-py3-none-any.whl"

# fmt: off
# name                            method    anonymous no_team viewer operator owner superuser
ROWS = [
    # Public packages (the agent's wheel, its locked dependencies): the same for everyone, nothing to write.
    ("agent-download",                "GET",    200,      200,    200,   200,     200,  200),
    ("agent-download",                "other",  405,      405,    405,   405,     405,  405),
    ("agent-download-file",           "GET",    200,      200,    200,   200,     200,  200),
    ("agent-download-file",           "other",  405,      405,    405,   405,     405,  405),
]
# fmt: on


def url_kwargs(world) -> dict:
    return {"agent-download-file": {"name": WHEEL}}


def prepare(world) -> None:
    """A built bundle of one file in the test's AGENT_BUNDLE_DIR (tests/conftest.py points it at tmp_path)."""
    folder = settings.AGENT_BUNDLE_DIR
    folder.mkdir(parents=True, exist_ok=True)
    content = b"PK not really a wheel"
    (folder / WHEEL).write_bytes(content)
    manifest = {"agent_version": "0.1.0", "files": {WHEEL: hashlib.sha256(content).hexdigest()}}
    (folder / "manifest.json").write_text(json.dumps(manifest))
