"""OGC API - Features Part 4 (Create, Replace, Update and Delete): the items views with writes.

Every write goes through the feature services (`layers.services`), under the edit rule
(`querysets.can_edit_features` via `require_editor`), recorded in the history with the channel
`ogc`. Optimistic locking is the REST API's: the ETag of a feature is `"<id>-<version>"`, and a
write whose `If-Match` names an older version is refused, here with 412 Precondition Failed as
HTTP conditional requests (RFC 9110) and the Part 4 draft say, the body holding both versions.
"""

from __future__ import annotations

from django.http import HttpResponse
from django.urls import reverse
from rest_framework import status

from layers import services
from layers.api.base import ApiView
from layers.api.features import etag, expected_version, require_editor
from layers.api.geojson import feature_response
from layers.api.layers import layer_or_404
from layers.errors import EditConflict, InvalidData, InvalidParameter, NotFound, PreconditionFailed
from layers.features import geojson as feature_sql
from layers.features.crs import northing_first, swapped_axes
from layers.features.query import FeatureQuery
from layers.features.validation import (
    CRS84_NAMES,
    checked_attributes,
    geojson_crs,
    geometry_from_geojson,
    parse_crs,
)
from layers.models import ChangeChannel, Feature, Layer

from . import views

# What a Feature may hold: its GeoJSON members, and what our own answers add (`version`, `links`),
# so a client can send back what it read. Those are read-only: `If-Match` is the precondition.
FEATURE_MEMBERS = {"type", "id", "geometry", "properties", "crs", "links", "bbox", "version"}


def write_context(request) -> services.WriteContext:
    """Return who writes, through the OGC API."""
    return services.WriteContext(user=request.user, channel=ChangeChannel.OGC)


def content_geometry(request, body: dict, geometry: object) -> tuple[object, int]:
    """Return the sent geometry with x first, and the EPSG code it is in: `Content-Crs`, else a
    `crs` member, else CRS84.

    `Content-Crs` is a URI, in angle brackets as Part 2 writes it or bare; its coordinates are in
    that CRS's axis order (Part 2), as our answers with `crs=` are: EPSG:4326 and 4756 latitude
    first, so what a client read with `crs=EPSG:4326` it can send back as it is. A GeoJSON `crs`
    member is x first, as GeoJSON is. A CRS the server does not know is a 400 naming the header.
    """
    header = request.headers.get("Content-Crs", "").strip()
    if not header:
        return geometry, geojson_crs(body.get("crs")) or 4326
    uri = header.removeprefix("<").removesuffix(">").strip()
    srid = parse_crs(uri, parameter="Content-Crs")
    if uri.lower() not in CRS84_NAMES and northing_first(srid) and isinstance(geometry, dict):
        geometry = swapped_axes(geometry)
    return geometry, srid


def feature_body(request, *, partial: bool) -> dict:
    """Return the sent GeoJSON Feature, its members checked (all of them unless `partial`)."""
    body = request.data
    if not isinstance(body, dict):
        raise InvalidData("The body must be a GeoJSON Feature (a JSON object).", parameter="body")
    if body.get("type", "Feature") != "Feature" or (not partial and "type" not in body):
        raise InvalidData('type must be "Feature".', parameter="type")
    unknown = sorted(set(body) - FEATURE_MEMBERS)
    if unknown:
        raise InvalidData(
            f"Unknown member {unknown[0]!r}: a feature has type, geometry and properties.",
            parameter=unknown[0],
        )
    if not partial and "geometry" not in body:
        raise InvalidData("geometry is missing: send a GeoJSON geometry.", parameter="geometry")
    properties = body.get("properties", {} if not partial else None)
    if properties is not None and not isinstance(properties, dict):
        raise InvalidData("properties must be a JSON object.", parameter="properties")
    return body


def merge_patch(target: dict, patch: dict) -> dict:
    """Return `target` with `patch` applied as a JSON Merge Patch (RFC 7396): null removes."""
    merged = dict(target)
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        elif isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge_patch(merged[key], value)
        else:
            merged[key] = value
    return merged


def _feature_of(layer: Layer, feature_id: str) -> Feature:
    feature = None
    if feature_id.isdigit():
        feature = Feature.objects.filter(layer=layer, pk=int(feature_id)).first()
    if feature is None:
        raise NotFound(f"No feature {feature_id} in collection '{layer.slug}'.")
    return feature


def _expected(request, feature_id: int) -> int | None:
    return expected_version(request, feature_id)


def _written(request, layer: Layer, feature: Feature, *, created: bool = False):
    # Read back on the primary: a replica may not have the write yet.
    text = feature_sql.feature_get(
        FeatureQuery(layer_id=layer.pk), feature_id=feature.pk, primary=True
    )
    response = feature_response(text)
    response["ETag"] = etag(feature.pk, feature.version)
    if created:
        response.status_code = status.HTTP_201_CREATED
        response["Location"] = request.build_absolute_uri(
            reverse("ogc:item", kwargs={"collection_id": layer.slug, "feature_id": feature.pk})
        )
    return response


class OgcWriteMixin:
    """JSON bodies as the REST API reads them; a stale `If-Match` is a 412 with both versions."""

    parser_classes = ApiView.parser_classes

    def handle_exception(self, exc):
        if isinstance(exc, EditConflict) and not isinstance(exc, PreconditionFailed):
            exc = PreconditionFailed(
                exc.message + " (If-Match names an older version.)",
                parameter="If-Match",
                **exc.extra,
            )
        return super().handle_exception(exc)


class ItemsWriteView(OgcWriteMixin, views.ItemsView):
    """A collection's features; editors add one with POST."""

    def post(self, request, collection_id: str):
        layer = layer_or_404(slug=collection_id, user=request.user)
        require_editor(request, layer)
        body = feature_body(request, partial=False)
        geometry, srid = content_geometry(request, body, body["geometry"])
        geom = geometry_from_geojson(geometry, layer=layer, srid=srid)
        feature = services.feature_create(
            layer=layer,
            geom=geom,
            attributes=body.get("properties") or {},
            by=write_context(request),
        )
        return _written(request, layer, feature, created=True)


class ItemWriteView(OgcWriteMixin, views.ItemView):
    """One feature; its ETag on GET; editors replace (PUT), update (PATCH) and delete it."""

    def get(self, request, collection_id: str, feature_id: str):
        response = super().get(request, collection_id, feature_id)
        if response.status_code == 200 and feature_id.isdigit():
            layer = layer_or_404(slug=collection_id, user=request.user)
            version = feature_sql.feature_version(layer_id=layer.pk, feature_id=int(feature_id))
            if version is not None:
                response["ETag"] = etag(int(feature_id), version)
        return response

    def put(self, request, collection_id: str, feature_id: str):
        return self._change(request, collection_id, feature_id, partial=False)

    def patch(self, request, collection_id: str, feature_id: str):
        return self._change(request, collection_id, feature_id, partial=True)

    def delete(self, request, collection_id: str, feature_id: str):
        layer = layer_or_404(slug=collection_id, user=request.user)
        require_editor(request, layer)
        feature = _feature_of(layer, feature_id)
        services.feature_delete(
            feature=feature,
            expected_version=_expected(request, feature.pk),
            by=write_context(request),
        )
        return HttpResponse(status=status.HTTP_204_NO_CONTENT)

    def _change(self, request, collection_id: str, feature_id: str, *, partial: bool):
        layer = layer_or_404(slug=collection_id, user=request.user)
        require_editor(request, layer)
        feature = _feature_of(layer, feature_id)
        expected = _expected(request, feature.pk)
        body = feature_body(request, partial=partial)
        if "id" in body and str(body["id"]) != str(feature.pk):
            raise InvalidParameter(
                f"id {body['id']!r} is not this feature's ({feature.pk}): leave it out.",
                parameter="id",
            )
        geom = None
        if body.get("geometry") is not None or not partial:
            geometry, srid = content_geometry(request, body, body.get("geometry"))
            geom = geometry_from_geojson(geometry, layer=layer, srid=srid)
        attributes = None
        if not partial:
            attributes = checked_attributes(body.get("properties") or {}, layer=layer)
        elif body.get("properties") is not None:
            merged = merge_patch(feature.attributes, body["properties"])
            attributes = checked_attributes(merged, layer=layer)
        feature = services.feature_update(
            feature=feature,
            geom=geom,
            attributes=attributes,
            expected_version=expected,
            by=write_context(request),
        )
        return _written(request, layer, feature)
