"""The agent's own record: what it created (ownership), what is draining until when, the last document.

Stored as JSON in `<root>/var/lib/lvsweb-agent/state.json`.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from agents.host.model import Address, DesiredState, ServiceKey

STATE_FILE = "var/lib/lvsweb-agent/state.json"

DestId = tuple[ServiceKey, str, int]


@dataclass
class Ledger:
    """Ownership and drain bookkeeping. Pure data; `record()` updates it after each applied operation."""

    revision: int | None = None
    document: dict | None = None
    services: set[ServiceKey] = field(default_factory=set)
    dests: set[DestId] = field(default_factory=set)
    addresses: set[Address] = field(default_factory=set)
    files: set[str] = field(default_factory=set)
    draining_services: dict[ServiceKey, float] = field(default_factory=dict)
    draining_dests: dict[DestId, float] = field(default_factory=dict)

    def owns_service(self, key: ServiceKey) -> bool:
        return key in self.services

    def owns_dest(self, dest_id: DestId) -> bool:
        return dest_id in self.dests or dest_id[0] in self.draining_services

    def record(self, op) -> None:
        """Update ownership/drain records for one operation the kernel accepted."""
        kind = op.kind
        if kind in ("add-service", "edit-service"):
            self.services.add(op.service.key)
            self.draining_services.pop(op.service.key, None)
        elif kind in ("add-dest", "edit-dest"):
            dest_id = (op.service.key, *op.dest.key)
            self.services.add(op.service.key)
            self.dests.add(dest_id)
            self.draining_dests.pop(dest_id, None)
        elif kind == "drain-dest":
            dest_id = (op.service.key, *op.dest.key)
            self.draining_dests[dest_id] = op.deadline
            if op.service_leaving:
                self.draining_services.setdefault(op.service.key, op.deadline)
        elif kind == "del-dest":
            dest_id = (op.service.key, *op.dest.key)
            self.dests.discard(dest_id)
            self.draining_dests.pop(dest_id, None)
        elif kind == "del-service":
            key = op.service.key
            self.services.discard(key)
            self.draining_services.pop(key, None)
            for dest_id in [d for d in self.dests | set(self.draining_dests) if d[0] == key]:
                self.dests.discard(dest_id)
                self.draining_dests.pop(dest_id, None)
        elif kind == "add-address":
            self.addresses.add(op.address)
        elif kind == "del-address":
            self.addresses.discard(op.address)
        elif kind == "write-file":
            self.files.add(op.name)
        elif kind == "remove-file":
            self.files.discard(op.name)

    def adopt(self, desired: DesiredState, document: dict | None) -> None:
        """After a complete apply: everything the document names is ours, nothing it names drains."""
        self.revision = desired.revision
        self.document = document
        if desired.director is None:
            return
        for service in desired.director.services:
            self.services.add(service.key)
            self.draining_services.pop(service.key, None)
            for dest in service.real_servers:
                dest_id = (service.key, *dest.key)
                self.dests.add(dest_id)
                self.draining_dests.pop(dest_id, None)

    def to_json(self) -> dict:
        def dest_json(dest_id: DestId) -> dict:
            return {"service": dest_id[0].to_json(), "address": dest_id[1], "port": dest_id[2]}

        return {
            "format": 1,
            "revision": self.revision,
            "document": self.document,
            "owned": {
                "services": [key.to_json() for key in sorted(self.services)],
                "real_servers": [dest_json(d) for d in sorted(self.dests)],
                "addresses": [
                    {"interface": a.interface, "address": a.address, "prefix": a.prefix}
                    for a in sorted(self.addresses, key=lambda a: (a.interface, a.address, a.prefix))
                ],
                "files": sorted(self.files),
            },
            "draining": {
                "services": [
                    {"service": key.to_json(), "deadline": deadline}
                    for key, deadline in sorted(self.draining_services.items())
                ],
                "real_servers": [
                    {**dest_json(dest_id), "deadline": deadline}
                    for dest_id, deadline in sorted(self.draining_dests.items())
                ],
            },
        }

    @classmethod
    def from_json(cls, data: dict) -> Ledger:
        def dest_id(item: dict) -> DestId:
            return (ServiceKey.from_json(item["service"]), item["address"], item["port"])

        owned, draining = data.get("owned", {}), data.get("draining", {})
        return cls(
            revision=data.get("revision"),
            document=data.get("document"),
            services={ServiceKey.from_json(item) for item in owned.get("services", [])},
            dests={dest_id(item) for item in owned.get("real_servers", [])},
            addresses={Address(**item) for item in owned.get("addresses", [])},
            files=set(owned.get("files", [])),
            draining_services={
                ServiceKey.from_json(item["service"]): item["deadline"] for item in draining.get("services", [])
            },
            draining_dests={dest_id(item): item["deadline"] for item in draining.get("real_servers", [])},
        )


def load_ledger(root: str | Path) -> Ledger:
    """The ledger stored under root, or an empty one on first run."""
    path = Path(root) / STATE_FILE
    try:
        return Ledger.from_json(json.loads(path.read_text()))
    except FileNotFoundError:
        return Ledger()


def save_ledger(root: str | Path, ledger: Ledger) -> None:
    """Write the ledger atomically (a crash never leaves half a file)."""
    path = Path(root) / STATE_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(ledger.to_json(), indent=1, sort_keys=True))
    os.replace(tmp, path)
