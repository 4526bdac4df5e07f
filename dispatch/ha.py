"""Who holds each VIP group of a cluster, from the directors' reported VRRP states (docs/ha.md).

One summary serves the cluster page, the API and the websocket events, so that all three say the same: per
group, each director's state, the holder, and a warning when two directors both claim the group (split brain)
or none does. A director whose agent is offline is shown with its last state, marked as not current, and is
not counted as a holder.
"""

from dataclasses import dataclass, field
from typing import Any

from clusters.choices import AgentStatus, HostRole
from clusters.models import Cluster, VipGroup
from dispatch.choices import VrrpState
from dispatch.models import DirectorRole


@dataclass
class GroupStatus:
    """One VIP group: each director's reported role, the holder and what is wrong."""

    group: VipGroup
    roles: list[dict[str, Any]] = field(default_factory=list)

    @property
    def holders(self) -> list[str]:
        """The directors that report holding the group now (agent online)."""
        return [role["host"] for role in self.roles if role["state"] == VrrpState.MASTER and role["current"]]

    @property
    def warning(self) -> str:
        """Split brain, nobody holding it, or ""."""
        holders = self.holders
        if len(holders) > 1:
            return (
                f"Split brain: {' and '.join(holders)} both hold VIP group “{self.group.name}” — they do not hear "
                "each other's adverts (network between them, VRID or password mismatch)."
            )
        if not holders and self.roles:
            return f"No director holds VIP group “{self.group.name}”: its VIPs answer nowhere."
        return ""

    def as_event(self) -> dict[str, Any]:
        """The websocket event and API shape of this status."""
        return {
            "type": "ha",
            "group": self.group.name,
            "vip_group": self.group.pk,
            "holders": self.holders,
            "warning": self.warning,
            "roles": self.roles,
        }


def group_statuses(cluster: Cluster, groups: list[VipGroup] | None = None) -> list[GroupStatus]:
    """Every VIP group of the cluster (or just `groups`) with its directors' roles, in two queries."""
    groups = list(cluster.vip_groups.all()) if groups is None else groups
    directors = list(
        cluster.cluster_hosts.filter(role=HostRole.DIRECTOR).select_related("host").order_by("host__hostname")
    )
    reported = {
        (role.vip_group_id, role.host_id): role
        for role in DirectorRole.objects.filter(cluster=cluster, vip_group__in=groups)
    }
    statuses = []
    for group in groups:
        status = GroupStatus(group=group)
        for director in directors:
            role = reported.get((group.pk, director.host_id))
            status.roles.append(
                {
                    "host": director.host.hostname,
                    "state": role.state if role else "unknown",
                    "state_label": role.get_state_display() if role else "not reported",
                    "since": role.since.isoformat() if role else None,
                    "cause": role.cause if role else "",
                    "current": role is not None and director.host.agent_status == AgentStatus.ONLINE,
                    "drained": director.drained,
                    "priority": director.vrrp_priority,
                }
            )
        statuses.append(status)
    return statuses
