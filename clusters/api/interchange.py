"""API to import rules into a cluster (dry run or commit) and export its rules as text."""

from django.shortcuts import get_object_or_404
from django.urls import path
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import BaseRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from clusters import selectors
from clusters.actions.imports import ImportRejected, commit_import, preview_import
from clusters.exports import export_filename, export_text
from clusters.forms_interchange import FORMAT_CHOICES
from lvsweb.api_schema import VALIDATION_ERROR_REF


class ImportRequestSerializer(serializers.Serializer):
    """What to import."""

    format = serializers.ChoiceField(choices=[value for value, _ in FORMAT_CHOICES], default="auto")
    text = serializers.CharField(trim_whitespace=False, help_text="ipvsadm-save -n text or keepalived.conf blocks")
    dry_run = serializers.BooleanField(default=False, help_text="Only preview: check everything, save nothing.")
    update_existing = serializers.BooleanField(
        default=False, help_text="Change services and real servers already in the cluster to match (never deletes)."
    )


class ProblemSerializer(serializers.Serializer):
    """A problem on a line of the text (line 0: the text as a whole)."""

    line = serializers.IntegerField()
    message = serializers.CharField()


class PlanRowSerializer(serializers.Serializer):
    """A service or real server of the import and what happens to it."""

    line = serializers.IntegerField()
    kind = serializers.ChoiceField(choices=["service", "real_server"])
    label = serializers.CharField()
    service = serializers.CharField()
    change = serializers.ChoiceField(choices=["create", "update", "unchanged", "conflict"])
    details = serializers.ListField(child=serializers.CharField())


class ImportResultSerializer(serializers.Serializer):
    """The preview, or what was committed."""

    format = serializers.CharField()
    dry_run = serializers.BooleanField()
    committed = serializers.BooleanField()
    ok = serializers.BooleanField()
    counts = serializers.DictField(child=serializers.IntegerField())
    rows = PlanRowSerializer(many=True)
    errors = ProblemSerializer(many=True)
    warnings = ProblemSerializer(many=True)
    not_imported = ProblemSerializer(many=True)
    errors_omitted = serializers.IntegerField(help_text="Errors found beyond the first 100 listed.")
    warnings_omitted = serializers.IntegerField(help_text="Warnings found beyond the first 100 listed.")
    not_imported_omitted = serializers.IntegerField(help_text="Keywords left out beyond the first 100 listed.")


def _answer(result, dry_run: bool, code: int) -> Response:
    data = {
        "format": result.format,
        "dry_run": dry_run,
        "committed": result.committed,
        "ok": result.ok,
        "counts": result.counts,
        "rows": result.rows,
        "errors": result.errors,
        "warnings": result.warnings,
        "not_imported": result.not_imported,
        "errors_omitted": result.errors.omitted,
        "warnings_omitted": result.warnings.omitted,
        "not_imported_omitted": result.not_imported.omitted,
    }
    return Response(ImportResultSerializer(data).data, status=code)


class ClusterImportView(APIView):
    """Import ipvsadm-save text or keepalived.conf blocks into a cluster (operators); `dry_run` only previews.

    200: a dry run without errors, or a commit with nothing to change; 201: committed as one audited change;
    400: errors by line (a dry run's too, as its commit would answer), nothing saved.
    """

    @extend_schema(
        request=ImportRequestSerializer,
        responses={
            200: ImportResultSerializer,
            201: ImportResultSerializer,
            400: OpenApiResponse(
                {"oneOf": [{"$ref": "#/components/schemas/ImportResult"}, VALIDATION_ERROR_REF]},
                description="The import was refused (an `ImportResult` with its errors by line), or the request "
                "itself was invalid (fields named with their problems).",
            ),
        },
    )
    def post(self, request, slug):
        cluster = get_object_or_404(selectors.visible_clusters(request.user), slug=slug)
        body = ImportRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        options = dict(body.validated_data)
        dry_run = options.pop("dry_run")
        if dry_run:
            result = preview_import(acting_user=request.user, cluster=cluster, **options)
            # A preview with errors answers as the commit would: 400, the errors by line.
            return _answer(result, True, status.HTTP_200_OK if result.ok else status.HTTP_400_BAD_REQUEST)
        try:
            result = commit_import(acting_user=request.user, cluster=cluster, **options)
        except ImportRejected as rejected:
            return _answer(rejected.result, False, status.HTTP_400_BAD_REQUEST)
        return _answer(result, False, status.HTTP_201_CREATED if result.changes else status.HTTP_200_OK)


class PlainTextRenderer(BaseRenderer):
    """The export's text as it is."""

    media_type = "text/plain"
    format = "txt"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        if isinstance(data, dict):  # an error: {"detail": "Not found."} and the like
            data = "".join(
                f"{key}: {' '.join(map(str, value)) if isinstance(value, list) else value}\n"
                for key, value in data.items()
            )
        elif isinstance(data, list):
            data = "".join(f"{item}\n" for item in data)
        return str(data).encode(self.charset)


class ExportNegotiation(DefaultContentNegotiation):
    """`?format=` names the rules' format here, not a renderer: the answer is always text."""

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


class ClusterExportView(APIView):
    """A cluster's rules as `ipvsadm-save -n` text (`?format=ipvsadm`, the default) or keepalived.conf blocks."""

    renderer_classes = [PlainTextRenderer]
    content_negotiation_class = ExportNegotiation

    @extend_schema(
        parameters=[OpenApiParameter("format", str, enum=["ipvsadm", "keepalived"], default="ipvsadm")],
        responses={
            (200, "text/plain"): OpenApiResponse(OpenApiTypes.STR, description="the rules as text"),
            (400, "text/plain"): OpenApiResponse(OpenApiTypes.STR, description="an unknown format"),
        },
    )
    def get(self, request, slug):
        cluster = get_object_or_404(selectors.visible_clusters(request.user), slug=slug)
        format = request.query_params.get("format") or "ipvsadm"
        if format not in ("ipvsadm", "keepalived"):
            raise ValidationError({"format": [f"Give ?format=ipvsadm or ?format=keepalived, not “{format}”."]})
        response = Response(export_text(cluster, format))
        response["Content-Disposition"] = f'attachment; filename="{export_filename(cluster, format)}"'
        return response


urlpatterns = [
    path("clusters/<slug:slug>/import/", ClusterImportView.as_view(), name="cluster-import"),
    path("clusters/<slug:slug>/export/", ClusterExportView.as_view(), name="cluster-export"),
]
