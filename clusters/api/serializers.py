"""API representations of the inventory; writes go through the actions layer."""

from collections.abc import Callable
from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from clusters import actions, selectors
from clusters.models import Cluster, ClusterHost, Host, RealServer, VipGroup, VirtualService
from clusters.models.clusters import CLUSTER_FIELDS
from clusters.models.real_servers import REAL_SERVER_FIELDS
from clusters.models.virtual_services import VIRTUAL_SERVICE_FIELDS
from clusters.overlaps import endpoint_overlaps
from teams import policy
from teams.choices import TeamRole
from teams.models import Team


class NamedRelatedField(serializers.SlugRelatedField):
    """A related object given by its slug or hostname."""

    def to_internal_value(self, data):
        # PostgreSQL text cannot hold NUL: the lookup would raise DataError (a 500) instead of "not found".
        if isinstance(data, str) and "\x00" in data:
            self.fail("invalid")
        return super().to_internal_value(data)


class ActionSerializer(serializers.ModelSerializer):
    """Validate field types here, then hand the data to an action (which runs the model's own rules).

    Related fields offer only what the user can see (`visible_related`): naming another team's cluster
    or host answers “does not exist”, exactly as if it did not.
    """

    visible_related: dict = {}

    def acting_user(self):
        request = self.context.get("request")
        return getattr(request, "user", None)

    def get_fields(self):
        fields = super().get_fields()
        user = self.acting_user()
        for name, visible in self.visible_related.items():
            field = fields.get(name)
            if field is not None and not field.read_only:
                # Narrowed when the field is used (a lookup, the choices of a form), not for every field of every
                # request: most writes name one or two related objects.
                field.get_queryset = _narrowed(field.get_queryset, visible, user)
        return fields


def _narrowed(queryset: Callable[[], QuerySet], visible: Callable[[Any, QuerySet], QuerySet], user) -> Callable:
    def get_queryset() -> QuerySet:
        return visible(user, queryset())

    return get_queryset


def visible_teams(user, queryset):
    """Teams the user can see, as a related-field queryset."""
    return queryset.filter(pk__in=policy.visible_teams(user).values("pk"))


def team_for_new_object(user, data: dict, what: str) -> dict:
    """Fill in `team` when the user left it out and has exactly one team where they may create `what`."""
    if data.get("team") is not None:
        return data
    candidates = list(policy.teams_where(user, TeamRole.OPERATOR)[:2])
    if len(candidates) == 1:
        return {**data, "team": candidates[0]}
    if not candidates and policy.is_superuser(user):
        message = f"There is no team yet: create one on the Teams page, then create {what} in it."
    elif not candidates:
        message = f"You are not an operator or owner in any team, so you cannot create {what}."
    else:
        message = "Name the team (its slug): you may create " + what + " in several teams."
    raise serializers.ValidationError({"team": [message]})


class ClusterSerializer(ActionSerializer):
    """A cluster with counts of what it holds; `team` is the owning team's slug."""

    visible_related = {"team": visible_teams}

    team = NamedRelatedField(slug_field="slug", queryset=Team.objects.all(), required=False)
    virtual_service_count = serializers.IntegerField(read_only=True)
    real_server_count = serializers.IntegerField(read_only=True)

    class Meta:
        model = Cluster
        fields = [
            "id",
            "url",
            *CLUSTER_FIELDS,
            "virtual_service_count",
            "real_server_count",
            "created_at",
            "updated_at",
        ]
        extra_kwargs = {"url": {"lookup_field": "slug", "view_name": "api:cluster-detail"}}
        # The per-team name is checked by the model (its message names the field), not by DRF's generic one.
        validators: list = []

    def create(self, validated_data):
        validated_data = team_for_new_object(self.acting_user(), validated_data, "clusters")
        return actions.create_cluster(acting_user=self.acting_user(), fields=validated_data)

    @transaction.atomic
    def update(self, instance, validated_data):
        # A new `team` is a transfer (owners of both teams); it and the other changes succeed or fail together.
        team = validated_data.pop("team", None)
        if team is not None and team.pk != instance.team_id:
            instance = actions.transfer_cluster(acting_user=self.acting_user(), cluster=instance, team=team)
        return actions.update_cluster(acting_user=self.acting_user(), cluster=instance, changes=validated_data)


class HostSerializer(ActionSerializer):
    """A host; `team` is the slug of the team that registered it; the agent fields are read-only."""

    visible_related = {"team": visible_teams}

    team = NamedRelatedField(slug_field="slug", queryset=Team.objects.all(), required=False)

    class Meta:
        model = Host
        fields = [
            "id",
            "team",
            "hostname",
            "management_address",
            "other_addresses",
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

    def validate_team(self, value):
        if self.instance is not None and value.pk != self.instance.team_id:
            raise serializers.ValidationError("A host stays with the team that registered it.")
        return value

    def create(self, validated_data):
        validated_data = team_for_new_object(self.acting_user(), validated_data, "hosts")
        return actions.create_host(acting_user=self.acting_user(), fields=validated_data)

    def update(self, instance, validated_data):
        validated_data.pop("team", None)
        return actions.update_host(acting_user=self.acting_user(), host=instance, changes=validated_data)


class ClusterHostSerializer(ActionSerializer):
    """The role of a host in a cluster."""

    visible_related = {"cluster": selectors.visible_clusters, "host": selectors.visible_hosts}

    cluster = NamedRelatedField(slug_field="slug", queryset=Cluster.objects.all())
    host = NamedRelatedField(slug_field="hostname", queryset=Host.objects.all())

    class Meta:
        model = ClusterHost
        fields = ["id", "cluster", "host", "role", "vrrp_priority", "drained"]
        read_only_fields = ["drained"]  # POST …/drain/ and …/undrain/ change it, and apply
        validators: list = []

    def create(self, validated_data):
        priority = validated_data.pop("vrrp_priority", None)
        cluster_host = actions.assign_host_role(acting_user=self.acting_user(), **validated_data)
        if priority is not None:
            cluster_host = actions.set_director_priority(
                acting_user=self.acting_user(), cluster_host=cluster_host, priority=priority
            )
        return cluster_host

    def update(self, instance, validated_data):
        priority = validated_data.pop("vrrp_priority", None)
        changed = {name for name, value in validated_data.items() if getattr(instance, name) != value}
        if changed:
            raise serializers.ValidationError(
                {"non_field_errors": ["A host role cannot be changed; remove it and assign the new one."]}
            )
        if priority is None:
            return instance
        return actions.set_director_priority(acting_user=self.acting_user(), cluster_host=instance, priority=priority)


class VirtualServiceSerializer(ActionSerializer):
    """A virtual service; `cluster` is the cluster's slug and cannot change after creation."""

    visible_related = {"cluster": selectors.visible_clusters, "vip_group": policy.visible_by_cluster}

    vip_group = serializers.PrimaryKeyRelatedField(queryset=VipGroup.objects.all(), required=False, allow_null=True)
    cluster = NamedRelatedField(slug_field="slug", queryset=Cluster.objects.all())
    endpoint = serializers.CharField(read_only=True)
    real_server_count = serializers.IntegerField(read_only=True)
    warnings = serializers.SerializerMethodField(
        help_text="What the operator should know, e.g. the same VIP:port in another cluster (never stops a save)."
    )

    class Meta:
        model = VirtualService
        fields = [
            "id",
            "cluster",
            *VIRTUAL_SERVICE_FIELDS,
            "vip_group",
            "endpoint",
            "real_server_count",
            "warnings",
            "created_at",
            "updated_at",
        ]
        validators: list = []

    @extend_schema_field(serializers.ListField(child=serializers.CharField()))
    def get_warnings(self, obj) -> list[str]:
        known = getattr(obj, "overlap_warnings", None)  # a new service's, when its checks could tell (actions)
        if known is not None:
            return known
        # One lookup for the whole page of a list answer (the root serializer holds the page), not one per row.
        checked, warnings = self.context.get("endpoint_overlaps", (set(), {}))
        if obj.pk not in checked:
            root = self.root.instance
            page = list(root) if isinstance(root, (list, tuple)) and obj in root else [obj]
            checked, warnings = {service.pk for service in page}, endpoint_overlaps(page, self.acting_user())
            self.context["endpoint_overlaps"] = (checked, warnings)
        return warnings.get(obj.pk, [])

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

    visible_related = {"virtual_service": selectors.visible_virtual_services, "host": selectors.visible_hosts}

    host = NamedRelatedField(slug_field="hostname", queryset=Host.objects.all(), required=False, allow_null=True)
    endpoint = serializers.CharField(read_only=True)

    class Meta:
        model = RealServer
        fields = [
            "id",
            "virtual_service",
            "endpoint",
            *REAL_SERVER_FIELDS,
            "host",
            "configured_by_hand",
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
