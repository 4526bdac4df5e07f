"""A cluster of many services, real servers, health rows and live traffic rows, made with bulk_create (fast),
for the tests that bound queries and memory by the size of the tables (docs/performance.md, "Console at scale").
"""

import ipaddress
from itertools import count

from django.utils import timezone

from clusters.choices import HostRole
from clusters.models import Cluster, ClusterHost, Host, RealServer, RealServerHealth, VirtualService
from teams.models import Team
from traffic.models import HostFeed, Series

_serial = count(1)


def big_cluster(team: Team, *, services: int, dests: int, directors: int = 1, slug: str | None = None) -> Cluster:
    """A cluster of `services` TCP services x `dests` real servers, on `directors` enrolled directors with
    fresh traffic feeds: a health row per real server and a Series row per director and service or real server.
    """
    n = next(_serial)
    now = timezone.now()
    cluster = Cluster.objects.create(team=team, name=f"big {n}", slug=slug or f"big-{n}")
    hosts = Host.objects.bulk_create(
        [
            Host(
                team=team,
                hostname=f"{cluster.slug}-director-{index}",
                management_address=f"192.0.2.{(n * 8 + index) % 250 + 1}",
                public_key="scale",
                agent_status="online",
                enrolled_at=now,
                last_heartbeat_at=now,
            )
            for index in range(directors)
        ]
    )
    ClusterHost.objects.bulk_create([ClusterHost(cluster=cluster, host=host, role=HostRole.DIRECTOR) for host in hosts])
    made = VirtualService.objects.bulk_create(
        [
            VirtualService(
                cluster=cluster,
                protocol="tcp",
                address=str(ipaddress.ip_address(f"10.{100 + n % 100}.0.1") + s // 250),
                port=8000 + s % 250,
                scheduler="wlc",
            )
            for s in range(services)
        ]
    )
    base = ipaddress.ip_address(f"10.{n % 100}.0.0")
    real_servers = RealServer.objects.bulk_create(
        [
            RealServer(virtual_service=service, address=str(base + s * dests + j + 1), port=service.port)
            for s, service in enumerate(made)
            for j in range(dests)
        ],
        batch_size=2000,
    )
    RealServerHealth.objects.bulk_create(
        [
            RealServerHealth(cluster=cluster, real_server=rs, status="up", checked_at=now, changed_at=now)
            for rs in real_servers
        ],
        batch_size=2000,
    )
    HostFeed.objects.bulk_create([HostFeed(host=host, last_batch_at=now) for host in hosts])
    Series.objects.bulk_create(
        [
            Series(host=host, cluster=cluster, virtual_service=service, updated_at=now, active=10 * dests, cps=5.0)
            for host in hosts
            for service in made
        ]
        + [
            Series(
                host=host,
                cluster=cluster,
                virtual_service_id=rs.virtual_service_id,
                real_server=rs,
                updated_at=now,
                active=10,
                inactive=1,
                conns=1000,
                cps=0.5,
            )
            for host in hosts
            for rs in real_servers
        ],
        batch_size=2000,
    )
    return cluster


def applied_on(cluster: Cluster, hosts: list[Host], number: int = 1, *, by: str = "", at=None) -> None:
    """Revision `number` of the cluster applied on `hosts` as an apply leaves them: each holds its compiled
    document (the Plan compares with it), the deployments finished at `at` (now)."""
    from clusters.compiler import compile_documents, inventory_snapshot
    from dispatch.choices import DeploymentKind, DeploymentStatus
    from dispatch.models import Deployment, Revision

    at = at or timezone.now()
    snapshot = inventory_snapshot(cluster)
    revision = Revision.objects.create(cluster=cluster, number=number, inventory=snapshot, created_by_name=by)
    documents = compile_documents([snapshot], {host.hostname: number for host in hosts})
    Deployment.objects.bulk_create(
        [
            Deployment(
                kind=DeploymentKind.APPLY,
                cluster=cluster,
                revision=revision,
                host=host,
                serial=number,
                document=documents[host.hostname],
                status=DeploymentStatus.APPLIED,
                started_at=at,
                finished_at=at,
                expires_at=at,
            )
            for host in hosts
        ]
    )
