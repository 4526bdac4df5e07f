"""Template tags of live traffic: number formats, and the summaries other pages include."""

from django import template

from traffic import live

register = template.Library()

_UNITS = ["", "k", "M", "G", "T"]


@register.filter
def per_second(value, unit: str = "") -> str:
    """12.5 → “12.5”, 12_500 → “12.5 k”, with `unit` (e.g. “B”) appended: “12.5 kB”."""
    if value in (None, ""):
        return "–"
    value = float(value)
    index = 0
    while abs(value) >= 1000 and index < len(_UNITS) - 1:
        value /= 1000
        index += 1
    digits = 0 if value == int(value) and index == 0 else 1
    text = f"{value:.{digits}f}"
    suffix = f"{_UNITS[index]}{unit}"
    return f"{text} {suffix}" if suffix else text


@register.inclusion_tag("traffic/_cluster_summary.html")
def cluster_traffic_summary(cluster):
    """Live totals of a cluster, its stale directors and quiet real servers (for the cluster page)."""
    traffic = live.cluster_traffic(cluster, detail=False)
    totals = live.Figures()
    for figures in traffic.services.values():
        for name in live.FIGURES:
            setattr(totals, name, getattr(totals, name) + getattr(figures, name))
    return {"cluster": cluster, "traffic": traffic, "totals": totals, "reported": bool(traffic.services)}


@register.simple_tag
def with_traffic_totals(rows):
    """Dashboard: each (cluster, …) row of `rows` with the cluster's live totals appended (None without fresh
    figures), in one query for every cluster of the page."""
    rows = [tuple(row) if isinstance(row, (tuple, list)) else (row,) for row in rows]
    totals = live.cluster_totals([row[0] for row in rows])
    return [(*row, totals.get(row[0].pk)) for row in rows]
