"""Console pages of the inventory: dashboard, search, clusters, virtual services, real servers.

Views parse input and call the actions (clusters/actions) and the policy (teams/policy.py); another team's
objects answer 404, a change the user's role does not allow answers 403 with the policy's reason.
"""

from clusters.views.clusters import (
    ClusterCreateView,
    ClusterDeleteView,
    ClusterDetailView,
    ClusterEditView,
    ClusterListView,
)
from clusters.views.dashboard import DashboardView, SearchView
from clusters.views.real_servers import (
    RealServerConnectionsView,
    RealServerCreateView,
    RealServerDeleteView,
    RealServerEditView,
    RealServerNowView,
    RealServerStateView,
)
from clusters.views.transfer import ClusterTransferView
from clusters.views.virtual_services import VirtualServiceCreateView, VirtualServiceDeleteView, VirtualServiceEditView

__all__ = [
    "ClusterCreateView",
    "ClusterDeleteView",
    "ClusterDetailView",
    "ClusterEditView",
    "ClusterListView",
    "ClusterTransferView",
    "DashboardView",
    "RealServerConnectionsView",
    "RealServerCreateView",
    "RealServerDeleteView",
    "RealServerEditView",
    "RealServerNowView",
    "RealServerStateView",
    "SearchView",
    "VirtualServiceCreateView",
    "VirtualServiceDeleteView",
    "VirtualServiceEditView",
]
