"""The health section of a cluster page: `{% load health_tags %}{% cluster_health cluster %}`."""

from django import template

from clusters.models import HealthCheck, HealthTransition, RealServer, RealServerHealth
from teams import policy

register = template.Library()

#: Transitions shown per real server in the timeline.
TIMELINE_LENGTH = 10


def describe(check: HealthCheck | None) -> str:
    """A check in a few words: `HTTP GET /healthz every 5 s (rise 2, fall 3), through the tunnel`."""
    if check is None:
        return "not checked"
    if check.check_type == "none":
        return "not checked (override)"
    text = check.get_check_type_display()
    if check.check_type in ("http", "https"):
        text += f" {check.path} expecting {check.expect_status_min}–{check.expect_status_max}"
    if check.port:
        text += f" on port {check.port}"
    text += f" every {check.interval:g} s (timeout {check.timeout:g} s, rise {check.rise}, fall {check.fall})"
    if check.tunnel_path:
        text += ", through the tunnel"
    return text


@register.inclusion_tag("health/cluster_health.html", takes_context=True)
def cluster_health(context, cluster, shown=None):
    """Every real server's health with its last result and latency, and a timeline of its transitions.

    `shown`: the services the page lists (a filtered or paginated page shows the health of those only).
    """
    user = context["request"].user
    services = cluster.virtual_services.select_related("health_check").prefetch_related("real_servers")
    if shown is not None:
        order = {service.pk: index for index, service in enumerate(shown)}
        services = sorted(services.filter(pk__in=list(order)), key=lambda service: order[service.pk])
    else:
        services = list(services.order_by("pk"))
    real_servers = RealServer.objects.filter(virtual_service__cluster=cluster).select_related("health_check")
    overrides = {rs.pk: getattr(rs, "health_check", None) for rs in real_servers}
    health = {row.real_server_id: row for row in RealServerHealth.objects.filter(cluster=cluster)}
    timelines: dict[int, list[HealthTransition]] = {}
    quorum_changes: dict[str, list[HealthTransition]] = {}
    for transition in HealthTransition.objects.filter(cluster=cluster).order_by("-at", "-pk")[:500]:
        if transition.real_server_id is None:
            quorum_changes.setdefault(transition.service, []).append(transition)
        else:
            timeline = timelines.setdefault(transition.real_server_id, [])
            if len(timeline) < TIMELINE_LENGTH:
                timeline.append(transition)
    sections = []
    for service in services:
        service_check = getattr(service, "health_check", None)
        rows = []
        for rs in service.real_servers.all():
            override = overrides.get(rs.pk)
            rows.append(
                {
                    "real_server": rs,
                    "check": describe(override or service_check),
                    "overridden": override is not None,
                    "health": health.get(rs.pk),
                    "timeline": timelines.get(rs.pk, []),
                }
            )
        sections.append(
            {
                "service": service,
                "check": service_check,
                "description": describe(service_check),
                "rows": rows,
                "quorum_changes": [t for name, changes in quorum_changes.items() for t in changes[:5] if name],
            }
        )
    return {
        "cluster": cluster,
        "sections": sections,
        "can_change": policy.can(user, policy.CHANGE, cluster),
    }
