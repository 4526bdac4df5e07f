"""Health reports from directors' agents: store each real server's health, its transitions, audit and push them.

A report (docs/health.md, “Reports”) arrives verified by `handle_report` (the reporting host's own key).
The agent names real servers as the kernel does — service `tcp 10.10.0.100:80`, real server address and
port — so they are found among the virtual services of the clusters the host directs; a real server the
inventory no longer has is skipped.
"""

from datetime import UTC, datetime
from typing import Any

from django.utils import timezone
from lvsweb_agent.model import ServiceKey

from audit.choices import Result
from audit.recording import record
from clusters.choices import HealthStatus, HostRole, Protocol
from clusters.models import Host, RealServer, RealServerHealth, VirtualService
from clusters.models.health_reports import HealthTransition
from dispatch import events

STATUSES = {choice.value for choice in HealthStatus}
#: The two states of a service's quorum in its timeline.
QUORUM, SORRY = "quorum", "sorry server"


def _when(value: Any) -> datetime:
    if isinstance(value, int | float) and not isinstance(value, bool) and 0 < value < 2**33:
        return datetime.fromtimestamp(value, UTC)
    return timezone.now()


def _services_of(host: Host) -> dict[str, VirtualService]:
    """The virtual services of the clusters `host` directs, by the agent's name for them."""
    clusters = host.cluster_roles.filter(role=HostRole.DIRECTOR).values("cluster_id")
    found = {}
    for service in VirtualService.objects.filter(cluster_id__in=clusters).select_related("cluster"):
        found[agent_name(service)] = service
    return found


def agent_name(service: VirtualService) -> str:
    """The agent's name for `service` in its reports and in `HealthTransition.service`: `tcp 10.10.0.100:80`."""
    if service.protocol == Protocol.FWMARK:
        return str(ServiceKey.for_fwmark(service.fwmark, service.address_family))
    return str(ServiceKey.for_address(service.protocol, service.address, service.port))


def _real_server(services: dict[str, VirtualService], item: dict, cache: dict) -> RealServer | None:
    service = services.get(str(item.get("service")))
    address, port = item.get("address"), item.get("port")
    if service is None or not isinstance(address, str) or not isinstance(port, int):
        return None
    key = (service.pk, address, port)
    if key not in cache:
        candidates = RealServer.objects.filter(virtual_service=service, address=address).select_related(
            "virtual_service__cluster"
        )
        cache[key] = next((rs for rs in candidates if (rs.port or service.port or 0) == port), None)
    return cache[key]


def _text(value: Any, limit: int) -> str:
    return str(value or "")[:limit]


def _latency(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def health_report(host: Host, payload: dict[str, Any]) -> str:
    """Record one verified health report (inside `handle_report`'s transaction); returns what was done."""
    services = _services_of(host)
    cache: dict = {}
    touched: dict[int, list[dict]] = {}
    results = payload.get("results") if isinstance(payload.get("results"), list) else []
    for item in results:
        if not isinstance(item, dict) or item.get("status") not in STATUSES:
            continue
        rs = _real_server(services, item, cache)
        if rs is None:
            continue
        RealServerHealth.objects.update_or_create(
            real_server=rs,
            defaults={
                "cluster_id": rs.virtual_service.cluster_id,
                "status": item["status"],
                "check_kind": _text(item.get("check"), 20),
                "message": _text(item.get("message"), 1000),
                "latency_ms": _latency(item.get("latency_ms")),
                "checked_at": _when(item.get("checked_at")) if item.get("checked_at") else None,
                "reported_by": host.hostname,
            },
        )
        touched.setdefault(rs.virtual_service.cluster_id, [])
    transitions = payload.get("transitions") if isinstance(payload.get("transitions"), list) else []
    count = 0
    for item in transitions:
        if not isinstance(item, dict) or item.get("to") not in STATUSES or item.get("from") not in STATUSES:
            continue
        rs = _real_server(services, item, cache)
        if rs is None:
            continue
        at = _when(item.get("at"))
        transition = HealthTransition.objects.create(
            cluster_id=rs.virtual_service.cluster_id,
            real_server=rs,
            service=_text(item.get("service"), 100),
            endpoint=rs.endpoint,
            from_status=item["from"],
            to_status=item["to"],
            at=at,
            message=_text(item.get("message"), 1000),
            latency_ms=_latency(item.get("latency_ms")),
            reported_by=host.hostname,
        )
        RealServerHealth.objects.filter(real_server=rs).update(changed_at=at)
        record(
            action=f"health.{item['to']}",
            actor_host=host.hostname,
            obj=rs,
            cluster_id=rs.virtual_service.cluster_id,
            team_id=rs.virtual_service.cluster.team_id,
            changes={"health": [item["from"], item["to"]]},
            result=Result.SUCCESS,
            message=f"{rs.endpoint} of {rs.virtual_service.endpoint} is {item['to']}: {transition.message}"[:4000],
        )
        touched.setdefault(rs.virtual_service.cluster_id, []).append(transition_event(transition))
        count += 1
    lost = payload.get("quorum_lost") if isinstance(payload.get("quorum_lost"), list) else []
    _quorum_changes(host, services, {str(name) for name in lost}, touched)
    for cluster_id, changed in touched.items():
        events.broadcast(cluster_id, health_event(cluster_id, changed))
    return f"health ({count} transitions)"


def _lost_before(host: Host, services: dict[str, VirtualService]) -> set[str]:
    """Services whose last recorded quorum change (from this director) was a loss."""
    rows = (
        HealthTransition.objects.filter(
            cluster_id__in={service.cluster_id for service in services.values()},
            real_server__isnull=True,
            reported_by=host.hostname,
        )
        .order_by("-at", "-pk")
        .values_list("service", "to_status")
    )
    latest: dict[str, str] = {}
    for name, to_status in rows:
        latest.setdefault(name, to_status)
    return {name for name, to_status in latest.items() if to_status == SORRY}


def _quorum_changes(host: Host, services: dict[str, VirtualService], lost: set[str], touched: dict) -> None:
    """Record, audit and push a service whose quorum was lost or regained since the last report."""
    before = _lost_before(host, services)
    for name in sorted(lost ^ before):
        service = services.get(name)
        if service is None:
            continue
        now_lost = name in lost
        transition = HealthTransition.objects.create(
            cluster_id=service.cluster_id,
            service=name,
            from_status=QUORUM if now_lost else SORRY,
            to_status=SORRY if now_lost else QUORUM,
            at=timezone.now(),
            message="Fewer healthy real servers than the quorum: the sorry server takes new connections."
            if now_lost
            else "The quorum is back: the real servers take new connections again.",
            reported_by=host.hostname,
        )
        record(
            action="health.quorum_lost" if now_lost else "health.quorum_regained",
            actor_host=host.hostname,
            obj=service,
            cluster_id=service.cluster_id,
            team_id=service.cluster.team_id,
            message=transition.message,
        )
        touched.setdefault(service.cluster_id, []).append(transition_event(transition))


def transition_event(transition: HealthTransition) -> dict:
    """One transition as browsers receive it."""
    return {
        "real_server": transition.real_server_id,
        "service": transition.service,
        "endpoint": transition.endpoint,
        "from": transition.from_status,
        "to": transition.to_status,
        "at": transition.at.isoformat(),
        "message": transition.message,
        "latency_ms": transition.latency_ms,
    }


def health_event(cluster_id: int, transitions: list[dict]) -> dict:
    """What a browser needs to redraw a cluster's health: every real server's health, and what changed."""
    rows = RealServerHealth.objects.filter(cluster_id=cluster_id).select_related("real_server__virtual_service")
    return {
        "type": "health",
        "real_servers": [
            {
                "real_server": row.real_server_id,
                "endpoint": row.real_server.endpoint,
                "service": row.real_server.virtual_service.endpoint,
                "status": row.status,
                "message": row.message,
                "latency_ms": row.latency_ms,
                "checked_at": row.checked_at.isoformat() if row.checked_at else None,
            }
            for row in rows
        ],
        "transitions": transitions,
    }
