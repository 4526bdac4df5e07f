"""Inventory models, one module per aggregate."""

from clusters.models.clusters import Cluster
from clusters.models.hosts import ClusterHost, Host
from clusters.models.real_servers import RealServer
from clusters.models.virtual_services import VirtualService

__all__ = ["Cluster", "ClusterHost", "Host", "RealServer", "VirtualService"]
