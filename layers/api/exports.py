"""REST view of exports: a layer's features (optionally a bbox and filters) as a file."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from django.conf import settings
from django.http import FileResponse, StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema

from layers.features import exports
from layers.features.query import feature_query_from_params, parse_int

from .base import ApiView, query_params
from .errors import ErrorSerializer
from .features import FILTER_HELP, QUERY_PARAMETERS
from .layers import layer_or_404
from .throttles import AnonymousScopedThrottle


class _TemporaryFile:
    """A file read once then removed with its folder (the answer closes it when sent)."""

    def __init__(self, path: Path, directory: Path) -> None:
        self.handle = path.open("rb")
        self.directory = directory

    def __iter__(self):
        return iter(lambda: self.handle.read(1 << 16), b"")

    def read(self, size: int = -1) -> bytes:
        return self.handle.read(size)

    def close(self) -> None:
        self.handle.close()
        shutil.rmtree(self.directory, ignore_errors=True)


class LayerExportApi(ApiView):
    """A layer's features as GeoJSON, CSV, GeoPackage or zipped Shapefile."""

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
            400: ErrorSerializer,
            404: ErrorSerializer,
            413: ErrorSerializer,
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
        query = feature_query_from_params(layer=layer, params=params)
        limit_or_all = limit or None
        exports.check_size(query, limit=limit_or_all)
        filename = f"{layer.slug}.{export_format.suffix}"
        if export_format.streamed:
            writer = exports.geojson_chunks if fmt == "geojson" else exports.csv_chunks
            response = StreamingHttpResponse(
                writer(layer, query, limit=limit_or_all, offset=offset),
                content_type=export_format.content_type,
            )
        else:
            directory = Path(tempfile.mkdtemp(prefix="export-"))
            try:
                writer = exports.write_gpkg if fmt == "gpkg" else exports.write_shapefile_zip
                path = writer(layer, query, limit=limit_or_all, offset=offset, directory=directory)
            except BaseException:
                shutil.rmtree(directory, ignore_errors=True)
                raise
            response = FileResponse(
                _TemporaryFile(path, directory), content_type=export_format.content_type
            )
            response["Content-Length"] = str(path.stat().st_size)
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        response["X-Content-Type-Options"] = "nosniff"
        return response
