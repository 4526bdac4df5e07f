"""Health-check API: checks (written through the actions), reported health and its transitions (read-only)."""

import django_filters
from rest_framework import serializers, viewsets

from clusters import actions, selectors
from clusters.api.filtersets import visible
from clusters.api.serializers import ActionSerializer
from clusters.api.views import VisibleOnly
from clusters.models import HealthCheck, HealthTransition, RealServer, RealServerHealth, VirtualService
from clusters.models.health import HEALTH_CHECK_FIELDS
from teams import policy


class HealthCheckSerializer(ActionSerializer):
    """A virtual service's health check (`virtual_service`), or a real server's override (`real_server`)."""

    visible_related = {
        "virtual_service": selectors.visible_virtual_services,
        "real_server": selectors.visible_real_servers,
    }

    cluster = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    virtual_service = serializers.PrimaryKeyRelatedField(
        queryset=VirtualService.objects.all(), required=False, allow_null=True
    )
    real_server = serializers.PrimaryKeyRelatedField(queryset=RealServer.objects.all(), required=False, allow_null=True)

    class Meta:
        model = HealthCheck
        fields = ["id", "cluster", "virtual_service", "real_server", *HEALTH_CHECK_FIELDS, "created_at", "updated_at"]
        validators: list = []

    def validate(self, data):
        if self.instance is None:
            if bool(data.get("virtual_service")) == bool(data.get("real_server")):
                raise serializers.ValidationError(
                    {"virtual_service": ["Name the virtual service, or the real server whose check this overrides."]}
                )
            target = data.get("virtual_service") or data.get("real_server")
            if HealthCheck.objects.filter(
                **{"virtual_service" if data.get("virtual_service") else "real_server": target}
            ).exists():
                field = "virtual_service" if data.get("virtual_service") else "real_server"
                raise serializers.ValidationError(
                    {field: [f"{target} already has a health check: change it (PATCH) instead."]}
                )
        else:
            for field in ("virtual_service", "real_server"):
                if field in data and data[field] != getattr(self.instance, field):
                    raise serializers.ValidationError({field: ["A health check stays with what it checks."]})
        return data

    def create(self, validated_data):
        service = validated_data.pop("virtual_service", None)
        real_server = validated_data.pop("real_server", None)
        return actions.set_health_check(
            acting_user=self.acting_user(), virtual_service=service, real_server=real_server, fields=validated_data
        )

    def update(self, instance, validated_data):
        validated_data.pop("virtual_service", None)
        validated_data.pop("real_server", None)
        return actions.set_health_check(
            acting_user=self.acting_user(),
            virtual_service=instance.virtual_service,
            real_server=instance.real_server,
            fields=validated_data,
        )


class HealthCheckFilterSet(django_filters.FilterSet):
    """Filter checks by cluster, service and real server."""

    cluster = django_filters.CharFilter(field_name="cluster__slug")
    virtual_service = django_filters.ModelChoiceFilter(queryset=visible(selectors.visible_virtual_services))
    real_server = django_filters.ModelChoiceFilter(queryset=visible(selectors.visible_real_servers))

    class Meta:
        model = HealthCheck
        fields = ["virtual_service", "real_server", "check_type"]


class HealthCheckViewSet(VisibleOnly, viewsets.ModelViewSet):
    """Health checks of virtual services and real servers' overrides; the next apply sends them to directors."""

    visible = staticmethod(policy.visible_by_cluster)
    queryset = HealthCheck.objects.select_related("cluster__team", "virtual_service", "real_server__virtual_service")
    serializer_class = HealthCheckSerializer
    filterset_class = HealthCheckFilterSet
    ordering_fields = ["created_at", "updated_at"]
    ordering = ["cluster__slug", "pk"]

    def perform_destroy(self, instance):
        actions.delete_health_check(acting_user=self.request.user, health_check=instance)


class RealServerHealthSerializer(serializers.ModelSerializer):
    """A real server's health as its director's agent last reported it."""

    cluster = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    endpoint = serializers.CharField(source="real_server.endpoint", read_only=True)
    service = serializers.CharField(source="real_server.virtual_service.endpoint", read_only=True)

    class Meta:
        model = RealServerHealth
        fields = [
            "id",
            "cluster",
            "real_server",
            "service",
            "endpoint",
            "status",
            "check_kind",
            "message",
            "latency_ms",
            "checked_at",
            "changed_at",
            "reported_by",
        ]
        read_only_fields = fields


class RealServerHealthFilterSet(django_filters.FilterSet):
    """Filter reported health by cluster, status and real server."""

    cluster = django_filters.CharFilter(field_name="cluster__slug")
    real_server = django_filters.ModelChoiceFilter(queryset=visible(selectors.visible_real_servers))

    class Meta:
        model = RealServerHealth
        fields = ["status", "real_server"]


class RealServerHealthViewSet(VisibleOnly, viewsets.ReadOnlyModelViewSet):
    """Every real server's health, as reported (filter by `cluster` slug or `status`)."""

    visible = staticmethod(policy.visible_by_cluster)
    queryset = RealServerHealth.objects.select_related("cluster__team", "real_server__virtual_service")
    serializer_class = RealServerHealthSerializer
    filterset_class = RealServerHealthFilterSet
    ordering_fields = ["status", "checked_at", "changed_at", "latency_ms"]
    ordering = ["cluster__slug", "real_server__address"]


class HealthTransitionSerializer(serializers.ModelSerializer):
    """One health change, newest first."""

    cluster = serializers.SlugRelatedField(slug_field="slug", read_only=True)

    class Meta:
        model = HealthTransition
        fields = [
            "id",
            "cluster",
            "real_server",
            "service",
            "endpoint",
            "from_status",
            "to_status",
            "at",
            "message",
            "latency_ms",
            "reported_by",
        ]
        read_only_fields = fields


class HealthTransitionFilterSet(django_filters.FilterSet):
    """Filter transitions by cluster, real server and new status."""

    cluster = django_filters.CharFilter(field_name="cluster__slug")
    real_server = django_filters.ModelChoiceFilter(queryset=visible(selectors.visible_real_servers))

    class Meta:
        model = HealthTransition
        fields = ["real_server", "to_status"]


class HealthTransitionViewSet(VisibleOnly, viewsets.ReadOnlyModelViewSet):
    """The timeline of health changes (filter by `cluster` slug, `real_server`, `to_status`)."""

    visible = staticmethod(policy.visible_by_cluster)
    queryset = HealthTransition.objects.select_related("cluster__team")
    serializer_class = HealthTransitionSerializer
    filterset_class = HealthTransitionFilterSet
    ordering_fields = ["at"]
    ordering = ["-at", "-pk"]
