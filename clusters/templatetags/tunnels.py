"""Template tags for the tunnel settings: what each encapsulation costs (from the agent's own arithmetic)."""

from django import template
from lvsweb_agent.encapsulation import LINK_MTU, budget

register = template.Library()

#: The checksum options that change a tunnel type's header size (gue's csum lives in the UDP header).
SIZED_OPTIONS = {"ipip": ("none",), "gue": ("none", "remcsum"), "gre": ("none", "csum")}
OPTION_LABELS = {"none": "", "remcsum": "with remcsum", "csum": "with csum"}


@register.simple_tag
def tunnel_costs(tunnel_type: str) -> list[dict]:
    """Rows of overhead, MTU left inside the tunnel and the TCP MSS that fits, on a 1500-byte link, for
    IPv4 in IPv4 and IPv6 in IPv6, per header-size option of `tunnel_type`."""
    rows = []
    for option in SIZED_OPTIONS[tunnel_type]:
        for version in (4, 6):
            cost = budget(tunnel_type, option, version, version)
            rows.append(
                {
                    "label": f"IPv{version} {OPTION_LABELS[option]}".strip(),
                    "overhead": cost.overhead,
                    "inner_mtu": cost.inner_mtu,
                    "mss": cost.mss,
                    "link_mtu": LINK_MTU,
                }
            )
    return rows
