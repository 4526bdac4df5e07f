"""Small builders of desired-state documents for the agent's unit tests."""

from __future__ import annotations

import copy
import json
from pathlib import Path

EXAMPLES = Path(__file__).parent / "examples"


def example(name: str) -> dict:
    """One of the example documents shown in docs/agent-spec.md."""
    return json.loads((EXAMPLES / f"{name}.json").read_text())


def tun_dest(address: str, port: int = 80, weight: int = 1, **extra) -> dict:
    dest = {"address": address, "port": port, "weight": weight, "forward": "tun"}
    dest.update(extra)
    return dest


def director_doc(services: list[dict], revision: int = 1, **director) -> dict:
    """A director document with the given services (VIP 10.10.0.100 on eth0)."""
    body = {
        "owns_ipvs_table": False,
        "drain_timeout": 300,
        "vips": [{"address": "10.10.0.100", "prefix": 32, "interface": "eth0"}],
        "services": services,
    }
    body.update(director)
    return {"version": 1, "host": "director1", "revision": revision, "director": body, "real_server": None}


def web_service(dests: list[dict], port: int = 80, **extra) -> dict:
    service = {"protocol": "tcp", "address": "10.10.0.100", "port": port, "scheduler": "rr", "real_servers": dests}
    service.update(extra)
    return service


def changed(doc: dict, edit) -> dict:
    """A deep copy of doc with edit(copy) applied."""
    new = copy.deepcopy(doc)
    edit(new)
    return new
