"""What an import does (or would do) to a cluster: its rows, problems and counts (clusters/actions/imports.py)."""

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from clusters.interchange.ruleset import Problems


@dataclass
class PlanRow:
    """One service or real server of the import and what happens to it."""

    line: int
    kind: str  # "service" or "real_server"
    label: str
    service: str
    change: str  # "create", "update", "unchanged" or "conflict"
    details: list[str] = field(default_factory=list)


@dataclass
class ImportResult:
    """What an import does (or would do) to a cluster, and its problems by line (the first 100 of each kind
    listed, the rest counted: `errors.total`, `errors.omitted`)."""

    format: str
    rows: list[PlanRow] = field(default_factory=list)
    errors: Problems = field(default_factory=Problems)
    warnings: Problems = field(default_factory=Problems)
    not_imported: Problems = field(default_factory=Problems)
    committed: bool = False

    @property
    def ok(self) -> bool:
        """No errors: the import can be (or was) committed."""
        return not self.errors

    @property
    def counts(self) -> dict[str, int]:
        """`services_create`, `real_servers_update` …: how many rows of each kind and change."""
        counter = Counter(f"{row.kind}s_{row.change}" for row in self.rows)
        return {
            f"{kind}s_{change}": counter[f"{kind}s_{change}"]
            for kind in ("service", "real_server")
            for change in ("create", "update", "unchanged", "conflict")
        }

    @property
    def changes(self) -> int:
        """How many objects the import creates or changes."""
        return sum(1 for row in self.rows if row.change in ("create", "update"))

    def summary(self) -> str:
        """`2 services created, 0 changed; 1 real server created, 3 changed; 4 keywords not imported`."""
        c = self.counts
        text = (
            f"{_count(c['services_create'], 'service')} created, {c['services_update']} changed; "
            f"{_count(c['real_servers_create'], 'real server')} created, {c['real_servers_update']} changed"
        )
        if self.not_imported:
            text += f"; {_count(self.not_imported.total, 'keyword')} not imported"
        return text


def _count(number: int, noun: str) -> str:
    return f"{number:,} {noun}{'' if number == 1 else 's'}"


class ImportRejected(Exception):
    """A commit found errors; nothing was saved. `result` holds them by line."""

    def __init__(self, result: ImportResult):
        super().__init__(f"The import has {result.errors.total} errors; nothing was saved.")
        self.result = result


def _check_words(check: Mapping[str, Any]) -> str:
    """`http /healthz every 6 s, quorum 1 → sorry server 10.0.0.9`: a check in a preview row."""
    words = check.get("check_type", "none")
    if words != "none":
        if words in ("http", "https"):
            words += f" {check.get('path', '/')}"
        words += f" every {check.get('interval', 5):g} s, fall {check.get('fall', 3)}"
        words += ", weight 0 on failure" if check.get("on_failure") == "weight0" else ", removed on failure"
    if check.get("sorry_address"):
        words += f", quorum {check.get('quorum')} → sorry server {check['sorry_address']}"
    return words
