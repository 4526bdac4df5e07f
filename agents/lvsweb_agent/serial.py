"""The serial of the document the agent holds, as dispatch numbered it (docs/dispatch.md).

Kept in `<root>/var/lib/lvsweb-agent/serial.json`, next to the agent's ledger. It is recorded once an apply
has run (completely or not: the agent then holds that document, and `reconcile` completes it), so a
replayed older command can never roll the host back.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

SERIAL_FILE = "var/lib/lvsweb-agent/serial.json"


def load_applied_serial(root: str | os.PathLike[str]) -> int | None:
    """The serial applied on this host, or None before the first dispatched apply."""
    try:
        data = json.loads((Path(root) / SERIAL_FILE).read_text())
    except FileNotFoundError:
        return None
    serial = data.get("serial") if isinstance(data, dict) else None
    if isinstance(serial, bool) or not isinstance(serial, int):
        # A damaged record must not reopen the door to old commands: refuse to guess.
        raise ValueError(f"{Path(root) / SERIAL_FILE}: no valid serial in it; remove it only if you know why")
    return serial


def save_applied_serial(root: str | os.PathLike[str], serial: int, deployment: object = None) -> None:
    """Record `serial` (atomically: write aside, then rename over)."""
    path = Path(root) / SERIAL_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps({"serial": serial, "deployment": deployment, "recorded_at": time.time()}))
    os.replace(tmp, path)
