"""The hand configuration of a registered host, for a real server (or director) run without an agent.

The host's document comes from the compiler, for the current inventory of every cluster it has a role in
(what an apply would send it); `agents.recipes` writes it as commands.
"""

from dataclasses import dataclass
from typing import Any

from lvsweb_agent.document import parse_document
from lvsweb_agent.persist import wanted_files

from clusters.compiler import DOCUMENT_VERSION, compile_documents, inventory_snapshot
from clusters.models import Cluster, Host
from dispatch.recipes import SCRIPT, STATE, UNIT, UNIT_NAME, Step, recipe_steps, render_script


@dataclass
class ManualRecipe:
    """The hand configuration of one host for the current inventory of its clusters."""

    host: Host
    document: dict[str, Any]
    steps: list[Step]

    @property
    def vips(self) -> list[str]:
        """The VIPs this host serves as a real server."""
        part = self.document.get("real_server") or {}
        return [vip for recipe in (part.get("tun"), part.get("dr")) if recipe for vip in recipe["vips"]]

    @property
    def script(self) -> str:
        """Every step as one shell script."""
        return render_script(self.steps)

    @property
    def persisted(self) -> list[str]:
        """The files the recipe writes (absolute paths): what a reboot replays."""
        parsed = parse_document(self.document)
        return [f"/{name}" for name, content in wanted_files(parsed).items() if content is not None] + [
            f"/{SCRIPT}",
            f"/{UNIT}",
            f"/{STATE}/",
        ]

    #: The script the recipe installs (`lvsweb-recipe remove` undoes it) and the unit that runs it at boot.
    installed_script = f"/{SCRIPT}"
    unit_name = UNIT_NAME


def host_document(host: Host) -> dict[str, Any]:
    """The host's document for the current inventory of every cluster it has a role in."""
    clusters = Cluster.objects.filter(cluster_hosts__host=host).distinct().order_by("pk")
    documents = compile_documents(
        [inventory_snapshot(cluster) for cluster in clusters], {host.hostname: host.document_serial}
    )
    return documents.get(host.hostname) or {
        "version": DOCUMENT_VERSION,
        "host": host.hostname,
        "revision": host.document_serial,
        "director": None,
        "real_server": None,
    }


def manual_recipe(host: Host) -> ManualRecipe:
    """The recipe of `host` from the current inventory (nothing is sent or changed)."""
    document = host_document(host)
    return ManualRecipe(host=host, document=document, steps=recipe_steps(parse_document(document)))
