"""The objects an import creates, checked one by one and written in bulk (clusters/actions/imports.py).

Through the inventory actions an import took about a dozen queries per object (locks, policy, the model's
cross-row checks, the host link, the save, a savepoint and the audit entry): 1,200 objects took ~20 s.
Here every object still passes every model rule — the same `clean()`, whose questions about other rows
(`InventoryIndex`) are answered from what was read once and from the import's own objects — and then all
services, real servers, health checks and host roles are inserted with one statement per kind, and their
audit entries (one per object, as the actions write them) are handed to the chain in one go: they join it at
the commit, under the chain's lock for that append only (audit/chain.py).
"""

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import models, transaction

from audit.recording import append, build, diff, snapshot
from clusters.actions import locks
from clusters.actions.health import FIXED as CHECK_FIXED
from clusters.actions.real_servers import FIXED as REAL_SERVER_FIXED
from clusters.actions.records import assign, save_validated
from clusters.actions.virtual_services import FIXED as SERVICE_FIXED
from clusters.choices import FORWARD_METHODS_WITHOUT_PORT_MAPPING, ForwardMethod, HostRole, TunnelType
from clusters.models import Cluster, ClusterHost, HealthCheck, RealServer, VirtualService
from clusters.real_server_hosts import HostDirectory, normal_address


def _address(address: str | None) -> str | None:
    return (normal_address(address) or address) if address else address


def service_key(service: VirtualService) -> tuple:
    """What must be unique for a service in its cluster (the model's constraints)."""
    if service.is_fwmark:
        return ("fwmark", service.fwmark, service.address_family)
    return (service.protocol, _address(service.address), service.port)


class InventoryIndex:
    """The answers an import's model checks need about other rows of its cluster, read once.

    Starts from the cluster's services (with their real servers prefetched) and learns each object the
    import adds (`add_service`, `add_real_server`), as the database would once it is saved. Services are
    known by identity: a new one has no id until the import writes it.
    """

    def __init__(self, cluster: Cluster, services: Iterable[VirtualService]):
        self.cluster = cluster
        self._services: set[tuple] = set()
        self._endpoints: dict[int, dict[str | None, set[int | None]]] = {}
        self._gre: dict[str | None, list[RealServer]] = {}
        self._vips: dict[str | None, VirtualService] | None = None
        for service in services:
            self.add_service(service)
            for real_server in service.real_servers.all():
                self.add_real_server(real_server, service)

    def add_service(self, service: VirtualService) -> None:
        """`service` is in the cluster now."""
        self._services.add(service_key(service))
        self._endpoints.setdefault(id(service), {})

    def add_real_server(self, real_server: RealServer, service: VirtualService | None = None) -> None:
        """`real_server` is in its service now (or has these settings now)."""
        service = service or real_server.virtual_service
        address = _address(real_server.address)
        self._endpoints.setdefault(id(service), {}).setdefault(address, set()).add(real_server.port)
        gre = self._gre.setdefault(address, [])
        gre[:] = [other for other in gre if other.pk is None or other.pk != real_server.pk]
        if real_server.forward_method == ForwardMethod.TUN and real_server.tunnel_type == TunnelType.GRE:
            gre.append(real_server)

    # The questions of the models' clean(known=...):

    def service_taken(self, service: VirtualService) -> bool:
        """Whether the cluster already has a service with `service`'s protocol, VIP and port (or mark)."""
        return service_key(service) in self._services

    def vip_clash(self, address: str | None) -> VirtualService | None:
        """A service of another cluster sharing a director with this one on VIP `address`, or None."""
        if self._vips is None:
            self._vips = {}
            for service in VirtualService.shared_director_vips(self.cluster.pk):
                self._vips.setdefault(_address(service.address), service)
        return self._vips.get(_address(address))

    def real_server_taken(
        self, service: VirtualService, address: str | None, port: int | None, *, any_port: bool = False
    ) -> bool:
        """Whether `service` already has a real server at `address` and `port` (any port if `any_port`)."""
        ports = self._endpoints.get(id(service), {}).get(_address(address))
        if not ports:
            return False
        return any_port or port in ports

    def gre_other_checksum(self, real_server: RealServer) -> RealServer | None:
        """Another GRE real server of the cluster at the same address with another checksum setting, or None."""
        for other in self._gre.get(_address(real_server.address), []):
            same = other is real_server or (other.pk is not None and other.pk == real_server.pk)
            if not same and other.tunnel_checksum != real_server.tunnel_checksum:
                return other
        return None


def validate(instance: models.Model, known: InventoryIndex, *, unique: bool = True) -> None:
    """The checks of records.save_validated, with the cross-row questions answered by `known`.

    The database constraints stay behind them (validate_constraints is left to the database: the models'
    clean() checks the same rules with a message on the right field).
    """
    # A foreign key's field check asks the database whether the object exists: the objects an import links
    # (its cluster, its services and real servers, hosts it found) were read or written by it. (A service it
    # creates has no id yet: the database checks the link when the batch is written.)
    linked = [
        field.name
        for field in instance._meta.concrete_fields
        if isinstance(field, models.ForeignKey) and field.is_cached(instance)
    ]
    instance.clean_fields(exclude=linked)
    instance.clean(known=known)  # type: ignore[call-arg]
    if unique:
        instance.validate_unique()


@dataclass
class _Audit:
    """A place in the order of audit entries, filled once the object is known to be created."""

    action: str
    instance: models.Model | None = None


@dataclass
class PendingCheck:
    """A health check to create on an object of the import, checked when the objects have their ids."""

    check: HealthCheck
    fields: Mapping[str, Any]
    slot: _Audit
    failed: Callable[[ValidationError], None]
    created: Callable[[], None] = lambda: None
    after: list["PendingCheck"] = field(default_factory=list)


class ImportBatch:
    """The objects an import creates: each checked as it is added, all written by `write()`."""

    def __init__(self, *, acting_user: AbstractBaseUser | None, cluster: Cluster, known: InventoryIndex):
        self.user = acting_user
        self.cluster = cluster
        self.known = known
        self.hosts = HostDirectory(cluster)
        self.services: list[VirtualService] = []
        self.real_servers: list[RealServer] = []
        self.roles: list[ClusterHost] = []
        self.checks: list[PendingCheck] = []
        self._audit: list[_Audit] = []
        #: Services already in the cluster that get new real servers (locked at the write, as
        #: create_real_server locks its service).
        self._extended: dict[int, VirtualService] = {}

    def add_service(self, fields: Mapping[str, Any]) -> VirtualService:
        """A new service of the cluster, as create_virtual_service makes it (ValidationError if it breaks a rule)."""
        service = VirtualService(cluster=self.cluster)
        assign(service, fields, fixed=SERVICE_FIXED)
        validate(service, self.known)
        self.known.add_service(service)
        self.services.append(service)
        self._audit.append(_Audit("virtual_service.create", service))
        return service

    def add_real_server(self, service: VirtualService, fields: Mapping[str, Any]) -> RealServer:
        """A new real server of `service`, as create_real_server makes it: linked to its host, which gets the
        real-server role in the cluster if it has none (ValidationError if it breaks a rule)."""
        real_server = RealServer(virtual_service=service, forward_method=service.forward_method)
        assign(real_server, fields, fixed=REAL_SERVER_FIXED)
        if real_server.host_id is None and not real_server.configured_by_hand and real_server.address:
            real_server.host = self.hosts.host_for(real_server.address)
        validate(real_server, self.known)
        self.known.add_real_server(real_server, service)
        self.real_servers.append(real_server)
        if service.pk is not None:
            self._extended[service.pk] = service
        self._audit.append(_Audit("real_server.create", real_server))
        host = real_server.host
        if (
            host is not None
            and real_server.forward_method in FORWARD_METHODS_WITHOUT_PORT_MAPPING
            and not self.hosts.has_role(host)
        ):
            # give_real_server_role: the TUN/DR recipe reaches only hosts with the real-server role.
            role = ClusterHost(cluster=self.cluster, host=host, role=HostRole.REAL_SERVER)
            self.hosts.add_role(host, HostRole.REAL_SERVER)
            self.roles.append(role)
            self._audit.append(_Audit("cluster_host.create", role))
        return real_server

    def add_check(
        self,
        *,
        fields: Mapping[str, Any],
        virtual_service: VirtualService | None = None,
        real_server: RealServer | None = None,
        failed: Callable[[ValidationError], None],
        created: Callable[[], None] = lambda: None,
        after: PendingCheck | None = None,
    ) -> PendingCheck:
        """A health check of a new service or real server, checked by `write()` (which calls `failed` or
        `created`); one `after` another is tried only when that one passed (as the import did one by one)."""
        if virtual_service is not None:
            check = HealthCheck(virtual_service=virtual_service, cluster=self.cluster)
        else:
            check = HealthCheck(real_server=real_server, cluster=self.cluster)
        pending = PendingCheck(check, fields, _Audit("health_check.create"), failed, created)
        self._audit.append(pending.slot)
        (after.after if after is not None else self.checks).append(pending)
        return pending

    def write(self) -> None:
        """Insert everything (one statement per kind and thousand rows) and hand the audit entries to the chain.

        Raises IntegrityError when a row appeared meanwhile that the checks did not see (possible only in a
        preview, which takes no locks): the caller reports it.
        """
        if not locks.is_previewing() and self._extended:
            # Taken in id order, as create_real_server takes them one by one.
            list(VirtualService.objects.select_for_update().filter(pk__in=sorted(self._extended)).values("pk"))
        with transaction.atomic():
            VirtualService.objects.bulk_create(self.services, batch_size=1000)
            RealServer.objects.bulk_create(self.real_servers, batch_size=1000)
            checks = self._checked(self.checks)
            HealthCheck.objects.bulk_create(checks, batch_size=1000)
        for role in self.roles:  # one per host that had no role in the cluster: a handful
            save_validated(role)
        team_id = self.cluster.team_id
        entries = []
        for slot in self._audit:
            if slot.instance is None:
                continue
            entries.append(
                build(
                    action=slot.action,
                    acting_user=self.user,
                    obj=slot.instance,
                    changes=diff(None, snapshot(slot.instance)),
                    cluster_id=self.cluster.pk,
                    team_id=team_id,
                )
            )
        append(entries)

    def _checked(self, pending: list[PendingCheck]) -> list[HealthCheck]:
        valid = []
        for item in pending:
            check = item.check
            # The service or real server has its id now (bulk_create gave it): the check takes it.
            if check.virtual_service is not None:
                check.virtual_service = check.virtual_service
            else:
                check.real_server = check.real_server
            try:
                assign(check, item.fields, fixed=CHECK_FIXED)
                # A new object has no check yet: nothing to compare for uniqueness.
                validate(check, self.known, unique=False)
            except ValidationError as exc:
                item.failed(exc)
                continue
            item.slot.instance = check
            item.created()
            valid.append(check)
            valid.extend(self._checked(item.after))
        return valid
