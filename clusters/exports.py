"""Export a cluster's rule set as ipvsadm-save text or keepalived.conf virtual_server blocks.

The rule set is what the cluster's directors hold after an apply — the compiler's own document for a
director, read back by the agent's document parser — so an export is what `ipvsadm-save -n` would print
there: disabled services and disabled real servers are left out, draining real servers have weight 0.
"""

from django.utils import timezone
from lvsweb_agent.document import parse_document
from lvsweb_agent.model import Service, ServiceKey, normalize_address

from clusters import interchange
from clusters.compiler import compile_documents, inventory_snapshot
from clusters.ha_export import vrrp_export
from clusters.models import Cluster, HealthCheck, VirtualService
from clusters.models.health import HEALTH_CHECK_FIELDS

#: The stand-in director the export compiles a document for (any valid host name does).
EXPORT_HOST = "export.invalid"
GROUP_LABEL = "keepalived virtual_server_group "  # as clusters.actions.imports writes it
FILENAMES = {"ipvsadm": "{slug}-ipvsadm.rules", "keepalived": "{slug}-keepalived.conf"}
CONTENT_TYPES = {"ipvsadm": "text/plain; charset=utf-8", "keepalived": "text/plain; charset=utf-8"}


def cluster_rules(cluster: Cluster) -> list[Service]:
    """The IPVS services (with real servers) a director of `cluster` holds for its current inventory."""
    snapshot = inventory_snapshot(cluster)
    snapshot["hosts"] = [{"hostname": EXPORT_HOST, "role": "director", "vip_interface": "lo", "uplinks": []}]
    document = compile_documents([snapshot], {EXPORT_HOST: 1})[EXPORT_HOST]
    return list(parse_document(document).director.services)


def export_text(cluster: Cluster, format: str, rules: list[Service] | None = None) -> str:
    """The cluster's rule set (or `rules`, read before) in `format` (`ipvsadm` or `keepalived`)."""
    header = (
        f"virtual_server blocks of lvsweb cluster “{cluster.name}” ({cluster.slug}), "
        f"exported {timezone.now():%Y-%m-%d %H:%M} UTC.\n"
        "Disabled services and real servers are left out; draining real servers have weight 0."
    )
    services = list(cluster.virtual_services.prefetch_related("real_servers__health_check", "health_check"))
    methods = {_key(service): service.forward_method for service in services}
    checks, dest_checks, groups = {}, {}, {}
    for service in services:
        key = _key(service)
        if service.description.startswith(GROUP_LABEL):
            groups[key] = service.description.removeprefix(GROUP_LABEL).split()[0]
        own = getattr(service, "health_check", None)
        if own is not None:
            checks[key] = _check_fields(own)
        for real_server in service.real_servers.all():
            check = getattr(real_server, "health_check", None)
            if check is not None:
                dest_key = (normalize_address(real_server.address), real_server.port or 0)
                dest_checks[(key, dest_key)] = _check_fields(check)
    text = interchange.render(
        cluster_rules(cluster) if rules is None else rules,
        format,
        header=header,
        methods=methods,
        checks=checks,
        dest_checks=dest_checks,
        groups=groups,
    )
    if format == "keepalived":
        text += vrrp_export(cluster)  # director HA: vrrp_instance blocks (clusters/ha_export.py)
    return text


def _check_fields(check: HealthCheck) -> dict:
    return {name: getattr(check, name) for name in HEALTH_CHECK_FIELDS}


def _key(service: VirtualService) -> ServiceKey:
    if service.fwmark:
        return ServiceKey.for_fwmark(service.fwmark, service.address_family)
    return ServiceKey.for_address(service.protocol, service.address, service.port)


def export_filename(cluster: Cluster, format: str) -> str:
    """The download's file name, e.g. `web-ipvsadm.rules`."""
    return FILENAMES[format].format(slug=cluster.slug)
