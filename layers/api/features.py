"""REST views of a layer's features: GeoJSON pages and single features; staff create, change and
delete them (GeoJSON in, checked against the layer, reprojected when a CRS is given)."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpResponse
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status

from layers import services
from layers.errors import InvalidParameter, NotFound, refusal
from layers.features import geojson as feature_sql
from layers.features.crs import CRS84_CRS, OFFERED, OfferedCrs, answer_in, crs_from_name
from layers.features.query import FeatureQuery, feature_query_from_params
from layers.features.validation import (
    checked_attributes,
    geojson_crs,
    geometry_from_geojson,
    parse_crs,
)
from layers.models import ChangeChannel, Feature, Layer
from layers.querysets import can_edit_features

from .base import ApiView, query_params
from .errors import ErrorSerializer
from .geojson import GEOJSON, collection_response, feature_response, matched_count
from .layers import layer_or_404
from .pagination import page_links, page_request
from .throttles import AnonymousScopedThrottle

DEFAULT_LIMIT = 100
MAX_LIMIT = 10_000
CRS_PARAMETER = OpenApiParameter(
    "crs",
    str,
    description="The CRS of the coordinates: EPSG:9214 (VN-2000 / TM-3 107-00, Huế), another "
    f"of {', '.join(crs.epsg for crs in OFFERED)}, or its OGC URI; WGS 84 if absent. East "
    "(longitude) first whatever the CRS; the answer names it in a GeoJSON 2008 `crs` member.",
)

QUERY_PARAMETERS = [
    OpenApiParameter(
        "bbox", str, description="min lon,min lat,max lon,max lat (WGS 84): features meeting it."
    ),
    OpenApiParameter("q", str, description="Words of the feature's name, accents optional."),
    OpenApiParameter("properties", str, description="Comma-separated fields to return."),
    OpenApiParameter(
        "sortby", str, description="Comma-separated fields (or id), '-' before one for descending."
    ),
    OpenApiParameter("limit", int, description=f"At most {MAX_LIMIT}; {DEFAULT_LIMIT} if absent."),
    OpenApiParameter("offset", int, description="How many matching features to skip."),
    OpenApiParameter(
        "as_of", str, description="An ISO 8601 instant: the layer's features as they were then."
    ),
    OpenApiParameter(
        "datetime",
        str,
        description="On a time-enabled layer (`temporal` in its detail): the features whose time "
        "meets this instant or interval, as in OGC API - Features: 2025-07-01T00:00:00Z, a date "
        "(the whole day), 2025-01-01/2025-06-30, ../2025-06-30, 2025-07-01/... Other layers "
        "ignore it.",
    ),
    CRS_PARAMETER,
]
FILTER_HELP = (
    "Any other parameter filters on an attribute of the layer: `field=value`, and `field__gt`, "
    "`field__gte`, `field__lt`, `field__lte`, `field__in` (comma-separated), `field__contains` "
    "(case and accents ignored). An unknown parameter is an error."
)
GEOJSON_RESPONSE = OpenApiResponse(OpenApiTypes.OBJECT, description="GeoJSON")


class FeatureInputSerializer(serializers.Serializer):
    """A GeoJSON Feature; `crs` (GeoJSON 2008) or `?crs=EPSG:…` names its CRS if not WGS 84."""

    type = serializers.ChoiceField(choices=["Feature"])
    geometry = serializers.JSONField()
    properties = serializers.JSONField(required=False, default=dict)
    crs = serializers.JSONField(required=False)


IF_MATCH = OpenApiParameter(
    "If-Match",
    str,
    location=OpenApiParameter.HEADER,
    description='The ETag of the version the change is based on ("<id>-<version>"); a newer '
    "version answers 409 with both. Without it the write is unconditional.",
)


def require_editor(request, layer: Layer) -> None:
    """Refuse the request unless the user may edit the layer's features (the edit rule)."""
    if not can_edit_features(request.user, layer):
        raise refusal(
            request.user,
            f"You may not edit the layer '{layer.slug}': ask GIS staff to add you to one of its "
            "editor groups.",
        )


def write_context(request) -> services.WriteContext:
    """Return who writes and through which path: the web map says so in a header."""
    client = request.headers.get("X-Mapserver-Client", "").strip().lower()
    channel = ChangeChannel.MAP if client == "map" else ChangeChannel.API
    return services.WriteContext(user=request.user, channel=channel)


def etag(feature_id: int, version: int) -> str:
    """Return the ETag of a version of a feature."""
    return f'"{int(feature_id)}-{int(version)}"'


def expected_version(request, feature_id: int) -> int | None:
    """Return the version `If-Match` names for this feature (None: no precondition; `*` any)."""
    header = request.headers.get("If-Match", "").strip()
    if not header or header == "*":
        return None
    for tag in header.split(","):
        tag = tag.strip().removeprefix("W/").strip('"')
        ident, _, version = tag.rpartition("-")
        if ident == str(feature_id) and version.isdigit():
            return int(version)
    if header.strip('"').isdigit():
        return int(header.strip('"'))
    raise InvalidParameter(
        f'If-Match must be the ETag of this feature, "{feature_id}-<version>", '
        f"as its GET answered; it was {header[:60]!r}.",
        parameter="If-Match",
    )


def _answer_crs(params: dict[str, str]) -> OfferedCrs:
    """Return the CRS a read asks its coordinates in (`crs`, taken out of `params`)."""
    value = params.pop("crs", None)
    return crs_from_name(value, parameter="crs") if value is not None else CRS84_CRS


def _crs_member(crs: OfferedCrs) -> dict:
    """Return the `crs` member of an answer in another CRS than WGS 84 (none in WGS 84)."""
    return {} if crs.srid == 4326 else {"crs": feature_sql.crs_member(crs.srid)}


def _feature_of(layer: Layer, feature_id: int) -> Feature:
    feature = Feature.objects.filter(layer=layer, pk=feature_id).select_related("layer").first()
    if feature is None:
        raise NotFound(f"No feature {feature_id} in layer '{layer.slug}'.")
    return feature


def _input_srid(request, data: dict) -> int:
    """Return the EPSG code of a posted feature: the `crs` parameter, its `crs` member, or 4326."""
    if request.query_params.get("crs"):
        return parse_crs(request.query_params["crs"])
    return geojson_crs(data.get("crs")) or 4326


def _written(request, layer: Layer, feature: Feature, *, created: bool = False):
    # Read back on the primary (this session): a replica may not have the write yet.
    text = feature_sql.feature_get(
        FeatureQuery(layer_id=layer.pk), feature_id=feature.pk, primary=True
    )
    response = feature_response(text)
    response["ETag"] = etag(feature.pk, feature.version)
    if created:
        response.status_code = status.HTTP_201_CREATED
        response["Location"] = request.build_absolute_uri(
            reverse("api:feature-detail", kwargs={"slug": layer.slug, "feature_id": feature.pk})
        )
    return response


class FeatureListApi(ApiView):
    """A layer's features as a GeoJSON FeatureCollection, filtered and paged."""

    throttle_classes = (AnonymousScopedThrottle,)
    throttle_scope = "features"

    @extend_schema(
        operation_id="features_list",
        parameters=QUERY_PARAMETERS,
        description=FILTER_HELP,
        responses={(200, GEOJSON): GEOJSON_RESPONSE, 400: ErrorSerializer, 404: ErrorSerializer},
        tags=["features"],
    )
    def get(self, request, slug: str):
        layer = layer_or_404(slug=slug, user=request.user)
        params = query_params(request)
        page = page_request(params, default_limit=DEFAULT_LIMIT, max_limit=MAX_LIMIT)
        crs = _answer_crs(params)
        query = answer_in(
            feature_query_from_params(layer=layer, params=params), crs, authority_axes=False
        )

        def tail(returned: int, matched: int, cut_short: bool) -> dict:
            links = page_links(
                request,
                page=page,
                returned=returned,
                matched=matched,
                media_type=GEOJSON,
                cut_short=cut_short,
            )
            by_rel = {link["rel"]: link["href"] for link in links}
            return {
                "next": by_rel.get("next"),
                "prev": by_rel.get("prev"),
                "links": links,
                **_crs_member(crs),
            }

        return collection_response(
            query=query, page=page, tail=tail, matched=matched_count(layer, query)
        )

    @extend_schema(
        operation_id="features_create",
        request=FeatureInputSerializer,
        parameters=[OpenApiParameter("crs", str, description="The CRS of the geometry.")],
        responses={
            (201, GEOJSON): GEOJSON_RESPONSE,
            400: ErrorSerializer,
            403: ErrorSerializer,
            404: ErrorSerializer,
        },
        description="Editors of the layer and staff: add a feature; the layer's version goes up.",
        tags=["editing"],
    )
    def post(self, request, slug: str):
        layer = layer_or_404(slug=slug, user=request.user)
        require_editor(request, layer)
        serializer = FeatureInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        geom = geometry_from_geojson(data["geometry"], layer=layer, srid=_input_srid(request, data))
        feature = services.feature_create(
            layer=layer, geom=geom, attributes=data["properties"], by=write_context(request)
        )
        return _written(request, layer, feature, created=True)


class FeatureDetailApi(ApiView):
    """One feature of a layer as GeoJSON; staff replace, change or delete it."""

    class PatchSerializer(serializers.Serializer):
        type = serializers.ChoiceField(choices=["Feature"], required=False)
        geometry = serializers.JSONField(required=False)
        properties = serializers.JSONField(required=False)
        crs = serializers.JSONField(required=False)

    @extend_schema(
        operation_id="features_retrieve",
        parameters=[CRS_PARAMETER],
        responses={(200, GEOJSON): GEOJSON_RESPONSE, 400: ErrorSerializer, 404: ErrorSerializer},
        tags=["features"],
    )
    def get(self, request, slug: str, feature_id: int):
        layer = layer_or_404(slug=slug, user=request.user)
        crs = _answer_crs(query_params(request))
        text = feature_sql.feature_get(
            answer_in(FeatureQuery(layer_id=layer.pk), crs, authority_axes=False),
            feature_id=feature_id,
            budget=feature_sql.VertexBudget(settings.API_MAX_VERTICES),
        )
        if text is None:
            raise NotFound(f"No feature {feature_id} in layer '{slug}'.")
        response = feature_response(text, extra=_crs_member(crs))
        version = feature_sql.feature_version(layer_id=layer.pk, feature_id=feature_id)
        if version is not None:
            response["ETag"] = etag(feature_id, version)
        return response

    @extend_schema(
        operation_id="features_update",
        request=FeatureInputSerializer,
        parameters=[
            OpenApiParameter("crs", str, description="The CRS of the geometry."),
            IF_MATCH,
        ],
        responses={
            (200, GEOJSON): GEOJSON_RESPONSE,
            400: ErrorSerializer,
            403: ErrorSerializer,
            404: ErrorSerializer,
            409: ErrorSerializer,
        },
        description="Editors and staff: replace a feature's geometry and properties.",
        tags=["editing"],
    )
    def put(self, request, slug: str, feature_id: int):
        return self._change(request, slug, feature_id, FeatureInputSerializer, partial=False)

    @extend_schema(
        operation_id="features_partial_update",
        request=PatchSerializer,
        parameters=[
            OpenApiParameter("crs", str, description="The CRS of the geometry."),
            IF_MATCH,
        ],
        responses={
            (200, GEOJSON): GEOJSON_RESPONSE,
            400: ErrorSerializer,
            403: ErrorSerializer,
            404: ErrorSerializer,
            409: ErrorSerializer,
        },
        description="Editors and staff: change a feature's geometry and/or some properties.",
        tags=["editing"],
    )
    def patch(self, request, slug: str, feature_id: int):
        return self._change(request, slug, feature_id, self.PatchSerializer, partial=True)

    @extend_schema(
        operation_id="features_destroy",
        parameters=[IF_MATCH],
        responses={204: None, 403: ErrorSerializer, 404: ErrorSerializer, 409: ErrorSerializer},
        description="Editors and staff: delete a feature (it stays in its history).",
        tags=["editing"],
    )
    def delete(self, request, slug: str, feature_id: int):
        layer = layer_or_404(slug=slug, user=request.user)
        require_editor(request, layer)
        services.feature_delete(
            feature=_feature_of(layer, feature_id),
            expected_version=expected_version(request, feature_id),
            by=write_context(request),
        )
        return HttpResponse(status=status.HTTP_204_NO_CONTENT)

    def _change(self, request, slug, feature_id, serializer_class, *, partial: bool):
        layer = layer_or_404(slug=slug, user=request.user)
        require_editor(request, layer)
        expected = expected_version(request, feature_id)
        feature = _feature_of(layer, feature_id)
        serializer = serializer_class(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        geom = None
        if "geometry" in data:
            geom = geometry_from_geojson(
                data["geometry"], layer=layer, srid=_input_srid(request, data)
            )
        attributes = None
        if "properties" in data:
            checked = checked_attributes(data["properties"], layer=layer)
            attributes = {**feature.attributes, **checked} if partial else checked
        feature = services.feature_update(
            feature=feature,
            geom=geom,
            attributes=attributes,
            expected_version=expected,
            by=write_context(request),
        )
        return _written(request, layer, feature)
