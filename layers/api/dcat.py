"""REST views of the open-data catalogue (DCAT-AP) and of each layer's ISO 19139 metadata."""

from __future__ import annotations

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema

from layers import catalogue_dcat
from layers.errors import InvalidParameter

from .base import ApiView
from .errors import ErrorSerializer
from .layers import layer_or_404

ACCEPTED = {media_type: fmt for fmt, (_, media_type) in catalogue_dcat.FORMATS.items()}


def _format(request) -> str:
    """Return the serialisation asked for: `?format=`, else the Accept header, else JSON-LD."""
    asked = request.query_params.get("format")
    if asked is not None:
        if asked not in catalogue_dcat.FORMATS:
            raise InvalidParameter(
                f"format: '{asked}' is not offered; use one of "
                f"{', '.join(catalogue_dcat.FORMATS)} (or send an Accept header)."
            )
        return asked
    for part in request.headers.get("Accept", "").split(","):
        media_type = part.split(";")[0].strip().lower()
        if media_type in ACCEPTED:
            return ACCEPTED[media_type]
    return "jsonld"


class DcatCatalogApi(ApiView):
    """The DCAT-AP catalogue of the public layers, for open-data portals (CKAN + ckanext-dcat)."""

    @extend_schema(
        operation_id="catalog_dcat",
        parameters=[
            OpenApiParameter(
                "format",
                str,
                enum=list(catalogue_dcat.FORMATS),
                description="jsonld (default), ttl or rdf (RDF/XML); else by the Accept header.",
            )
        ],
        responses={
            (200, "application/ld+json"): OpenApiResponse(OpenApiTypes.OBJECT),
            400: ErrorSerializer,
        },
        tags=["catalogue"],
    )
    def get(self, request):
        fmt = _format(request)
        graph = catalogue_dcat.catalogue_graph(request.build_absolute_uri)
        media_type = catalogue_dcat.FORMATS[fmt][1]
        response = HttpResponse(
            catalogue_dcat.serialise(graph, fmt), content_type=f"{media_type}; charset=utf-8"
        )
        response["Vary"] = "Accept"
        return response


class LayerIsoMetadataApi(ApiView):
    """A layer's ISO 19115 metadata as ISO 19139 XML (404 for a layer the requester may not see)."""

    @extend_schema(
        operation_id="layers_metadata_iso",
        responses={
            (200, "application/xml"): OpenApiResponse(OpenApiTypes.STR),
            404: ErrorSerializer,
        },
        tags=["catalogue"],
    )
    def get(self, request, slug: str):
        layer = layer_or_404(slug=slug, user=request.user)
        xml = catalogue_dcat.iso_metadata_xml(layer, request.build_absolute_uri)
        response = HttpResponse(xml, content_type="application/xml; charset=utf-8")
        if layer.visibility != "public":
            response["Cache-Control"] = "private"
            response["Vary"] = "Cookie, Authorization"
        return response
