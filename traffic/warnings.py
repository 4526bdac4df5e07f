"""Warnings an operator should see: a real server that gets no new connections while its siblings do."""

from __future__ import annotations

from collections import defaultdict

from traffic.models import Series


def quiet_among_busy(rates: dict[int, float], takes_new: dict[int, bool]) -> list[int]:
    """Real servers (id → connections/s) with no new connections while a sibling gets some; only those
    that should get them (weight above 0, not draining)."""
    if not any(rate > 0 for rate in rates.values()):
        return []
    return sorted(rs for rs, rate in rates.items() if rate == 0 and takes_new.get(rs, False))


def quiet_real_servers(host, service_ids, directory) -> dict[int, list[int]]:
    """For each of the services (ids) on this director: its quiet real servers (see quiet_among_busy)."""
    if not service_ids:
        return {}
    rates: dict[int, dict[int, float]] = defaultdict(dict)
    rows = Series.objects.filter(
        host=host, virtual_service_id__in=service_ids, real_server__isnull=False, present=True
    ).values_list("virtual_service_id", "real_server_id", "cps")
    for service_id, real_server_id, cps in rows:
        rates[service_id][real_server_id] = cps
    return {service_id: quiet_among_busy(rates.get(service_id, {}), directory.takes_new) for service_id in service_ids}
