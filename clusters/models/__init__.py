"""Inventory models, one module per aggregate."""

from clusters.models.clusters import Cluster
from clusters.models.ha import VipGroup
from clusters.models.health import HealthCheck
from clusters.models.health_reports import HealthTransition, RealServerHealth
from clusters.models.hosts import ClusterHost, Host, sync_state
from clusters.models.real_servers import RealServer
from clusters.models.virtual_services import VirtualService

__all__ = [
    "Cluster",
    "ClusterHost",
    "HealthCheck",
    "HealthTransition",
    "Host",
    "RealServer",
    "RealServerHealth",
    "VipGroup",
    "VirtualService",
    "sync_state",
]
