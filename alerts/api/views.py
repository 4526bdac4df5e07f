"""Alerts API viewsets: declare querysets and serializers; writes go through alerts.actions.

Reads are for every member of the team (the delivery log inside an alert for owners only); owners manage
channels and rules; operators and owners silence and acknowledge.
"""

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from alerts import actions
from alerts.api import serializers as alert_serializers
from alerts.models import Alert, Channel, Rule, Silence
from teams import policy


class TeamRows:
    """Lists and lookups see only the rows of the user's teams (others answer 404)."""

    def get_queryset(self):
        return policy.filtered_by_team(super().get_queryset(), self.request.user, "team_id")


SECRET = inline_serializer("ChannelSecret", {"secret": serializers.CharField()})
QUEUED = inline_serializer(
    "TestAlertQueued", {"delivery": serializers.IntegerField(), "detail": serializers.CharField()}
)


class ChannelViewSet(TeamRows, viewsets.ModelViewSet):
    """Alert channels: e-mail addresses or a webhook (JSON or Slack/Mattermost form), signed."""

    queryset = Channel.objects.select_related("team").order_by("team__slug", "name")
    serializer_class = alert_serializers.ChannelSerializer
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]
    policy_actions = {
        "partial_update": policy.MANAGE,
        "destroy": policy.MANAGE,
        "send_test": policy.MANAGE,
        "rotate_secret": policy.MANAGE,
    }

    def perform_destroy(self, instance):
        actions.delete_channel(acting_user=self.request.user, channel=instance)

    @extend_schema(request=None, responses={202: QUEUED})
    @action(detail=True, methods=["post"], url_path="test", pagination_class=None, filter_backends=[])
    def send_test(self, request, pk=None):
        """Send a test alert to the channel now; its delivery log tells how it went."""
        queued = actions.send_test_alert(acting_user=request.user, channel=self.get_object())
        return Response({"delivery": queued.pk, "detail": "Test alert queued."}, status=status.HTTP_202_ACCEPTED)

    @extend_schema(request=None, responses={200: SECRET})
    @action(detail=True, methods=["post"], url_path="rotate-secret", pagination_class=None, filter_backends=[])
    def rotate_secret(self, request, pk=None):
        """A new signing secret for a webhook channel, returned this once."""
        return Response({"secret": actions.rotate_secret(acting_user=request.user, channel=self.get_object())})


class RuleViewSet(TeamRows, viewsets.ModelViewSet):
    """Alert rules: which events, in which clusters, how severe, to which channels, grouped how long."""

    queryset = (
        Rule.objects.select_related("team").prefetch_related("clusters", "channels").order_by("team__slug", "name")
    )
    serializer_class = alert_serializers.RuleSerializer
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]
    policy_actions = {"partial_update": policy.MANAGE, "destroy": policy.MANAGE}

    def perform_destroy(self, instance):
        actions.delete_rule(acting_user=self.request.user, rule=instance)


class SilenceViewSet(
    TeamRows,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """Silences: DELETE ends one now (it stays listed, with its end)."""

    queryset = Silence.objects.select_related("team", "cluster").order_by("-ends_at", "-id")
    serializer_class = alert_serializers.SilenceSerializer
    policy_actions = {"destroy": policy.CHANGE}

    def perform_destroy(self, instance):
        actions.end_silence(acting_user=self.request.user, silence=instance)


class AlertViewSet(TeamRows, viewsets.ReadOnlyModelViewSet):
    """Alerts sent (or silenced) for the user's teams, newest first."""

    queryset = Alert.objects.select_related("team").order_by("-opened_at", "-id")
    serializer_class = alert_serializers.AlertSerializer
    policy_actions = {"acknowledge": policy.CHANGE}

    @extend_schema(request=None, responses={200: alert_serializers.AlertSerializer})
    @action(detail=True, methods=["post"], pagination_class=None, filter_backends=[])
    def acknowledge(self, request, pk=None):
        """Say that someone is on it (operators and owners); audited."""
        alert = actions.acknowledge_alert(acting_user=request.user, alert=self.get_object())
        return Response(self.get_serializer(alert).data)
