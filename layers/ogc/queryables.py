"""The queryables of a collection (OGC API - Features Part 3): a JSON Schema of what `filter`
may name, the layer's attributes by their schema's types, with their Vietnamese labels, and the
geometry as `geometry`."""

from __future__ import annotations

from django.urls import reverse
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from layers.api.layers import layer_or_404
from layers.features.cql2 import GEOMETRY
from layers.features.query import BOOLEAN_TYPES, NUMERIC_TYPES

from .views import OgcView

SCHEMA_JSON = "application/schema+json"
INTEGER_TYPES = frozenset({"integer", "int"})
# Part 3's formats for a geometry queryable, by the layer's kind (mixed layers: any).
GEOMETRY_FORMATS = {
    "point": "geometry-point",
    "line": "geometry-linestring",
    "polygon": "geometry-polygon",
}


class SchemaJsonRenderer(JSONRenderer):
    media_type = SCHEMA_JSON
    charset = None


def _property_schema(spec: dict) -> dict:
    kind = str(spec.get("type") or "text").lower()
    if kind in INTEGER_TYPES:
        schema = {"type": "integer"}
    elif kind in NUMERIC_TYPES:
        schema = {"type": "number"}
    elif kind in BOOLEAN_TYPES:
        schema = {"type": "boolean"}
    elif kind == "date":
        schema = {"type": "string", "format": "date"}
    elif kind in ("datetime", "timestamp"):
        schema = {"type": "string", "format": "date-time"}
    else:
        schema = {"type": "string"}
    schema["title"] = spec.get("label_vi") or spec.get("label_en") or spec["name"]
    if spec.get("label_en"):
        schema["description"] = spec["label_en"]
    return schema


class QueryablesView(OgcView):
    """The properties a collection's `filter` may name, as a JSON Schema."""

    renderer_classes = [SchemaJsonRenderer]

    def get(self, request, collection_id: str):
        layer = layer_or_404(slug=collection_id, user=request.user)
        properties = {
            GEOMETRY: {
                "title": "Hình học",
                "description": "The feature's geometry",
                "format": GEOMETRY_FORMATS.get(layer.geometry_type, "geometry-any"),
            }
        }
        for spec in layer.attribute_schema or []:
            if isinstance(spec, dict) and spec.get("name") and spec["name"] != GEOMETRY:
                properties[spec["name"]] = _property_schema(spec)
        url = request.build_absolute_uri(
            reverse("ogc:queryables", kwargs={"collection_id": layer.slug})
        )
        return Response(
            {
                "$schema": "https://json-schema.org/draft/2020-12/schema",
                "$id": url,
                "type": "object",
                "title": layer.title,
                "properties": properties,
                "additionalProperties": False,
            }
        )
