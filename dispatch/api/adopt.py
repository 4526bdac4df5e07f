"""API to adopt a live host (docs/api.md, "Adopt"): read its kernel, preview the proposal, commit it.

POST /api/hosts/{id}/adopt/                       ask the agent to read (202, the reading: pending)
GET  /api/hosts/{id}/adopt/{reading}/             the reading: status, error, what the kernel runs
POST /api/hosts/{id}/adopt/{reading}/preview/     the proposal (200; 400 with the conflicts)
POST /api/hosts/{id}/adopt/{reading}/commit/      adopt and apply (201 with the revision; 400: nothing saved)
"""

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from clusters import selectors
from dispatch.actions.adopt import AdoptRejected, AdoptResult, commit_adopt, preview_adopt, request_reading
from dispatch.actions.readings import reading_status
from dispatch.models import KernelReading
from teams import policy
from teams.models import Team


class KernelReadingSerializer(serializers.ModelSerializer):
    """A `read` command and the agent's answer (`reading`: lvsweb_agent.adopt's format)."""

    host: serializers.SlugRelatedField = serializers.SlugRelatedField(slug_field="hostname", read_only=True)
    status = serializers.SerializerMethodField()
    error = serializers.SerializerMethodField()

    class Meta:
        model = KernelReading
        fields = ["id", "host", "status", "error", "requested_by_name", "reading", "created_at", "finished_at"]
        read_only_fields = fields

    def get_status(self, obj: KernelReading) -> str:
        return reading_status(obj)[0]

    def get_error(self, obj: KernelReading) -> str:
        return reading_status(obj)[1]


class NewClusterSerializer(serializers.Serializer):
    """The cluster to create for the adopted objects."""

    team = serializers.SlugRelatedField(slug_field="slug", queryset=Team.objects.all())
    name = serializers.CharField(max_length=100)
    slug = serializers.SlugField(max_length=100)


class AdoptSerializer(serializers.Serializer):
    """Into which cluster (`cluster`: a slug, or `new_cluster`), leaving out `exclude` (services in the reading's
    words, e.g. `tcp 10.0.0.1:80`), changing existing services to match the kernel when `update_existing`."""

    cluster = serializers.SlugField(required=False, allow_null=True, default=None)
    new_cluster = NewClusterSerializer(required=False, allow_null=True, default=None)
    exclude = serializers.ListField(child=serializers.CharField(max_length=200), required=False, default=list)
    update_existing = serializers.BooleanField(required=False, default=False)


def result_body(result: AdoptResult) -> dict:
    """A preview or commit as JSON: the rows, the conflicts, the adopting apply's operations on the host."""
    return {
        "cluster": result.cluster.slug,
        "new_cluster": result.new_cluster,
        "role": result.role,
        "ok": result.ok,
        "counts": result.imported.counts,
        "rows": [
            {"kind": row.kind, "label": row.label, "service": row.service, "change": row.change, "details": row.details}
            for row in result.imported.rows
        ],
        "errors": [problem.message for problem in result.imported.errors],
        "warnings": result.warnings,
        "operations": result.operations,
        "kernel_operations": len(result.kernel_operations),
        "notes": result.notes,
        "revision": result.revision.number if result.revision else None,
    }


class HostAdoptReadView(APIView):
    """Ask the host's agent what its kernel runs (operators and owners of the host's team)."""

    @extend_schema(request=None, responses={202: KernelReadingSerializer})
    def post(self, request, pk):
        host = get_object_or_404(selectors.visible_hosts(request.user), pk=pk)
        reading = request_reading(acting_user=request.user, host=host)
        return Response(KernelReadingSerializer(reading).data, status=status.HTTP_202_ACCEPTED)


class ReadingMixin:
    def reading(self, request, pk: int, reading: int) -> KernelReading:
        host = get_object_or_404(selectors.visible_hosts(request.user), pk=pk)
        policy.require(request.user, "edit", host)
        return get_object_or_404(KernelReading.objects.select_related("host"), pk=reading, host=host)

    def adopt_options(self, request, data) -> dict:
        body = AdoptSerializer(data=data)
        body.is_valid(raise_exception=True)
        cluster = None
        if body.validated_data["cluster"]:
            cluster = get_object_or_404(selectors.visible_clusters(request.user), slug=body.validated_data["cluster"])
        return {
            "acting_user": request.user,
            "cluster": cluster,
            "new_cluster": body.validated_data["new_cluster"],
            "exclude": frozenset(body.validated_data["exclude"]),
            "update_existing": body.validated_data["update_existing"],
        }


class HostAdoptReadingView(ReadingMixin, APIView):
    """One reading of the host's kernel."""

    @extend_schema(responses={200: KernelReadingSerializer})
    def get(self, request, pk, reading):
        return Response(KernelReadingSerializer(self.reading(request, pk, reading)).data)


class HostAdoptPreviewView(ReadingMixin, APIView):
    """What adopting the reading would do; nothing is kept."""

    @extend_schema(request=AdoptSerializer, responses={200: dict, 400: OpenApiResponse(description="Conflicts.")})
    def post(self, request, pk, reading):
        options = self.adopt_options(request, request.data)
        result = preview_adopt(reading=self.reading(request, pk, reading), **options)
        return Response(result_body(result), status=status.HTTP_200_OK if result.ok else status.HTTP_400_BAD_REQUEST)


class HostAdoptCommitView(ReadingMixin, APIView):
    """Adopt the reading and apply the cluster (the adopting revision); all or nothing."""

    @extend_schema(request=AdoptSerializer, responses={201: dict, 400: OpenApiResponse(description="Nothing saved.")})
    def post(self, request, pk, reading):
        try:
            result = commit_adopt(
                reading=self.reading(request, pk, reading), **self.adopt_options(request, request.data)
            )
        except AdoptRejected as rejected:
            return Response(result_body(rejected.result), status=status.HTTP_400_BAD_REQUEST)
        return Response(result_body(result), status=status.HTTP_201_CREATED)
