"""Actions on virtual services."""

from collections.abc import Mapping
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import connection, transaction

from clusters.actions.locks import lock_cluster_and_directors
from clusters.actions.records import create_audited, delete_audited, update_audited
from clusters.choices import FORWARD_METHODS_WITHOUT_PORT_MAPPING, HostRole
from clusters.models import Cluster, ClusterHost, VirtualService
from teams import policy

FIXED = frozenset({"cluster", "cluster_id"})


_NOT_READ = object()


class SameVip:
    """The services of every cluster on a new service's VIP, read with one query when `clean()` first asks.

    They answer the model's questions about other rows (`clean(known=...)`: the VIP:port taken in the
    cluster, the VIP on a director shared with another cluster) — the same rules and messages as its own
    queries, which took two — and `warnings_known` tells whether the answer's overlap warnings can be given
    without asking again (no other cluster has the service).
    """

    def __init__(self, cluster_id: int):
        self.cluster_id = cluster_id
        self.address: object = _NOT_READ  # the VIP the services were read for
        self.services: list[VirtualService] = []

    def _load(self, address: str | None) -> list[VirtualService]:
        if address != self.address:
            self.address = address
            # Each with whether its cluster has a director that also directs this cluster (the question of
            # VirtualService.shared_director_vips), in the models' default order (that of its .first()). Written
            # out: the ORM took longer to compile this than PostgreSQL to answer it.
            service, cluster, role = (
                connection.ops.quote_name(model._meta.db_table) for model in (VirtualService, Cluster, ClusterHost)
            )
            sql = (
                f"SELECT s.*, EXISTS (SELECT 1 FROM {role} a JOIN {role} b ON b.host_id = a.host_id "  # noqa: S608
                "WHERE a.cluster_id = s.cluster_id AND a.role = %s AND b.cluster_id = %s AND b.role = %s) "
                f"AS shares_director FROM {service} s JOIN {cluster} c ON c.id = s.cluster_id WHERE s.address = %s "
                "ORDER BY c.name, s.address, s.port, s.fwmark, s.protocol"
            )
            director = str(HostRole.DIRECTOR)
            vip = VirtualService._meta.get_field("address").get_prep_value(address)
            self.services = list(VirtualService.objects.raw(sql, [director, self.cluster_id, director, vip]))
        return self.services

    def service_taken(self, service: VirtualService) -> bool:
        """Whether the cluster has another service with `service`'s protocol, VIP and port (or mark)."""
        if service.is_fwmark:
            others = VirtualService.objects.filter(cluster_id=self.cluster_id).exclude(pk=service.pk)
            return others.filter(fwmark=service.fwmark, address_family=service.address_family).exists()
        return any(
            other.cluster_id == self.cluster_id
            and other.pk != service.pk
            and (other.protocol, other.port) == (service.protocol, service.port)
            for other in self._load(service.address)
        )

    def vip_clash(self, address: str | None) -> VirtualService | None:
        """The first service of another cluster sharing a director with this one on VIP `address`, or None."""
        for other in self._load(address):
            if other.cluster_id != self.cluster_id and other.shares_director:  # type: ignore[attr-defined]
                return other
        return None

    def warnings_known(self, service: VirtualService) -> bool:
        """Whether `service` (just saved) has no overlap warning: no other cluster has its VIP:port."""
        if service.is_fwmark or self.address != service.address:
            return False
        return not any(
            other.cluster_id != service.cluster_id and other.identity == service.identity for other in self.services
        )


@transaction.atomic
def create_virtual_service(
    *, acting_user: AbstractBaseUser | None, cluster: Cluster, fields: Mapping[str, Any]
) -> VirtualService:
    """Add a virtual service (VIP:port or firewall mark) to `cluster`.

    The new service's `overlap_warnings` is [] when the checks found no other cluster with its VIP:port (the
    API's answer then needs no query for them); otherwise it is not set.
    """
    lock_cluster_and_directors(cluster.pk)
    policy.require(acting_user, policy.CHANGE, cluster)
    known = SameVip(cluster.pk)
    service = create_audited(
        VirtualService(cluster=cluster),
        fields,
        acting_user=acting_user,
        action="virtual_service.create",
        fixed=FIXED,
        known=known,
    )
    if known.warnings_known(service):
        service.overlap_warnings = []  # type: ignore[attr-defined]
    return service


@transaction.atomic
def update_virtual_service(
    *, acting_user: AbstractBaseUser | None, virtual_service: VirtualService, changes: Mapping[str, Any]
) -> VirtualService:
    """Change a virtual service.

    TUN and DR real servers follow a port change, also to and from a firewall mark (the kernel cannot map
    ports for them); every real server is checked again, so that a change of VIP family cannot strand a DR
    or NAT real server.
    """
    lock_cluster_and_directors(virtual_service.cluster_id)
    service = (
        VirtualService.objects.select_for_update(of=("self",)).select_related("cluster").get(pk=virtual_service.pk)
    )
    policy.require(acting_user, policy.CHANGE, service)
    update_audited(service, changes, acting_user=acting_user, action="virtual_service.update", fixed=FIXED)
    problems = []
    for real_server in service.real_servers.all():
        real_server.virtual_service = service
        follow = {}
        if real_server.forward_method in FORWARD_METHODS_WITHOUT_PORT_MAPPING:
            # A firewall-mark service has no port: its TUN and DR real servers have none either.
            follow["port"] = service.port
        try:
            update_audited(real_server, follow, acting_user=acting_user, action="real_server.update")
        except ValidationError as exc:
            problems.extend(f"Real server {real_server.endpoint}: {message}" for message in exc.messages)
    if problems:
        raise ValidationError({NON_FIELD_ERRORS: problems})
    return service


@transaction.atomic
def delete_virtual_service(*, acting_user: AbstractBaseUser | None, virtual_service: VirtualService) -> None:
    """Delete a virtual service and its real servers."""
    policy.require(acting_user, policy.DELETE, virtual_service)
    count = virtual_service.real_servers.count()
    delete_audited(
        virtual_service,
        acting_user=acting_user,
        action="virtual_service.delete",
        message=f"Deleted with {count} real servers.",
    )
