"""API representations of alert channels, rules, silences and alerts; writes go through alerts.actions."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from alerts import actions
from alerts.events import EVENT_TYPE_NAMES
from alerts.models import Alert, Channel, Delivery, Rule, Silence
from clusters import selectors
from clusters.api.serializers import NamedRelatedField
from clusters.models import Cluster
from teams import policy
from teams.models import Team

CHANNEL_WRITABLE = ["name", "kind", "addresses", "url", "rate_limit_per_hour", "enabled"]


class ActingUser:
    """The request's user, and related-field choices narrowed to what that user can see (others: "does not exist")."""

    def acting_user(self):
        request = self.context.get("request")
        return getattr(request, "user", None)

    def narrow(self, fields: dict) -> dict:
        user = self.acting_user()
        choices = {
            "team": policy.visible_teams(user),
            "cluster": selectors.visible_clusters(user),
            "clusters": selectors.visible_clusters(user),
            "channels": policy.filtered_by_team(Channel.objects.all(), user, "team_id"),
        }
        for name, queryset in choices.items():
            field = fields.get(name)
            if field is None or field.read_only:
                continue
            target = getattr(field, "child_relation", field)
            target.queryset = queryset
        return fields


class ChannelSerializer(ActingUser, serializers.ModelSerializer):
    """A channel; `secret` (webhooks) appears once, in the answer to its creation."""

    team = NamedRelatedField(slug_field="slug", queryset=Team.objects.all())

    class Meta:
        model = Channel
        fields = ["id", "team", *CHANNEL_WRITABLE, "failing_since", "last_error", "created_at", "updated_at"]
        read_only_fields = ["failing_since", "last_error"]

    def get_fields(self):
        fields = self.narrow(super().get_fields())
        if self.instance is not None and not isinstance(self.instance, list | tuple):
            fields["team"].read_only = True
        return fields

    def create(self, validated_data):
        team = validated_data.pop("team")
        channel, secret = actions.create_channel(acting_user=self.acting_user(), team=team, fields=validated_data)
        channel.new_secret = secret
        return channel

    def update(self, instance, validated_data):
        validated_data.pop("team", None)
        return actions.update_channel(acting_user=self.acting_user(), channel=instance, fields=validated_data)

    def to_representation(self, instance):
        data = super().to_representation(instance)
        if getattr(instance, "new_secret", ""):
            data["secret"] = instance.new_secret
        return data


class RuleSerializer(ActingUser, serializers.ModelSerializer):
    """A rule: event types (none: all), clusters by slug (none: all of the team's), channels by id."""

    team = NamedRelatedField(slug_field="slug", queryset=Team.objects.all())
    event_types = serializers.ListField(child=serializers.ChoiceField(choices=EVENT_TYPE_NAMES), required=False)
    clusters = NamedRelatedField(slug_field="slug", many=True, queryset=Cluster.objects.all(), required=False)
    channels = serializers.PrimaryKeyRelatedField(many=True, queryset=Channel.objects.all())

    class Meta:
        model = Rule
        fields = [
            "id",
            "team",
            "name",
            "event_types",
            "clusters",
            "all_clusters",
            "min_severity",
            "channels",
            "group_seconds",
            "enabled",
            "created_at",
            "updated_at",
        ]
        validators: list = []

    def get_fields(self):
        fields = self.narrow(super().get_fields())
        if self.instance is not None and not isinstance(self.instance, list | tuple):
            fields["team"].read_only = True
        return fields

    def create(self, validated_data):
        team = validated_data.pop("team")
        clusters = validated_data.pop("clusters", [])
        channels = validated_data.pop("channels", [])
        return actions.create_rule(
            acting_user=self.acting_user(), team=team, fields=validated_data, clusters=clusters, channels=channels
        )

    def update(self, instance, validated_data):
        validated_data.pop("team", None)
        return actions.update_rule(
            acting_user=self.acting_user(),
            rule=instance,
            fields={k: v for k, v in validated_data.items() if k not in ("clusters", "channels")},
            clusters=validated_data.get("clusters"),
            channels=validated_data.get("channels"),
        )


class SilenceSerializer(ActingUser, serializers.ModelSerializer):
    """A silence of a team's alerts (of one cluster, of one event type, when named) until `ends_at`."""

    team = NamedRelatedField(slug_field="slug", queryset=Team.objects.all())
    cluster = NamedRelatedField(slug_field="slug", queryset=Cluster.objects.all(), required=False, allow_null=True)
    event_type = serializers.ChoiceField(choices=["", *EVENT_TYPE_NAMES], required=False, default="")
    active = serializers.BooleanField(read_only=True)

    class Meta:
        model = Silence
        fields = ["id", "team", "cluster", "event_type", "starts_at", "ends_at", "reason", "created_by_name", "active"]
        read_only_fields = ["starts_at", "created_by_name"]

    def get_fields(self):
        return self.narrow(super().get_fields())

    def create(self, validated_data):
        return actions.create_silence(acting_user=self.acting_user(), **validated_data)


class DeliverySerializer(serializers.ModelSerializer):
    """One delivery of an alert and its log."""

    channel = serializers.CharField(source="channel.name", read_only=True)

    class Meta:
        model = Delivery
        fields = ["id", "channel", "status", "attempts", "last_error", "log", "created_at", "sent_at"]


class AlertSerializer(ActingUser, serializers.ModelSerializer):
    """An alert; `deliveries` (its delivery log) for the team's owners only, null for everyone else."""

    team: serializers.SlugRelatedField = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    deliveries = serializers.SerializerMethodField()

    class Meta:
        model = Alert
        fields = [
            "id",
            "team",
            "rule_name",
            "event_type",
            "severity",
            "kind",
            "status",
            "title",
            "items",
            "cluster_ids",
            "opened_at",
            "send_after",
            "dispatched_at",
            "acknowledged_at",
            "acknowledged_by",
            "deliveries",
        ]
        read_only_fields = fields

    @extend_schema_field(DeliverySerializer(many=True, allow_null=True))
    def get_deliveries(self, alert):
        if not policy.can(self.acting_user(), policy.MANAGE, alert):
            return None
        return DeliverySerializer(alert.deliveries.select_related("channel").order_by("id"), many=True).data
