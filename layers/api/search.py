"""REST views across layers: name search and identify at a point, over the visible layers only."""

from __future__ import annotations

import math

from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from layers import selectors
from layers.errors import InvalidParameter, NotFound
from layers.features.query import parse_int, parse_number, parse_text
from layers.features.search import (
    MAX_RADIUS_3857,
    MAX_TOLERANCE_PX,
    identify_features,
    identify_radius_3857,
    layer_searched_fields,
    metres_per_pixel,
    search_features,
)
from layers.features.temporal import parse_datetime, time_filter
from layers.models import Layer

from .base import ApiView, query_params
from .errors import ErrorSerializer
from .throttles import AnonymousScopedThrottle

MAX_SEARCH_RESULTS = 100
MAX_IDENTIFY_RESULTS = 200


def layers_asked(user, value: str | None) -> list[Layer]:
    """Return the visible layers named in `layers=a,b` (in that order), or all visible ones.

    A layer the user may not see is answered exactly like one that does not exist.
    """
    visible = selectors.layers_visible_to(user=user)
    if not value:
        return list(visible)
    slugs = [slug.strip() for slug in value.split(",") if slug.strip()]
    found = {layer.slug: layer for layer in visible.filter(slug__in=slugs)}
    for slug in slugs:
        if slug not in found:
            raise NotFound(f"No layer '{slug}'.", parameter="layers")
    return [found[slug] for slug in dict.fromkeys(slugs)]


class SearchApi(ApiView):
    """Features of every visible layer whose name holds the words of `q`, best first."""

    throttle_classes = (AnonymousScopedThrottle,)
    throttle_scope = "search"

    class OutputSerializer(serializers.Serializer):
        layer = serializers.CharField()
        layer_title = serializers.CharField()
        id = serializers.IntegerField()
        name = serializers.CharField()
        score = serializers.FloatField()
        centroid = serializers.ListField(child=serializers.FloatField())
        bbox = serializers.ListField(child=serializers.FloatField())

    @extend_schema(
        operation_id="search",
        parameters=[
            OpenApiParameter("q", str, required=True, description="Words of a name."),
            OpenApiParameter("layers", str, description="Comma-separated layer slugs."),
            OpenApiParameter("limit", int, description=f"At most {MAX_SEARCH_RESULTS}; 20."),
        ],
        responses={
            200: OpenApiResponse(
                OpenApiTypes.OBJECT, description='{"q", "count", "results": [hit…]}'
            ),
            400: ErrorSerializer,
            404: ErrorSerializer,
            503: OpenApiResponse(
                ErrorSerializer,
                description="`timeout`: the search ran past SEARCH_STATEMENT_TIMEOUT_MS and was "
                "stopped; use more or longer words, or name the layers.",
            ),
        },
        tags=["search"],
    )
    def get(self, request):
        params = query_params(request)
        text = parse_text(params.get("q"))
        if not text:
            raise InvalidParameter("q is required: the words to look for.", parameter="q")
        limit = parse_int(
            params.get("limit"),
            parameter="limit",
            default=20,
            minimum=1,
            maximum=MAX_SEARCH_RESULTS,
        )
        layers = {layer.pk: layer for layer in layers_asked(request.user, params.get("layers"))}
        hits = search_features(
            layer_ids=list(layers),
            text=text,
            limit=limit,
            searched_fields=layer_searched_fields(layers.values()),
        )
        results = [
            {
                "layer": layers[hit.layer_id].slug,
                "layer_title": layers[hit.layer_id].title,
                "id": hit.id,
                "name": hit.name,
                "score": hit.score,
                "centroid": list(hit.centroid),
                "bbox": list(hit.bbox),
            }
            for hit in hits
        ]
        return Response(
            {
                "q": text,
                "count": len(results),
                "results": self.OutputSerializer(results, many=True).data,
            }
        )


class IdentifyApi(ApiView):
    """The features of visible layers at a point, within a few pixels at the map's zoom."""

    throttle_classes = (AnonymousScopedThrottle,)
    throttle_scope = "identify"

    @extend_schema(
        operation_id="identify",
        parameters=[
            OpenApiParameter("lon", float, required=True, description="Longitude (WGS 84)."),
            OpenApiParameter("lat", float, required=True, description="Latitude (WGS 84)."),
            OpenApiParameter("zoom", float, description="The map's zoom (MapLibre); 16."),
            OpenApiParameter("layers", str, description="Comma-separated slugs, top first."),
            OpenApiParameter(
                "tolerance",
                float,
                description=f"In pixels, 0 to {MAX_TOLERANCE_PX}; 5. The radius is at most "
                f"{MAX_RADIUS_3857:,} Web Mercator metres whatever the zoom.",
            ),
            OpenApiParameter(
                "geometry",
                bool,
                description="Include geometries; false. Past the answer's vertex budget "
                "(`API_MAX_VERTICES`) a feature comes without its geometry, with "
                "`geometry_omitted: true`.",
            ),
            OpenApiParameter("limit", int, description=f"At most {MAX_IDENTIFY_RESULTS}; 50."),
            OpenApiParameter(
                "datetime",
                str,
                description="Of the time-enabled layers, only the features whose time meets "
                "this instant or interval (OGC syntax, as on the features); others ignore it.",
            ),
        ],
        responses={
            200: OpenApiResponse(OpenApiTypes.OBJECT, description="GeoJSON FeatureCollection"),
            400: ErrorSerializer,
            404: ErrorSerializer,
        },
        tags=["search"],
    )
    def get(self, request):
        params = query_params(request)
        lon = parse_number(params.get("lon"), parameter="lon", minimum=-180, maximum=180)
        lat = parse_number(params.get("lat"), parameter="lat", minimum=-85.06, maximum=85.06)
        zoom = parse_number(params.get("zoom"), parameter="zoom", minimum=0, maximum=24, default=16)
        tolerance_px = parse_number(
            params.get("tolerance"),
            parameter="tolerance",
            minimum=0,
            maximum=MAX_TOLERANCE_PX,
            default=5,
        )
        limit = parse_int(
            params.get("limit"),
            parameter="limit",
            default=50,
            minimum=1,
            maximum=MAX_IDENTIFY_RESULTS,
        )
        with_geometry = params.get("geometry", "false").lower()
        if with_geometry not in {"true", "false"}:
            raise InvalidParameter("geometry must be true or false.", parameter="geometry")
        layers = layers_asked(request.user, params.get("layers"))
        by_id = {layer.pk: layer for layer in layers}
        moment = params.get("datetime") or None
        if moment:
            parse_datetime(moment)  # a bad one is a 400, whether or not a layer has time
        times = {
            layer.pk: time for layer in layers if (time := time_filter(layer, moment)) is not None
        }
        features = identify_features(
            layer_ids=list(by_id),
            lon=lon,
            lat=lat,
            zoom=zoom,
            tolerance_px=tolerance_px,
            limit=limit,
            with_geometry=with_geometry == "true",
            max_vertices=settings.API_MAX_VERTICES,
            times=times,
        )
        for feature in features:
            layer = by_id[feature.pop("layer_id")]
            feature["layer"] = layer.slug
            feature["layer_title"] = layer.title
        return Response(
            {
                "type": "FeatureCollection",
                "features": features,
                "numberReturned": len(features),
                "tolerance_m": round(
                    min(
                        metres_per_pixel(zoom=zoom, lat=lat) * tolerance_px,
                        identify_radius_3857(zoom=zoom, tolerance_px=tolerance_px)
                        * math.cos(math.radians(lat)),
                    ),
                    2,
                ),
            }
        )
