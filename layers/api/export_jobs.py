"""Export jobs API: a worker writes a layer's features to a file, then its requester downloads it.

POST /api/v1/layers/{slug}/exports/     {format, bbox, filters, q, properties, as_of, datetime,
                                         crs} → 202
GET  /api/v1/exports/{id}/              status, progress, and `download_url` once it succeeded
GET  /api/v1/exports/{id}/download/     the file (its creator or GIS staff; 410 once expired)
POST /api/v1/exports/{id}/cancel/       stop a queued or running export

An anonymous requester's job is followed with its key (`?key=`), which the URLs handed back carry.
"""

from __future__ import annotations

from urllib.parse import urlencode

from django.conf import settings
from django.http import FileResponse
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.throttling import BaseThrottle

from layers import exports
from layers.features.exports import FORMATS
from layers.models import ExportJob

from .accepted import job_accepted_response
from .base import ApiView
from .errors import ErrorSerializer
from .layers import layer_or_404
from .throttles import AnonymousScopedThrottle

KEY_PARAMETER = OpenApiParameter(
    "key", str, description="The key of an anonymous requester's job (in the URLs it was given)."
)
ERRORS = {
    404: OpenApiResponse(ErrorSerializer, description="No such job, or not yours to follow."),
}


class ExportJobInput(serializers.Serializer):
    """What to export: the format and which features (as the features endpoint filters them)."""

    format = serializers.ChoiceField(choices=ExportJob.Format.choices)
    bbox = serializers.JSONField(
        required=False, help_text="minlon,minlat,maxlon,maxlat (text or four numbers)."
    )
    q = serializers.CharField(required=False, allow_blank=True, max_length=200)
    filters = serializers.DictField(
        required=False, help_text='Attribute filters: {"loai": "chùa", "so_tang__gt": 2}.'
    )
    properties = serializers.JSONField(required=False, help_text="Only these properties.")
    limit = serializers.IntegerField(required=False, min_value=1)
    as_of = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=64,
        help_text="An ISO 8601 instant (2026-03-01T00:00:00Z): the layer as it was then.",
    )
    datetime = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=100,
        help_text="On a time-enabled layer, the features whose time meets this instant or "
        "interval (OGC API: 2025-07-01, 2025-01-01/2025-06-30, ../2025-06-30).",
    )
    crs = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=200,
        help_text="The file's CRS: EPSG:9214 (VN-2000 / TM-3 107-00, Huế), another offered "
        "one, or its OGC URI; WGS 84 if absent. The .prj and the GeoPackage say it.",
    )
    filter = serializers.JSONField(
        required=False,
        help_text="A CQL2 filter, as on the features (text, or CQL2 JSON as text or an object).",
    )

    def get_fields(self) -> dict:
        # The CQL2 parameters keep their OGC names, with a hyphen no Python attribute can have.
        fields = super().get_fields()
        fields["filter-lang"] = serializers.ChoiceField(
            choices=["cql2-text", "cql2-json"], required=False, help_text="The filter's language."
        )
        fields["filter-crs"] = serializers.CharField(
            required=False, max_length=200, help_text="The CRS of the filter's geometries."
        )
        return fields


def export_job_link(request, name: str, job: ExportJob) -> str:
    """Return the URL `name` of a job (an anonymous requester's carries the job's key)."""
    path = reverse(name, kwargs={"job_id": job.pk})
    if job.created_by_id is None:
        path += "?" + urlencode({"key": exports.export_key(job)})
    return request.build_absolute_uri(path) if request else path


class ExportJobOutput(serializers.ModelSerializer):
    """An export job: where it stands and, once it succeeded, where to download it until when."""

    url = serializers.SerializerMethodField()
    download_url = serializers.SerializerMethodField()
    cancel_url = serializers.SerializerMethodField()
    layer = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    params = serializers.SerializerMethodField()
    progress = serializers.DictField(source="progress_summary", read_only=True)

    class Meta:
        model = ExportJob
        fields = [
            "id",
            "url",
            "status",
            "layer",
            "format",
            "params",
            "progress",
            "feature_count",
            "size_bytes",
            "file_name",
            "download_url",
            "expires_at",
            "cancel_url",
            "messages",
            "created_at",
            "started_at",
            "finished_at",
        ]
        read_only_fields = fields

    def _absolute(self, name: str, job: ExportJob) -> str:
        return export_job_link(self.context.get("request"), name, job)

    def get_url(self, job: ExportJob) -> str:
        return self._absolute("api:export-detail", job)

    def get_cancel_url(self, job: ExportJob) -> str:
        return self._absolute("api:export-cancel", job)

    def get_download_url(self, job: ExportJob) -> str | None:
        if job.status != ExportJob.Status.SUCCEEDED or not job.file:
            return None
        return self._absolute("api:export-download", job)

    def get_params(self, job: ExportJob) -> dict:
        # Who asked and the layer's version stay on the server: they only tell jobs apart.
        return {k: v for k, v in job.params.items() if k not in {"requester", "layer_version"}}


def requester_address(request) -> str:
    """Return the requester's address as the throttles see it (NUM_PROXIES aware)."""
    return BaseThrottle().get_ident(request) or ""


def export_job_accepted(request, job: ExportJob) -> Response:
    """Return 202 with the job (503 with it while the queue is down)."""
    body = ExportJobOutput(job, context={"request": request}).data
    return job_accepted_response(body, dispatch=getattr(job, "dispatch", None))


class LayerExportJobApi(ApiView):
    """Ask a worker for a file of the layer's features."""

    throttle_classes = (AnonymousScopedThrottle,)
    throttle_scope = "exports"

    @extend_schema(
        operation_id="layers_exports_create",
        request=ExportJobInput,
        responses={
            202: ExportJobOutput,
            400: ErrorSerializer,
            404: OpenApiResponse(ErrorSerializer, description="No such layer (or not visible)."),
            413: ErrorSerializer,
            429: OpenApiResponse(ErrorSerializer, description="Too many exports under way."),
            503: OpenApiResponse(
                ErrorSerializer, description="Saved; it starts when the work queue is back."
            ),
        },
        summary="Export a layer (a job)",
        tags=["exports"],
    )
    def post(self, request, slug: str):
        layer = layer_or_404(slug=slug, user=request.user)
        data = ExportJobInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        job = exports.export_job_create(
            layer=layer,
            format=values.pop("format"),
            params=values,
            user=request.user,
            address=requester_address(request),
        )
        return export_job_accepted(request, job)


class ExportJobDetailApi(ApiView):
    """One export job."""

    @extend_schema(
        operation_id="exports_retrieve",
        parameters=[KEY_PARAMETER],
        responses={200: ExportJobOutput, **ERRORS},
        summary="An export job",
        tags=["exports"],
    )
    def get(self, request, job_id: int):
        job = exports.export_job_for(
            job_id=job_id, user=request.user, key=request.GET.get("key", "")
        )
        response = Response(ExportJobOutput(job, context={"request": request}).data)
        response["Cache-Control"] = "private, no-store"
        return response


class ExportJobDownloadApi(ApiView):
    """The file of a finished export, to its requester, until it expires."""

    @extend_schema(
        operation_id="exports_download",
        parameters=[KEY_PARAMETER],
        responses={
            (200, "application/octet-stream"): OpenApiResponse(
                OpenApiTypes.BINARY, description="The file"
            ),
            **ERRORS,
            202: OpenApiResponse(
                ExportJobOutput,
                description="Still being written after EXPORT_DOWNLOAD_WAIT_S: ask again.",
            ),
            409: OpenApiResponse(ErrorSerializer, description="Failed or cancelled."),
            410: OpenApiResponse(ErrorSerializer, description="Expired; the file is deleted."),
        },
        summary="Download an export",
        tags=["exports"],
    )
    def get(self, request, job_id: int):
        job = exports.export_job_for(
            job_id=job_id, user=request.user, key=request.GET.get("key", "")
        )
        job = exports.export_wait(job=job, timeout_s=settings.EXPORT_DOWNLOAD_WAIT_S)
        if job.status in exports.ACTIVE:
            # Still being written: where it stands, and when to ask again.
            body = ExportJobOutput(job, context={"request": request}).data
            return Response(body, status=status.HTTP_202_ACCEPTED, headers={"Retry-After": "5"})
        handle = exports.export_file(job=job)
        response = FileResponse(
            handle,
            as_attachment=True,
            filename=job.file_name,
            content_type=FORMATS[exports.WRITER_FORMATS[job.format]].content_type,
        )
        response["Cache-Control"] = "private, no-store"
        response["X-Content-Type-Options"] = "nosniff"
        return response


class ExportJobCancelApi(ApiView):
    """Cancel an export that has not finished."""

    @extend_schema(
        operation_id="exports_cancel",
        request=None,
        parameters=[KEY_PARAMETER],
        responses={
            200: ExportJobOutput,
            **ERRORS,
            409: OpenApiResponse(ErrorSerializer, description="It has already finished."),
        },
        summary="Cancel an export",
        tags=["exports"],
    )
    def post(self, request, job_id: int):
        job = exports.export_job_for(
            job_id=job_id, user=request.user, key=request.GET.get("key", "")
        )
        job = exports.export_cancel(job=job)
        return Response(ExportJobOutput(job, context={"request": request}).data)
