"""VIP groups of director high availability (docs/ha.md): written through the actions, like the inventory."""

import django_filters
from rest_framework import serializers, viewsets

from clusters import actions, selectors
from clusters.api.serializers import ActionSerializer, NamedRelatedField
from clusters.api.views import VisibleOnly
from clusters.models import Cluster, VipGroup
from clusters.models.ha import VIP_GROUP_FIELDS
from teams import policy


class VipGroupSerializer(ActionSerializer):
    """A VIP group (one VRRP instance); `cluster` is the cluster's slug and cannot change after creation."""

    visible_related = {"cluster": selectors.visible_clusters}

    cluster = NamedRelatedField(slug_field="slug", queryset=Cluster.objects.all())
    virtual_services: serializers.PrimaryKeyRelatedField = serializers.PrimaryKeyRelatedField(many=True, read_only=True)

    class Meta:
        model = VipGroup
        fields = ["id", "cluster", *VIP_GROUP_FIELDS, "virtual_services", "created_at", "updated_at"]
        validators: list = []

    def validate_cluster(self, value):
        if self.instance is not None and value != self.instance.cluster:
            raise serializers.ValidationError("A VIP group stays in its cluster.")
        return value

    def create(self, validated_data):
        cluster = validated_data.pop("cluster")
        return actions.create_vip_group(acting_user=self.acting_user(), cluster=cluster, fields=validated_data)

    def update(self, instance, validated_data):
        validated_data.pop("cluster", None)
        return actions.update_vip_group(acting_user=self.acting_user(), vip_group=instance, changes=validated_data)


class VipGroupFilterSet(django_filters.FilterSet):
    """Filter VIP groups by cluster slug."""

    cluster = django_filters.CharFilter(field_name="cluster__slug")

    class Meta:
        model = VipGroup
        fields = ["cluster", "name", "vrid"]


class VipGroupViewSet(VisibleOnly, viewsets.ModelViewSet):
    """VIP groups: the VIPs that fail over together between a cluster's directors."""

    visible = staticmethod(policy.visible_by_cluster)  # type: ignore[assignment]
    queryset = VipGroup.objects.select_related("cluster__team").prefetch_related("virtual_services")
    serializer_class = VipGroupSerializer
    filterset_class = VipGroupFilterSet
    search_fields = ["name"]
    ordering_fields = ["name", "vrid", "created_at"]
    ordering = ["cluster__slug", "name"]

    def perform_destroy(self, instance):
        actions.delete_vip_group(acting_user=self.request.user, vip_group=instance)
