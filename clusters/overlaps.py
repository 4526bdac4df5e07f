"""The same virtual service (VIP:port, or firewall mark) in two clusters: worth a warning, not a refusal.

Two clusters may rightly serve the same VIP:port from different directors (say, one per site). But when
they share a director, both would set the service up on it: the director's agent then refuses its document
(the service twice) until one of them changes. Pages and API answers name the other clusters so that the
operator notices before an apply does.
"""

from collections import defaultdict
from collections.abc import Iterable

from django.db.models import Q

from clusters.choices import HostRole, Protocol
from clusters.models import ClusterHost, VirtualService


def endpoint_overlaps(services: Iterable[VirtualService], user=None) -> dict[int, list[str]]:
    """{service id: a warning per other cluster with the same VIP:port or firewall mark} (one query when there is
    none, three when there are, whatever the number of services).

    Clusters the user cannot see are not named ("a cluster of another team"), but still counted: an address
    conflict matters whoever owns the other cluster.
    """
    from clusters import selectors

    services = [service for service in services if service.pk is not None]
    if not services:
        return {}
    keys = {service.identity for service in services}
    match = Q()
    for protocol, first, second in keys:
        if protocol == Protocol.FWMARK:
            match |= Q(protocol=protocol, fwmark=first, address_family=second)
        else:
            match |= Q(protocol=protocol, address=first, port=second)
    others: dict[tuple, list[VirtualService]] = defaultdict(list)
    for other in VirtualService.objects.filter(match).select_related("cluster"):
        others[other.identity].append(other)
    own = {service.pk for service in services}
    if all(
        other.pk in own or other.cluster_id == service.cluster_id
        for service in services
        for other in others.get(service.identity, [])
    ):
        return {}  # the usual case: one query
    cluster_ids = {other.cluster_id for found in others.values() for other in found}
    directors: dict[int, set[str]] = defaultdict(set)
    for cluster_id, hostname in ClusterHost.objects.filter(
        cluster_id__in=cluster_ids, role=HostRole.DIRECTOR
    ).values_list("cluster_id", "host__hostname"):
        directors[cluster_id].add(hostname)
    visible = cluster_ids
    if user is not None:
        visible = set(selectors.visible_clusters(user).filter(pk__in=cluster_ids).values_list("pk", flat=True))
    warnings: dict[int, list[str]] = {}
    for service in services:
        for other in others.get(service.identity, []):
            if other.cluster_id == service.cluster_id:
                continue
            name = f"cluster “{other.cluster.name}”" if other.cluster_id in visible else "a cluster of another team"
            shared = sorted(directors[service.cluster_id] & directors[other.cluster_id])
            if shared:
                text = (
                    f"{service.endpoint} is also a virtual service of {name}, which shares director "
                    f"{', '.join(shared)} with this cluster: both would set it up there, and that director's agent "
                    "refuses a document with the same service twice. Change one of them, or give the clusters "
                    "separate directors."
                )
            else:
                text = (
                    f"{service.endpoint} is also a virtual service of {name}. Fine while the two clusters "
                    "have separate directors (say, one per site); if they ever share a director, both would set "
                    "it up there and that director's agent would refuse its document."
                )
            warnings.setdefault(service.pk, []).append(text)
    return warnings
