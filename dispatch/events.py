"""Status events for browsers: one Channels group per cluster, sent after the database commit."""

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction
from django.utils import dateformat, timezone


def cluster_group(cluster_id: int) -> str:
    """The Channels group of a cluster's status page."""
    return f"cluster.{cluster_id}"


def broadcast(cluster_id: int, event: dict) -> None:
    """Send `event` to the cluster's browsers once the current transaction commits (never for a rollback)."""

    def send() -> None:
        async_to_sync(get_channel_layer().group_send)(
            cluster_group(cluster_id), {"type": "cluster.event", "event": event}
        )

    transaction.on_commit(send)


def deployment_event(deployment) -> dict:
    """What a browser needs to redraw one host's row of an apply."""
    return {
        "type": "deployment",
        "deployment": deployment.pk,
        "kind": deployment.kind,
        "host": deployment.host.hostname,
        "status": deployment.status,
        "revision": deployment.revision.number if deployment.revision_id else None,
        "operations": deployment.operations,
        "error": deployment.error,
        "warnings": deployment.warnings,
        # As the progress table shows them (the console's time zone), so that a live row reads like a reloaded one.
        "started": clock(deployment.started_at),
        "finished": clock(deployment.finished_at),
    }


def clock(moment) -> str:
    """A time of day as the console's tables show it ("—" when there is none)."""
    return dateformat.format(timezone.localtime(moment), "H:i:s") if moment else "—"


def host_event(host, state: str) -> dict:
    """What a browser needs to redraw a host's agent status."""
    return {
        "type": "host",
        "host": host.hostname,
        "state": state,
        "agent_status": host.agent_status,
        "last_heartbeat_at": host.last_heartbeat_at.isoformat() if host.last_heartbeat_at else None,
        "applied_serial": host.applied_serial,
        "drift": host.drift,
    }
