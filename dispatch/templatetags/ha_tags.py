"""Template tags of director high availability: the cluster page's VIP groups section."""

from django import template

from clusters.choices import HostRole
from clusters.models.ha_checks import ha_warnings
from dispatch.ha import group_statuses
from teams import policy

register = template.Library()


@register.inclusion_tag("clusters/_ha.html", takes_context=True)
def cluster_ha(context, cluster):
    """Per VIP group, who holds it (live), the directors with their priority and drain, and what to look at."""
    user = context["request"].user
    groups = list(cluster.vip_groups.prefetch_related("virtual_services"))
    directors = list(
        cluster.cluster_hosts.filter(role=HostRole.DIRECTOR).select_related("host").order_by("host__hostname")
    )
    return {
        "cluster": cluster,
        "statuses": group_statuses(cluster, groups) if groups else [],
        "directors": directors,
        "ha_errors": [(d.host, d.host.facts.get("ha_error")) for d in directors if d.host.facts.get("ha_error")],
        "warnings": ha_warnings(cluster),
        "can_drain": policy.can(user, "drain", cluster),
    }
