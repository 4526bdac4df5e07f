"""Director high availability in the API: who holds each VIP group, the directors' reported roles, drain/undrain."""

import django_filters
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.response import Response
from rest_framework.views import APIView

from clusters import selectors
from clusters.choices import HostRole
from dispatch import actions
from dispatch.api.serializers import RevisionSerializer
from dispatch.ha import group_statuses
from dispatch.models import DirectorRole
from teams import policy


class DirectorRoleSerializer(serializers.ModelSerializer):
    """One director's VRRP state in one VIP group, as its agent last reported it."""

    cluster: serializers.SlugRelatedField = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    host: serializers.SlugRelatedField = serializers.SlugRelatedField(slug_field="hostname", read_only=True)
    vip_group_name = serializers.CharField(source="vip_group.name", read_only=True)

    class Meta:
        model = DirectorRole
        fields = ["id", "cluster", "vip_group", "vip_group_name", "host", "instance", "state", "since", "cause"]
        read_only_fields = fields


class DirectorRoleFilterSet(django_filters.FilterSet):
    """Filter directors' roles by cluster slug, hostname and state."""

    cluster = django_filters.CharFilter(field_name="cluster__slug")
    host = django_filters.CharFilter(field_name="host__hostname")

    class Meta:
        model = DirectorRole
        fields = ["state", "vip_group"]


class DirectorRoleViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """The VRRP state of every director in every VIP group of the user's clusters (read-only: agents report it)."""

    def get_queryset(self):
        return policy.visible_by_cluster(self.request.user, super().get_queryset())

    queryset = DirectorRole.objects.select_related("cluster", "host", "vip_group")
    serializer_class = DirectorRoleSerializer
    filterset_class = DirectorRoleFilterSet
    ordering_fields = ["since", "state"]
    ordering = ["cluster__slug", "vip_group__name", "host__hostname"]


class GroupRoleSerializer(serializers.Serializer):
    """A director's role in a group, as the cluster page shows it."""

    host = serializers.CharField()
    state = serializers.CharField(help_text="master, backup, fault, stop, or unknown (not reported)")
    state_label = serializers.CharField(help_text="the state in the console's words (active, backup …)")
    since = serializers.DateTimeField(allow_null=True)
    cause = serializers.CharField()
    current = serializers.BooleanField(help_text="false: not reported, or the agent is offline (last known state)")
    drained = serializers.BooleanField()
    priority = serializers.IntegerField()


class GroupStatusSerializer(serializers.Serializer):
    """Who holds one VIP group, and what is wrong (split brain, nobody)."""

    group = serializers.CharField()
    vip_group = serializers.IntegerField()
    holders = serializers.ListField(child=serializers.CharField())
    warning = serializers.CharField()
    roles = GroupRoleSerializer(many=True)


class ClusterHaView(APIView):
    """Per VIP group of the cluster: which director holds it, each director's role, and a warning if any."""

    @extend_schema(responses={200: GroupStatusSerializer(many=True)})
    def get(self, request, slug):
        cluster = get_object_or_404(selectors.visible_clusters(request.user), slug=slug)
        return Response([status.as_event() for status in group_statuses(cluster)])


class DirectorDrainView(APIView):
    """Drain a director (its VIP groups move to the other directors) or undrain it; applies the cluster."""

    drained = True

    @extend_schema(
        request=None,
        responses={
            202: RevisionSerializer,
            400: OpenApiResponse(description="Not a director, or the apply was refused (`non_field_errors`)."),
        },
    )
    def post(self, request, pk):
        cluster_host = get_object_or_404(selectors.visible_cluster_hosts(request.user), pk=pk)
        if cluster_host.role != HostRole.DIRECTOR:
            raise serializers.ValidationError({"non_field_errors": [f"{cluster_host.host} is not a director."]})
        revision = actions.drain_director(acting_user=request.user, cluster_host=cluster_host, drained=self.drained)
        return Response(RevisionSerializer(revision).data, status=status.HTTP_202_ACCEPTED)
