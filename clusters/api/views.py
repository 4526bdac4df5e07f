"""Inventory API viewsets: declare querysets and serializers; writes go through the actions."""

from rest_framework import viewsets

from clusters import actions, selectors
from clusters.api import filtersets, serializers
from clusters.models import Cluster, ClusterHost, Host, RealServer, VirtualService
from teams import policy


class VisibleOnly:
    """Lists, counts, search and lookups see only the objects of the user's teams (others answer 404)."""

    visible = None

    def get_queryset(self):
        return self.visible(self.request.user, super().get_queryset())


class CountsInAnswers:
    """Create and update answer with the counts a read shows (the schema marks `*_count` as always there).

    The actions return the saved object without the queryset's annotations: a changed one is read again
    through the viewset's annotated queryset before it is rendered; a new one has nothing to count yet.
    """

    def _with_counts(self, serializer) -> None:
        serializer.instance = type(self).queryset.get(pk=serializer.instance.pk)

    def perform_create(self, serializer):
        super().perform_create(serializer)
        # A new object has nothing under it yet: its counts are 0, without reading it again.
        for name in type(self).queryset.query.annotations:
            setattr(serializer.instance, name, 0)

    def perform_update(self, serializer):
        super().perform_update(serializer)
        self._with_counts(serializer)


class ClusterViewSet(CountsInAnswers, VisibleOnly, viewsets.ModelViewSet):
    """Clusters, addressed by slug."""

    visible = staticmethod(selectors.visible_clusters)
    policy_actions = {"destroy": policy.DELETE}
    queryset = Cluster.objects.select_related("team").annotate(**selectors.cluster_counts())
    serializer_class = serializers.ClusterSerializer
    filterset_class = filtersets.ClusterFilterSet
    lookup_field = "slug"
    lookup_value_regex = r"[-a-zA-Z0-9_]+"  # what a SlugField holds; anything else is a 404 without a query
    search_fields = ["name", "slug", "description"]
    ordering_fields = ["name", "slug", "created_at", "updated_at"]
    ordering = ["name"]

    def perform_destroy(self, instance):
        actions.delete_cluster(acting_user=self.request.user, cluster=instance)


class HostViewSet(VisibleOnly, viewsets.ModelViewSet):
    """Hosts that run (or will run) lvsweb-agent."""

    visible = staticmethod(selectors.visible_hosts)
    queryset = Host.objects.select_related("team")
    serializer_class = serializers.HostSerializer
    filterset_class = filtersets.HostFilterSet
    search_fields = ["hostname", "management_address", "description"]
    ordering_fields = ["hostname", "management_address", "agent_status", "last_heartbeat_at", "created_at"]
    ordering = ["hostname"]

    def perform_destroy(self, instance):
        actions.delete_host(acting_user=self.request.user, host=instance)


class ClusterHostViewSet(VisibleOnly, viewsets.ModelViewSet):
    """Which host is a director or a real server in which cluster."""

    visible = staticmethod(selectors.visible_cluster_hosts)
    queryset = ClusterHost.objects.select_related("cluster", "host")
    serializer_class = serializers.ClusterHostSerializer
    filterset_class = filtersets.ClusterHostFilterSet
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]
    ordering_fields = ["cluster__slug", "host__hostname", "role"]
    ordering = ["cluster__slug", "role", "host__hostname"]

    def perform_destroy(self, instance):
        actions.remove_host_role(acting_user=self.request.user, cluster_host=instance)


class VirtualServiceViewSet(CountsInAnswers, VisibleOnly, viewsets.ModelViewSet):
    """Virtual services (VIP:port or firewall mark) of all clusters."""

    visible = staticmethod(selectors.visible_virtual_services)
    queryset = VirtualService.objects.select_related("cluster__team").annotate(
        real_server_count=selectors.real_server_count()
    )
    serializer_class = serializers.VirtualServiceSerializer
    filterset_class = filtersets.VirtualServiceFilterSet
    search_fields = ["name", "address", "description", "cluster__name"]
    ordering_fields = ["address", "port", "fwmark", "protocol", "scheduler", "name", "created_at"]
    ordering = ["cluster__slug", "address", "port", "fwmark"]

    def perform_destroy(self, instance):
        actions.delete_virtual_service(acting_user=self.request.user, virtual_service=instance)


class RealServerViewSet(VisibleOnly, viewsets.ModelViewSet):
    """Real servers of all virtual services."""

    visible = staticmethod(selectors.visible_real_servers)
    queryset = RealServer.objects.select_related("virtual_service__cluster", "host")
    serializer_class = serializers.RealServerSerializer
    filterset_class = filtersets.RealServerFilterSet
    search_fields = ["address", "description", "host__hostname"]  # the schema's words; `search_queryset` matches
    ordering_fields = ["address", "port", "weight", "state", "forward_method", "created_at"]
    ordering = ["virtual_service_id", "address", "port"]

    def search_queryset(self, queryset, term):
        """`?search=`: any part of the address, the description or the host's name, served by their indexes."""
        return selectors.matching_real_servers(queryset, term)

    def perform_destroy(self, instance):
        actions.delete_real_server(acting_user=self.request.user, real_server=instance)
