"""Dispatch API: plan, apply, reconcile, revisions, deployments, enrollment and revocation."""

from django.conf import settings
from django.db.models import Prefetch
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.throttling import AnonRateThrottle
from rest_framework.views import APIView

from audit.context import client_address
from clusters import selectors
from clusters.compiler import inventory_snapshot
from dispatch import actions
from dispatch.api import filtersets, serializers
from dispatch.broker_acl import BrokerACLError
from dispatch.enrollment_warnings import enrollment_warnings
from dispatch.models import Deployment, Revision
from dispatch.revisions import inventory_diff
from teams import policy


class ClusterPlanView(APIView):
    """Ask every host's agent what it would change (a dry run)."""

    @extend_schema(request=None, responses={202: serializers.DeploymentSerializer(many=True)})
    def post(self, request, slug):
        cluster = get_object_or_404(selectors.visible_clusters(request.user), slug=slug)
        deployments = actions.plan_cluster(acting_user=request.user, cluster=cluster)
        return Response(serializers.DeploymentSerializer(deployments, many=True).data, status=status.HTTP_202_ACCEPTED)


class ClusterApplyView(APIView):
    """Make the inventory a new revision and send it to every host that can receive it."""

    @extend_schema(
        request=None,
        responses={
            202: serializers.RevisionSerializer,
            400: OpenApiResponse(
                description="Refused, nothing applied (`non_field_errors` says why): an earlier apply is still under "
                "way, the cluster has no hosts, or no host can receive it (each never enrolled or revoked)."
            ),
        },
    )
    def post(self, request, slug):
        cluster = get_object_or_404(selectors.visible_clusters(request.user), slug=slug)
        revision = actions.apply_cluster(acting_user=request.user, cluster=cluster)
        return Response(serializers.RevisionSerializer(revision).data, status=status.HTTP_202_ACCEPTED)


class ClusterReconcileView(APIView):
    """Ask one host's agent to repair drift by re-applying its document."""

    @extend_schema(request=serializers.ReconcileSerializer, responses={202: serializers.DeploymentSerializer})
    def post(self, request, slug):
        cluster = get_object_or_404(selectors.visible_clusters(request.user), slug=slug)
        body = serializers.ReconcileSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        host = get_object_or_404(selectors.visible_hosts(request.user), hostname=body.validated_data["host"])
        deployment = actions.reconcile_host(acting_user=request.user, cluster=cluster, host=host)
        return Response(serializers.DeploymentSerializer(deployment).data, status=status.HTTP_202_ACCEPTED)


class RealServerNowView(APIView):
    """Drain, enable or disable one real server now: the change alone, sent to the directors as a new revision."""

    @extend_schema(request=serializers.RealServerNowSerializer, responses={202: serializers.RevisionSerializer})
    def post(self, request, pk):
        real_server = get_object_or_404(
            selectors.visible_real_servers(request.user).select_related("virtual_service__cluster"), pk=pk
        )
        body = serializers.RealServerNowSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        revision = actions.apply_real_server_now(
            acting_user=request.user, real_server=real_server, state=body.validated_data["state"]
        )
        return Response(serializers.RevisionSerializer(revision).data, status=status.HTTP_202_ACCEPTED)


class HostEnrollmentTokenView(APIView):
    """Create a one-time enrollment token for a host; the answer shows the exact command to run there."""

    @extend_schema(request=None, responses={201: serializers.EnrollmentTokenSerializer})
    def post(self, request, pk):
        host = get_object_or_404(selectors.visible_hosts(request.user), pk=pk)
        token, secret = actions.create_enrollment_token(acting_user=request.user, host=host)
        server = request.build_absolute_uri("/").rstrip("/")
        answer = {
            "token": secret,
            "expires_at": token.expires_at,
            "command": f"lvsweb-agent enroll --server {server} --token {secret}",
            "warnings": enrollment_warnings(server, settings.AGENT_BROKER_URL),
        }
        return Response(serializers.EnrollmentTokenSerializer(answer).data, status=status.HTTP_201_CREATED)


class HostRevokeView(APIView):
    """Stop trusting a host's agent."""

    @extend_schema(request=None, responses={200: None})
    def post(self, request, pk):
        host = get_object_or_404(selectors.visible_hosts(request.user), pk=pk)
        host = actions.revoke_host(acting_user=request.user, host=host)
        return Response({"host": host.hostname, "revoked_at": host.revoked_at})


class EnrollThrottle(AnonRateThrottle):
    """Enrollment is unauthenticated (the token is the credential): limit guessing, per client address.

    The address is the console's one answer (`client_address`): X-Forwarded-For counts only behind the proxies
    LVSWEB_PROXY_COUNT declares, so that a client cannot escape the limit by sending a new one each time.
    """

    rate = "30/min"

    def get_ident(self, request) -> str:
        """The client's address as the lockout and the audit history see it."""
        return client_address(request) or ""


class AgentEnrollView(APIView):
    """`lvsweb-agent enroll` exchanges its one-time token and public key for its configuration."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes = [EnrollThrottle]

    @extend_schema(
        request=serializers.EnrollSerializer,
        responses={
            200: serializers.EnrollmentAnswerSerializer,
            503: OpenApiResponse(description="The broker cannot give the agent its own Redis user (why in `detail`)."),
        },
    )
    def post(self, request):
        body = serializers.EnrollSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            answer = actions.enroll_host(**body.validated_data)
        except BrokerACLError as exc:
            # The console's broker set-up, not the agent's request, is at fault: say what to fix.
            return Response(
                {"detail": f"Enrollment is not possible now: {exc}."}, status=status.HTTP_503_SERVICE_UNAVAILABLE
            )
        return Response(serializers.EnrollmentAnswerSerializer(answer).data)


class RevisionViewSet(viewsets.ReadOnlyModelViewSet):
    """Applied revisions of the user's clusters, newest first; diff two of them, or roll the inventory back to one.

    A list leaves out each revision's `inventory` and its deployments' `document` and `operations`; a revision's
    own page has them.

    A diff (and the rows a rollback changed) is one comparison, answered whole as a list: not paginated, not
    filtered by the revision list's filters.
    """

    def get_queryset(self):
        return policy.visible_by_cluster(self.request.user, super().get_queryset())

    queryset = Revision.objects.select_related("cluster").prefetch_related("deployments__host", "deployments__cluster")
    serializer_class = serializers.RevisionSerializer

    def get_serializer_class(self):
        return serializers.RevisionListSerializer if self.action == "list" else super().get_serializer_class()

    def filter_queryset(self, queryset):
        queryset = super().filter_queryset(queryset)
        if self.action != "list":
            return queryset
        # A page of revisions reads neither their inventories nor their deployments' documents (megabytes each).
        deployments = Deployment.objects.select_related("host", "cluster").defer(*serializers.LIST_OMITS)
        return queryset.defer("inventory").prefetch_related(None).prefetch_related(Prefetch("deployments", deployments))

    filterset_class = filtersets.RevisionFilterSet
    ordering_fields = ["number", "created_at"]
    ordering = ["cluster__slug", "-number"]

    @extend_schema(
        parameters=[
            OpenApiParameter("to", str, description="a revision number of the cluster, or “current” (default)")
        ],
        responses={200: serializers.InventoryChangeSerializer(many=True)},
    )
    @action(detail=True, methods=["get"], pagination_class=None, filter_backends=[])
    def diff(self, request, pk=None):
        """What changes from this revision to `?to=N` (another revision of the cluster) or to the current inventory."""
        revision = self.get_object()
        target = request.query_params.get("to", "current")
        if target == "current":
            new = inventory_snapshot(revision.cluster)
        else:
            other = None
            if target.isdigit():
                other = Revision.objects.filter(cluster=revision.cluster, number=int(target)).first()
            if other is None:
                raise ValidationError(
                    {"to": [f"Give a revision number of {revision.cluster} or “current”, not “{target}”."]}
                )
            new = other.inventory
        rows = inventory_diff(revision.inventory, new)
        return Response(serializers.InventoryChangeSerializer(rows, many=True).data)

    @extend_schema(request=None, responses={200: serializers.InventoryChangeSerializer(many=True)})
    @action(detail=True, methods=["post"], pagination_class=None, filter_backends=[])
    def rollback(self, request, pk=None):
        """Restore the cluster's inventory to this revision: a new, audited change that plan and apply then send."""
        rows = actions.rollback_to_revision(acting_user=request.user, revision=self.get_object())
        return Response(serializers.InventoryChangeSerializer(rows, many=True).data)


class DeploymentViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Deployments (plans, applies, reconciles) of the user's clusters and their status; a list leaves out each
    one's `document` and `operations`, which its own page has."""

    def get_queryset(self):
        return policy.visible_by_cluster(self.request.user, super().get_queryset())

    queryset = Deployment.objects.select_related("cluster", "host", "revision")
    serializer_class = serializers.DeploymentSerializer

    def get_serializer_class(self):
        return serializers.DeploymentListSerializer if self.action == "list" else super().get_serializer_class()

    def filter_queryset(self, queryset):
        queryset = super().filter_queryset(queryset)
        if self.action != "list":
            return queryset
        # The revision is there for its number only: not its inventory (megabytes), nor the documents.
        return queryset.defer(*serializers.LIST_OMITS, "revision__inventory")

    filterset_class = filtersets.DeploymentFilterSet
    ordering_fields = ["created_at", "status"]
    ordering = ["-id"]
