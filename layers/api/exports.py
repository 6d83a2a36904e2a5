"""REST view of exports: a layer's features (optionally a bbox and filters) as a file.

GeoJSON and CSV of at most `EXPORT_INLINE_MAX_FEATURES` stream in the answer; larger ones and
every GeoPackage, Shapefile and KML become an export job for the workers, and the answer is
303 See Other to the job (`layers/api/export_jobs.py`), which a client polls until it has a
`download_url`.
"""

from __future__ import annotations

from django.conf import settings
from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status

from layers.exports import QUERY_KEYS, export_job_create
from layers.features import exports
from layers.features.crs import answer_in, crs_from_name
from layers.features.query import feature_query_from_params, parse_int

from .base import ApiView, query_params
from .errors import ErrorSerializer
from .export_jobs import export_job_accepted, export_job_link, requester_address
from .features import FILTER_HELP, QUERY_PARAMETERS
from .layers import layer_or_404
from .throttles import AnonymousScopedThrottle


class LayerExportApi(ApiView):
    """A layer's features as GeoJSON, CSV, GeoPackage, zipped Shapefile or KML."""

    throttle_classes = (AnonymousScopedThrottle,)
    throttle_scope = "exports"

    @extend_schema(
        operation_id="layers_export",
        parameters=[
            OpenApiParameter(
                "fmt",
                str,
                location=OpenApiParameter.PATH,
                enum=list(exports.FORMATS),
                description="The file format.",
            ),
            *[parameter for parameter in QUERY_PARAMETERS if parameter.name != "limit"],
            OpenApiParameter(
                "limit", int, description="At most this many features; all if absent."
            ),
        ],
        description=FILTER_HELP + " Without `limit` every matching feature is exported.",
        responses={
            (200, "application/octet-stream"): OpenApiResponse(
                OpenApiTypes.BINARY, description="The file"
            ),
            303: OpenApiResponse(
                description="GeoPackage, Shapefile, KML, and GeoJSON/CSV over "
                "EXPORT_INLINE_MAX_FEATURES: See Other, to the export job made for it "
                "(GET /api/v1/exports/{id}/)."
            ),
            400: ErrorSerializer,
            404: ErrorSerializer,
            413: ErrorSerializer,
            429: OpenApiResponse(ErrorSerializer, description="Too many exports under way."),
            503: OpenApiResponse(
                ErrorSerializer, description="The job is saved; it starts when the queue is back."
            ),
        },
        tags=["features"],
    )
    def get(self, request, slug: str, fmt: str):
        layer = layer_or_404(slug=slug, user=request.user)
        export_format = exports.FORMATS[fmt]
        params = query_params(request)
        limit = parse_int(
            params.pop("limit", None),
            parameter="limit",
            default=0,
            minimum=1,
            maximum=settings.EXPORT_MAX_FEATURES,
        )
        offset = parse_int(
            params.pop("offset", None), parameter="offset", default=0, minimum=0, maximum=10**9
        )
        query = feature_query_from_params(
            layer=layer, params={name: value for name, value in params.items() if name != "crs"}
        )
        if params.get("crs"):
            # The file's CRS, east (longitude) first as files keep it; a job keeps it too.
            query = answer_in(query, crs_from_name(params["crs"]), authority_axes=False)
        limit_or_all = limit or None
        count = exports.check_size(query, limit=limit_or_all)
        if not export_format.streamed or count > settings.EXPORT_INLINE_MAX_FEATURES:
            return self._job(request, layer, fmt, params, limit=limit_or_all, offset=offset)
        filename = f"{layer.slug}.{export_format.suffix}"
        writer = exports.geojson_chunks if fmt == "geojson" else exports.csv_chunks
        response = StreamingHttpResponse(
            writer(layer, query, limit=limit_or_all, offset=offset),
            content_type=export_format.content_type,
        )
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        response["X-Content-Type-Options"] = "nosniff"
        return response

    def _job(self, request, layer, fmt: str, params: dict, *, limit: int | None, offset: int):
        """Return 303 See Other to an export job making this file (503 while the queue is down)."""
        params = dict(params)
        params.pop("f", None)
        asked = {key: params.pop(key) for key in QUERY_KEYS if key in params}
        job = export_job_create(
            layer=layer,
            format="shp" if fmt == "shp.zip" else fmt,
            params={**asked, "filters": params, "limit": limit, "offset": offset},
            user=request.user,
            address=requester_address(request),
        )
        response = export_job_accepted(request, job)
        if response.status_code == status.HTTP_202_ACCEPTED:
            # See Other, to the file: a client following redirects (a browser, curl -L, GDAL,
            # QGIS) gets it once the worker wrote it (the download waits a while for that),
            # else a 202 with the job to poll. The body here is the job, for clients that look.
            response.status_code = status.HTTP_303_SEE_OTHER
            response["Location"] = export_job_link(request, "api:export-download", job)
        return response
