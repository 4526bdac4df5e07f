"""Import a rule set (ipvsadm-save text or keepalived.conf) into a cluster: preview it, then commit it.

Both steps run the same writes, so every model rule applies and every object gets its own audit entry; a
preview rolls them back, a commit keeps them all or none. The objects the import creates are checked one by
one and written in bulk (clusters/actions/import_batch.py: a few dozen queries in all instead of ~11 each);
changes to objects already in the cluster go through the inventory actions. A commit ends with one
`cluster.import` entry that sums the change up. An import adds services and real servers and, when asked,
changes existing ones to match; it never deletes anything.
"""

import os
from collections import Counter
from collections.abc import Mapping
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import IntegrityError, transaction
from lvsweb_agent.model import RealServer as Dest
from lvsweb_agent.model import Service, normalize_address

from audit.recording import record
from clusters import interchange
from clusters.actions import locks
from clusters.actions.ha_import import import_vrrp
from clusters.actions.health import set_health_check
from clusters.actions.import_batch import ImportBatch, InventoryIndex
from clusters.actions.import_results import ImportRejected, ImportResult, PlanRow, _check_words, _count
from clusters.actions.real_servers import update_real_server
from clusters.actions.virtual_services import update_virtual_service
from clusters.choices import Protocol
from clusters.interchange.ruleset import (
    FULL_MASK,
    ParsedRules,
    Problem,
    Problems,
    TooSlow,
    dest_label,
    service_label,
)
from clusters.models import Cluster, RealServer, VirtualService
from teams import policy

#: The largest text an import reads (about 30,000 ipvsadm-save lines).
MAX_TEXT = 2_000_000
#: The most services and real servers one import may create or change, in one transaction that holds its
#: cluster: new objects are written in bulk (seconds at these sizes), but changes to existing ones go through
#: the inventory actions one by one (about a dozen queries each).
MAX_SERVICES = int(os.environ.get("LVSWEB_IMPORT_MAX_SERVICES", "2000"))
MAX_REAL_SERVERS = int(os.environ.get("LVSWEB_IMPORT_MAX_REAL_SERVERS", "20000"))
#: A service expanded from a keepalived virtual_server_group carries its name in its description, so that the
#: keepalived export writes the group back (clusters/exports.py reads it).
GROUP_LABEL = "keepalived virtual_server_group "
#: Service settings an import compares and sets (the rule set's; name, description … are the console's own).
SERVICE_SETTINGS = ("scheduler", "sched_fallback", "sched_port", "persistence_timeout", "persistence_netmask")
SERVICE_SETTINGS += ("one_packet",)
REAL_SERVER_SETTINGS = ("weight", "forward_method", "tunnel_type", "tunnel_port", "tunnel_checksum")
REAL_SERVER_SETTINGS += ("upper_threshold", "lower_threshold")


def parse_text(text: str, format: str) -> ParsedRules:
    """Parse pasted or uploaded text; a format this console does not know is an error on the `format` field."""
    if format not in ("auto", *interchange.FORMATS):
        raise ValidationError({"format": f"Choose auto, {', '.join(interchange.FORMATS)}; not “{format}”."})
    if len(text) > MAX_TEXT:
        raise ValidationError(
            {"text": f"The text is {len(text):,} characters long; an import reads up to {MAX_TEXT:,}. Split it."}
        )
    if not text.strip():
        raise ValidationError({"text": "Paste or upload ipvsadm-save text or keepalived.conf virtual_server blocks."})
    try:
        parsed = interchange.parse(text, format)
    except TooSlow as exc:
        raise ValidationError({"text": str(exc)}) from None
    real_servers = sum(len(service.real_servers) for service in parsed.services)
    if len(parsed.services) > MAX_SERVICES or real_servers > MAX_REAL_SERVERS:
        raise ValidationError(
            {
                "text": f"The text has {_count(len(parsed.services), 'service')} and "
                f"{_count(real_servers, 'real server')}; one import takes up to {MAX_SERVICES:,} services and "
                f"{MAX_REAL_SERVERS:,} real servers. Split it into several imports (each is previewed and "
                "committed on its own)."
            }
        )
    return parsed


def service_fields(service: Service, forward_method: str | None = None) -> dict[str, Any]:
    """A rule-set service as VirtualService fields.

    Its default forwarding method is `forward_method` (keepalived's lb_kind) or else its real servers' most common.
    """
    key = service.key
    flags = {flag.split("-", 1)[1] for flag in service.flags}
    netmask = service.persistence.netmask if service.persistence else ""
    methods = Counter(dest.forward for dest in service.real_servers).most_common(1)
    fields = {
        "protocol": key.protocol or Protocol.FWMARK,
        "address": key.address,
        "port": None if key.fwmark else key.port,
        "fwmark": key.fwmark or None,
        "address_family": key.family,
        "scheduler": service.scheduler,
        "sched_fallback": "fallback" in flags,
        "sched_port": "port" in flags,
        "persistence_timeout": service.persistence.timeout if service.persistence else 0,
        "persistence_netmask": "" if netmask == FULL_MASK[key.family] else netmask,
        "one_packet": service.one_packet,
    }
    if forward_method or methods:
        fields["forward_method"] = forward_method or methods[0][0]
    return fields


def real_server_fields(dest: Dest) -> dict[str, Any]:
    """A rule-set real server as RealServer fields (port 0, a firewall-mark service's, is no port)."""
    tunnel = dest.tunnel if dest.forward == "tun" else None
    return {
        "address": dest.address,
        "port": dest.port or None,
        "weight": dest.weight,
        "forward_method": dest.forward,
        "tunnel_type": tunnel.type if tunnel else "ipip",
        "tunnel_port": (tunnel.port or None) if tunnel else None,
        "tunnel_checksum": tunnel.checksum if tunnel else "none",
        "upper_threshold": dest.upper_threshold,
        "lower_threshold": dest.lower_threshold,
    }


def _service_lookup(service: VirtualService) -> tuple:
    if service.fwmark:
        return ("fwmark", service.fwmark, service.address_family)
    return (service.protocol, normalize_address(service.address), service.port)


def _wanted_lookup(fields: Mapping[str, Any]) -> tuple:
    if fields["fwmark"]:
        return ("fwmark", fields["fwmark"], fields["address_family"])
    return (fields["protocol"], fields["address"], fields["port"])


def _differences(instance, wanted: Mapping[str, Any], names) -> dict[str, list[Any]]:
    differences = {}
    for name in names:
        if name in wanted and getattr(instance, name) != wanted[name]:
            differences[name] = [getattr(instance, name), wanted[name]]
    return differences


def _describe(differences: Mapping[str, list[Any]]) -> list[str]:
    return [f"{name.replace('_', ' ')}: {old} → {new}" for name, (old, new) in differences.items()]


def _messages(exc: ValidationError) -> str:
    if not hasattr(exc, "error_dict"):
        return " ".join(exc.messages)
    parts = []
    for name, messages in exc.message_dict.items():
        prefix = "" if name == NON_FIELD_ERRORS else f"{name.replace('_', ' ')}: "
        parts.extend(prefix + message for message in messages)
    return " ".join(parts)


class _Importer:
    """Carries out a parsed rule set on a cluster through the inventory actions, noting each row and error."""

    def __init__(self, *, acting_user, cluster: Cluster, parsed: ParsedRules, update_existing: bool):
        self.user = acting_user
        self.cluster = cluster
        self.parsed = parsed
        self.update_existing = update_existing
        self.result = ImportResult(
            format=parsed.format,
            errors=Problems(parsed.errors),
            warnings=Problems(parsed.warnings),
            not_imported=Problems(parsed.not_imported),
        )
        existing = list(VirtualService.objects.filter(cluster=cluster).prefetch_related("real_servers"))
        self.existing = {_service_lookup(service): service for service in existing}
        self.batch = ImportBatch(acting_user=acting_user, cluster=cluster, known=InventoryIndex(cluster, existing))
        #: The services this import creates (by identity: they get their ids when the batch is written).
        self.created: set[int] = set()

    def error(self, line: int, message: str) -> None:
        self.result.errors.append(Problem(line, message))

    def run(self) -> ImportResult:
        # The lines that parsed are checked against the model even when others did not, so that a preview
        # lists every error at once; a commit with any error saves nothing.
        for service in self.parsed.services:
            self.service(service)
        try:
            self.batch.write()
        except IntegrityError:
            # Only a preview, which takes no locks, can meet a row added meanwhile that its checks did not see.
            self.error(0, "The cluster changed while this import was being checked; preview it again.")
            return self.result
        import_vrrp(self, PlanRow)  # director HA: keepalived.conf's VRRP part (clusters/actions/ha_import.py)
        self.result.errors.sort(key=lambda problem: problem.line)
        return self.result

    def attempt(self, line: int, what: str, write):
        """Run one write through its action; its validation errors become errors of `line` (and None is returned)."""
        try:
            return write()
        except ValidationError as exc:
            self.error(line, f"{what} — {_messages(exc)}")
            return None

    def match(self, line: int, row: PlanRow, what: str, differences: dict, allowed: bool, update) -> bool:
        """An object already in the cluster: unchanged, changed (if allowed) or a conflict; False if a change failed."""
        row.details = _describe(differences)
        if differences and allowed:
            if self.attempt(line, what, lambda: update({name: new for name, (_, new) in differences.items()})) is None:
                return False
            row.change = "update"
        elif differences:
            row.change = "conflict"
            self.error(
                line,
                f"{what} is already in this cluster with other settings ({'; '.join(row.details)}); "
                "choose “update existing services” to change it.",
            )
        self.result.rows.append(row)
        return True

    def service(self, service: Service) -> None:
        line = self.parsed.service_lines[service.key]
        label = service_label(service.key)
        wanted = service_fields(service, self.parsed.service_methods.get(service.key))
        present = self.existing.get(_wanted_lookup(wanted))
        current: dict[tuple, RealServer] = {}
        group = self.parsed.groups.get(service.key)
        if present is None:
            if group:
                wanted["description"] = GROUP_LABEL + group
            present = self.attempt(line, label, lambda: self.batch.add_service(wanted))
            if present is None:
                return
            self.created.add(id(present))
            self.result.rows.append(PlanRow(line, "service", label, label, "create", [service.describe()]))
        else:
            row = PlanRow(line, "service", label, label, "unchanged")

            def update(changes, service=present):
                return update_virtual_service(acting_user=self.user, virtual_service=service, changes=changes)

            differences = _differences(present, wanted, SERVICE_SETTINGS)
            if not self.match(line, row, label, differences, self.update_existing, update):
                return
            current = {(normalize_address(rs.address), rs.port): rs for rs in present.real_servers.all()}
        created = {}
        for dest in service.real_servers:
            created[dest.key] = self.real_server(service, present, dest, current)
        self.checks(service, present, line, label, created)

    def checks(self, service: Service, present: VirtualService, line: int, label: str, dests: dict) -> None:
        """The service's health check (keepalived's checkers, quorum and sorry server) and real servers' own.

        A check of a service or real server this import creates is checked and written with the batch; one of
        a service already in the cluster goes through set_health_check now (it may replace a check).
        """
        check = self.parsed.checks.get(service.key)
        if check is None or not self._may_change(present):
            return
        what = f"health check of {label}"
        rows = [row for row in self.result.rows if row.kind == "service" and row.label == label]

        def created(check=check, rows=rows):
            for row in rows:
                row.details.append(f"health check {_check_words(check)}")

        service_check = None
        if id(present) in self.created:
            service_check = self.batch.add_check(
                fields=check,
                virtual_service=present,
                failed=lambda exc: self.error(line, f"{what} — {_messages(exc)}"),
                created=created,
            )
        else:
            done = self.attempt(
                line, what, lambda: set_health_check(acting_user=self.user, virtual_service=present, fields=check)
            )
            if done is None:
                return
            created()
        for dest_key, fields in self.parsed.dest_checks.items():
            if dest_key[0] != service.key or dests.get(dest_key[1]) is None:
                continue
            dest_line = self.parsed.dest_lines[dest_key]
            dest_what = f"health check of real server {dest_key[1][0]} of {label}"
            real_server = dests[dest_key[1]]
            if real_server.pk is None:
                self.batch.add_check(
                    fields=fields,
                    real_server=real_server,
                    failed=lambda exc, dest_line=dest_line, dest_what=dest_what: self.error(
                        dest_line, f"{dest_what} — {_messages(exc)}"
                    ),
                    after=service_check,
                )
            else:
                self.attempt(
                    dest_line,
                    dest_what,
                    lambda real_server=real_server, fields=fields: set_health_check(
                        acting_user=self.user, real_server=real_server, fields=fields
                    ),
                )

    def real_server(self, service: Service, present: VirtualService, dest: Dest, current) -> RealServer | None:
        line = self.parsed.dest_lines[(service.key, dest.key)]
        owner = service_label(service.key)
        label = dest_label(dest)
        what = f"real server {label} of {owner}"
        wanted = real_server_fields(dest)
        existing = current.get((dest.address, wanted["port"]))
        if existing is None:
            if not self._may_change(present):
                self.error(
                    line,
                    f"real server {label} would be added to {owner}, which is already in this cluster; "
                    "choose “update existing services” to add it.",
                )
                self.result.rows.append(PlanRow(line, "real_server", label, owner, "conflict", [dest.describe()]))
            else:
                created = self.attempt(line, what, lambda: self.batch.add_real_server(present, wanted))
                if created is not None:
                    details = [dest.describe()] + ([f"linked to host {created.host}"] if created.host else [])
                    self.result.rows.append(PlanRow(line, "real_server", label, owner, "create", details))
                return created
            return None
        # A DR or NAT real server has the default tunnel settings (the model says so), so a real server that
        # leaves TUN gets them back in the same change.
        differences = _differences(existing, wanted, REAL_SERVER_SETTINGS)

        def update(changes):
            return update_real_server(acting_user=self.user, real_server=existing, changes=changes)

        row = PlanRow(line, "real_server", label, owner, "unchanged")
        self.match(line, row, what, differences, self._may_change(present), update)
        if row.change == "update":
            # Its new settings count in the checks of the real servers added after it (GRE checksums).
            self.batch.known.add_real_server(RealServer.objects.get(pk=existing.pk), present)
        return existing

    def _may_change(self, service: VirtualService) -> bool:
        """Real servers may be added to or changed in a service this import created, or when asked to update."""
        return self.update_existing or id(service) in self.created


def _run(*, acting_user, cluster: Cluster, text: str, format: str, update_existing: bool) -> ImportResult:
    policy.require(acting_user, policy.CHANGE, cluster)
    parsed = parse_text(text, format)
    return _Importer(acting_user=acting_user, cluster=cluster, parsed=parsed, update_existing=update_existing).run()


def preview_import(
    *,
    acting_user: AbstractBaseUser | None,
    cluster: Cluster,
    text: str,
    format: str = "auto",
    update_existing: bool = False,
) -> ImportResult:
    """What importing `text` into `cluster` would create and change, and every error by line; nothing is kept.

    The writes really run (every model rule is checked, the inserts are made) and are rolled back.
    They take no row locks (`locks.previewing`) and, being rolled back, never reach the audit chain, so that a
    long preview makes nobody wait: not other teams, nor this cluster's agents reporting.
    """
    with transaction.atomic(), locks.previewing():
        result = _run(
            acting_user=acting_user, cluster=cluster, text=text, format=format, update_existing=update_existing
        )
        transaction.set_rollback(True)
    return result


@transaction.atomic
def commit_import(
    *,
    acting_user: AbstractBaseUser | None,
    cluster: Cluster,
    text: str,
    format: str = "auto",
    update_existing: bool = False,
) -> ImportResult:
    """Import `text` into `cluster` as one change: all of it, or nothing (ImportRejected) when any line fails.

    Every object gets its own audit entry, as from the inventory actions; one `cluster.import` entry sums it up.
    The entries join the audit chain together at the commit, under the chain's lock for that append only.
    """
    # The locks create_virtual_service took for each service, once: the import's checks then hold until its commit.
    locks.lock_cluster_and_directors(cluster.pk)
    result = _run(acting_user=acting_user, cluster=cluster, text=text, format=format, update_existing=update_existing)
    if not result.ok:
        transaction.set_rollback(True)
        raise ImportRejected(result)
    result.committed = True
    if not result.changes:
        return result  # everything was already there: no change, no entry
    record(
        action="cluster.import",
        acting_user=acting_user,
        obj=cluster,
        cluster_id=cluster.pk,
        team_id=cluster.team_id,
        changes={name: [None, count] for name, count in result.counts.items() if count}
        | {"format": [None, result.format]},
        message=f"Imported {result.format} text: {result.summary()}.",
    )
    return result
