"""Warnings an operator should see: a real server that gets no new connections while its siblings do."""

from __future__ import annotations


def quiet_among_busy(rates: dict[int, float], takes_new: dict[int, bool]) -> list[int]:
    """Real servers (id → connections/s) with no new connections while a sibling gets some; only those
    that should get them (weight above 0, not draining)."""
    if not any(rate > 0 for rate in rates.values()):
        return []
    return sorted(rs for rs, rate in rates.items() if rate == 0 and takes_new.get(rs, False))
