"""API representations of the inventory; writes go through the actions layer."""

from rest_framework import serializers

from clusters import actions
from clusters.models import Cluster, ClusterHost, Host, RealServer, VirtualService


class NamedRelatedField(serializers.SlugRelatedField):
    """A related object given by its slug or hostname."""

    def to_internal_value(self, data):
        # PostgreSQL text cannot hold NUL: the lookup would raise DataError (a 500) instead of "not found".
        if isinstance(data, str) and "\x00" in data:
            self.fail("invalid")
        return super().to_internal_value(data)


class ActionSerializer(serializers.ModelSerializer):
    """Validate field types here, then hand the data to an action (which runs the model's own rules)."""

    def acting_user(self):
        request = self.context.get("request")
        return getattr(request, "user", None)


class ClusterSerializer(ActionSerializer):
    """A cluster with counts of what it holds."""

    virtual_service_count = serializers.IntegerField(read_only=True)
    real_server_count = serializers.IntegerField(read_only=True)

    class Meta:
        model = Cluster
        fields = [
            "id",
            "url",
            "name",
            "slug",
            "description",
            "drain_timeout",
            "virtual_service_count",
            "real_server_count",
            "created_at",
            "updated_at",
        ]
        extra_kwargs = {"url": {"lookup_field": "slug", "view_name": "api:cluster-detail"}}

    def create(self, validated_data):
        return actions.create_cluster(acting_user=self.acting_user(), fields=validated_data)

    def update(self, instance, validated_data):
        return actions.update_cluster(acting_user=self.acting_user(), cluster=instance, changes=validated_data)


class HostSerializer(ActionSerializer):
    """A host; the agent fields are read-only (the agent reports them)."""

    class Meta:
        model = Host
        fields = [
            "id",
            "hostname",
            "management_address",
            "description",
            "vip_interface",
            "uplinks",
            "agent_status",
            "agent_version",
            "kernel_version",
            "last_heartbeat_at",
            "enrolled_at",
            "revoked_at",
            "applied_serial",
            "drift",
            "created_at",
            "updated_at",
        ]
        read_only_fields = [
            "agent_status",
            "agent_version",
            "kernel_version",
            "last_heartbeat_at",
            "enrolled_at",
            "revoked_at",
            "applied_serial",
            "drift",
        ]

    def create(self, validated_data):
        return actions.create_host(acting_user=self.acting_user(), fields=validated_data)

    def update(self, instance, validated_data):
        return actions.update_host(acting_user=self.acting_user(), host=instance, changes=validated_data)


class ClusterHostSerializer(ActionSerializer):
    """The role of a host in a cluster."""

    cluster = NamedRelatedField(slug_field="slug", queryset=Cluster.objects.all())
    host = NamedRelatedField(slug_field="hostname", queryset=Host.objects.all())

    class Meta:
        model = ClusterHost
        fields = ["id", "cluster", "host", "role"]
        validators: list = []

    def create(self, validated_data):
        return actions.assign_host_role(acting_user=self.acting_user(), **validated_data)

    def update(self, instance, validated_data):
        raise serializers.ValidationError(
            {"non_field_errors": ["A host role cannot be changed; remove it and assign the new one."]}
        )


class VirtualServiceSerializer(ActionSerializer):
    """A virtual service; `cluster` is the cluster's slug and cannot change after creation."""

    cluster = NamedRelatedField(slug_field="slug", queryset=Cluster.objects.all())
    endpoint = serializers.CharField(read_only=True)
    real_server_count = serializers.IntegerField(read_only=True)

    class Meta:
        model = VirtualService
        fields = [
            "id",
            "cluster",
            "name",
            "endpoint",
            "protocol",
            "address",
            "port",
            "fwmark",
            "address_family",
            "scheduler",
            "sched_fallback",
            "sched_port",
            "persistence_timeout",
            "persistence_netmask",
            "one_packet",
            "forward_method",
            "enabled",
            "description",
            "real_server_count",
            "created_at",
            "updated_at",
        ]
        validators: list = []

    def validate_cluster(self, value):
        if self.instance is not None and value.pk != self.instance.cluster_id:
            raise serializers.ValidationError("A virtual service cannot move to another cluster.")
        return value

    def create(self, validated_data):
        cluster = validated_data.pop("cluster")
        return actions.create_virtual_service(acting_user=self.acting_user(), cluster=cluster, fields=validated_data)

    def update(self, instance, validated_data):
        validated_data.pop("cluster", None)
        return actions.update_virtual_service(
            acting_user=self.acting_user(), virtual_service=instance, changes=validated_data
        )


class RealServerSerializer(ActionSerializer):
    """A real server; `host` is the hostname of the host that runs it (optional)."""

    host = NamedRelatedField(slug_field="hostname", queryset=Host.objects.all(), required=False, allow_null=True)
    endpoint = serializers.CharField(read_only=True)

    class Meta:
        model = RealServer
        fields = [
            "id",
            "virtual_service",
            "endpoint",
            "address",
            "port",
            "weight",
            "forward_method",
            "tunnel_type",
            "tunnel_port",
            "tunnel_checksum",
            "upper_threshold",
            "lower_threshold",
            "state",
            "host",
            "description",
            "created_at",
            "updated_at",
        ]
        validators: list = []
        extra_kwargs = {"forward_method": {"required": False}}

    def validate_virtual_service(self, value):
        if self.instance is not None and value.pk != self.instance.virtual_service_id:
            raise serializers.ValidationError("A real server cannot move to another virtual service.")
        return value

    def create(self, validated_data):
        service = validated_data.pop("virtual_service")
        return actions.create_real_server(
            acting_user=self.acting_user(), virtual_service=service, fields=validated_data
        )

    def update(self, instance, validated_data):
        validated_data.pop("virtual_service", None)
        return actions.update_real_server(acting_user=self.acting_user(), real_server=instance, changes=validated_data)
