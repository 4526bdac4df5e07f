"""What an agent tells the console about its host: agent version, document format, kernel release and support."""

from __future__ import annotations

import os
from importlib import metadata
from typing import Any

from lvsweb_agent.document import DOCUMENT_VERSION


def agent_version() -> str:
    """The installed lvsweb-agent version ("unknown" when running from a source tree that is not installed)."""
    try:
        return metadata.version("lvsweb-agent")
    except metadata.PackageNotFoundError:
        return "unknown"


def kernel_release() -> str:
    """The running kernel's release (`uname -r`)."""
    return os.uname().release


def host_facts(check: dict[str, Any] | None = None, netns: str | None = None) -> dict[str, Any]:
    """`{"agent_version", "document_version", "kernel", "check"}`; `check` is `lvsweb-agent check --json`.

    `check` is computed when not given. `document_version` is the document format this agent reads: agents
    before it was sent read format 1 only, which is what the console assumes when a heartbeat lacks it.
    """
    if check is None:
        from lvsweb_agent.check import check_kernel

        check = check_kernel(None, netns=netns).to_json()
    return {
        "agent_version": agent_version(),
        "document_version": DOCUMENT_VERSION,
        "kernel": kernel_release(),
        "check": check,
    }
