"""The import API for GIS staff: upload a file into a layer (or a new one), then watch the job.

POST /api/v1/layers/{slug}/imports/   multipart: file, mode, srid, encoding, source_layer,
                                      lon_field, lat_field                → 202 {"id", "url"…}
POST /api/v1/imports/                 the same with layer_slug, title, category: a new layer
GET  /api/v1/imports/                 the latest jobs
GET  /api/v1/imports/options/         what may be chosen: CRSs by name, encodings, modes
GET  /api/v1/imports/{id}/            status, progress, counts, messages, report
POST /api/v1/imports/{id}/cancel/     stop a queued or running job (the layer stays as it was);
                                      an optional "reason" is kept in the job's messages
A POST answers 503 with the saved job (id, url) when the work queue is down: it starts once the
queue is back (docs/operations.md).
"""

from __future__ import annotations

from django.conf import settings
from django.db import transaction
from django.urls import reverse
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response

from layers import imports, selectors
from layers.errors import InvalidParameter, NotFound, TooLarge
from layers.importers.crs import NAMED_CRS
from layers.importers.detect import SUPPORTED
from layers.importers.encodings import ENCODING_CHOICES
from layers.importers.uploads import UploadLimitHandler, declared_too_large, limit_uploads
from layers.models import Category, ImportJob, Layer

from .accepted import job_accepted_response
from .base import ApiView
from .errors import ErrorSerializer
from .layers import require_staff

ERRORS = {
    400: OpenApiResponse(ErrorSerializer, description="An option is wrong; `parameter` names it."),
    403: OpenApiResponse(ErrorSerializer, description="Only GIS staff may import."),
    404: OpenApiResponse(ErrorSerializer, description="No such layer or job."),
}


class ImportOptionsInput(serializers.Serializer):
    """The file and how to read it; every option but the file may be left out."""

    file = serializers.FileField(help_text=f"The data: {SUPPORTED}.")
    srid = serializers.CharField(
        required=False, allow_blank=True, help_text="EPSG code when the file has no CRS (9214…)."
    )
    encoding = serializers.CharField(
        required=False,
        allow_blank=True,
        help_text="Text encoding: utf-8, cp1258, tcvn3, vni, latin-1… (any name Python knows).",
    )
    source_layer = serializers.CharField(
        required=False, allow_blank=True, max_length=255, help_text="Layer of a multi-layer file."
    )
    lon_field = serializers.CharField(required=False, allow_blank=True, max_length=255)
    lat_field = serializers.CharField(required=False, allow_blank=True, max_length=255)

    def validate_file(self, upload):
        limit = settings.IMPORT_MAX_UPLOAD_BYTES
        if upload.size > limit:
            raise serializers.ValidationError(
                f"The file is {upload.size / 2**20:.1f} MiB; at most {limit / 2**20:.0f} MiB "
                "are accepted."
            )
        return upload

    def validate(self, data: dict) -> dict:
        try:
            data["options"] = imports.import_options_clean(data)
        except ValueError as error:
            field, message = error.args
            raise serializers.ValidationError({field: message}) from error
        return data


class LayerImportInput(ImportOptionsInput):
    mode = serializers.ChoiceField(
        choices=[ImportJob.Mode.REPLACE, ImportJob.Mode.APPEND],
        default=ImportJob.Mode.REPLACE,
        help_text="replace the layer's features, or append to them.",
    )


class NewLayerImportInput(ImportOptionsInput):
    layer_slug = serializers.SlugField(max_length=100, help_text="Slug of the new layer.")
    title = serializers.CharField(max_length=200, help_text="Its title (Vietnamese).")
    category = serializers.SlugField(
        required=False, allow_blank=True, help_text="Category slug; a default one otherwise."
    )

    def validate_layer_slug(self, slug: str) -> str:
        if Layer.objects.filter(slug=slug).exists():
            raise serializers.ValidationError(f"A layer “{slug}” exists already.")
        return slug

    def validate_category(self, slug: str) -> Category | None:
        if not slug:
            return None
        category = Category.objects.filter(slug=slug).first()
        if category is None:
            raise serializers.ValidationError(f"No category “{slug}”.")
        return category


class ImportJobOutput(serializers.ModelSerializer):
    """An import job: where it stands, what it counted and said."""

    url = serializers.SerializerMethodField()
    layer = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    progress = serializers.DictField(source="progress_summary", read_only=True)
    counts = serializers.SerializerMethodField()
    created_by = serializers.StringRelatedField()

    class Meta:
        model = ImportJob
        fields = [
            "id",
            "url",
            "status",
            "layer",
            "mode",
            "source_name",
            "options",
            "progress",
            "counts",
            "messages",
            "report",
            "created_by",
            "created_at",
            "started_at",
            "finished_at",
        ]
        read_only_fields = fields

    def get_url(self, job: ImportJob) -> str:
        path = reverse("api:import-detail", kwargs={"job_id": job.pk})
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request else path

    def get_counts(self, job: ImportJob) -> dict:
        return {
            "imported": job.imported_count,
            "repaired": job.repaired_count,
            "skipped": job.skipped_count,
        }


class LimitedUploadMixin:
    """Refuse an oversized upload before its body is read, and count the bytes of the rest.

    Done before DRF authenticates: a session's CSRF check reads the body.
    """

    upload_limit: UploadLimitHandler | None = None

    def initial(self, request, *args, **kwargs):
        if request.method == "POST":
            refusal = declared_too_large(request.META)
            if refusal:
                raise TooLarge(refusal, parameter="file")
            self.upload_limit = limit_uploads(request._request)
        super().initial(request, *args, **kwargs)

    def refuse_oversized(self, request) -> None:
        """Raise TooLarge when the file went past the limit while it was read."""
        request.data  # noqa: B018 -- reads the body, through the counting handler
        if self.upload_limit is not None and self.upload_limit.refusal:
            raise TooLarge(self.upload_limit.refusal, parameter="file")


def _job_or_404(job_id: int) -> ImportJob:
    job = selectors.import_job_get(job_id=job_id)
    if job is None:
        raise NotFound(f"No import job {job_id}.")
    return job


def _accepted(request, job: ImportJob) -> Response:
    body = ImportJobOutput(job, context={"request": request}).data
    return job_accepted_response(body, dispatch=getattr(job, "dispatch", None))


class LayerImportApi(LimitedUploadMixin, ApiView):
    """Upload a file into an existing layer (replace or append)."""

    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(
        request={"multipart/form-data": LayerImportInput},
        responses={202: ImportJobOutput, **ERRORS},
        summary="Import a file into a layer",
    )
    def post(self, request, slug: str):
        require_staff(request)
        self.refuse_oversized(request)
        layer = Layer.objects.filter(slug=slug).first()
        if layer is None:
            raise NotFound(f"No layer '{slug}'.")
        data = LayerImportInput(data=request.data)
        data.is_valid(raise_exception=True)
        job = imports.import_job_create(
            layer=layer,
            upload=data.validated_data["file"],
            mode=data.validated_data["mode"],
            options=data.validated_data["options"],
            user=request.user,
        )
        return _accepted(request, job)


class ImportListApi(LimitedUploadMixin, ApiView):
    """The latest import jobs; a POST imports a file into a new layer."""

    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(responses={200: ImportJobOutput(many=True), **ERRORS}, summary="Import jobs")
    def get(self, request):
        require_staff(request)
        jobs = selectors.import_jobs_latest(limit=50)
        return Response(ImportJobOutput(jobs, many=True, context={"request": request}).data)

    @extend_schema(
        request={"multipart/form-data": NewLayerImportInput},
        responses={202: ImportJobOutput, **ERRORS},
        summary="Import a file as a new layer",
    )
    def post(self, request):
        require_staff(request)
        self.refuse_oversized(request)
        data = NewLayerImportInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        with transaction.atomic():
            layer = imports.import_layer_create(
                slug=values["layer_slug"],
                title=values["title"],
                category=values.get("category"),
                user=request.user,
            )
            job = imports.import_job_create(
                layer=layer,
                upload=values["file"],
                mode=ImportJob.Mode.CREATE,
                options=values["options"],
                user=request.user,
            )
        return _accepted(request, job)


class ImportDetailApi(ApiView):
    """One import job."""

    @extend_schema(responses={200: ImportJobOutput, **ERRORS}, summary="An import job")
    def get(self, request, job_id: int):
        require_staff(request)
        job = _job_or_404(job_id)
        return Response(ImportJobOutput(job, context={"request": request}).data)


class ImportCancelApi(ApiView):
    """Cancel a job that has not finished; the layer keeps its data."""

    @extend_schema(request=None, responses={200: ImportJobOutput, **ERRORS}, summary="Cancel")
    def post(self, request, job_id: int):
        require_staff(request)
        job = _job_or_404(job_id)
        reason = str(request.data.get("reason", "")) if hasattr(request.data, "get") else ""
        if not imports.import_cancel(job=job, user=request.user, reason=reason):
            raise InvalidParameter(f"The job has already {job.status}.", parameter="job_id")
        return Response(ImportJobOutput(job, context={"request": request}).data)


class ImportOptionsApi(ApiView):
    """What an uploader may choose: CRSs by name (VN-2000 among them), encodings, modes."""

    @extend_schema(responses={200: dict, **ERRORS}, summary="Import choices")
    def get(self, request):
        require_staff(request)
        return Response(
            {
                "formats": SUPPORTED,
                "max_upload_bytes": settings.IMPORT_MAX_UPLOAD_BYTES,
                "modes": [m for m, _label in ImportJob.Mode.choices],
                "crs": [{"srid": c.srid, "name": c.name} for c in NAMED_CRS],
                "encodings": [{"code": c, "name": n} for c, n in ENCODING_CHOICES],
            }
        )
