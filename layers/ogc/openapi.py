"""The OpenAPI 3.0 definition of the OGC API (`/ogc/api`), written out: its paths are few."""

from __future__ import annotations

from .conformance import CRS84

MAX_LIMIT = 10_000
DEFAULT_LIMIT = 10


def _parameter(name: str, schema: dict, description: str, *, location: str = "query") -> dict:
    return {
        "name": name,
        "in": location,
        "required": location == "path",
        "description": description,
        "schema": schema,
        "style": "form",
        "explode": False,
    }


def _json_response(description: str, media_type: str = "application/json") -> dict:
    return {"description": description, "content": {media_type: {"schema": {"type": "object"}}}}


ERRORS = {
    "400": _json_response("A parameter is wrong: {code, description}."),
    "404": _json_response("No such collection or feature (or not one you may see)."),
}
COLLECTION_ID = _parameter("collectionId", {"type": "string"}, "A layer's slug.", location="path")
FORMAT = _parameter("f", {"type": "string", "enum": ["json"]}, "The answer's format (JSON).")


def openapi_document(*, base_url: str, title: str, description: str) -> dict:
    """Return the OpenAPI 3.0 document of the OGC API served at `base_url` (no trailing /)."""
    items_parameters = [
        COLLECTION_ID,
        _parameter(
            "bbox",
            {"type": "array", "minItems": 4, "maxItems": 6, "items": {"type": "number"}},
            "Features meeting this box: min lon, min lat, max lon, max lat (CRS84).",
        ),
        _parameter("bbox-crs", {"type": "string", "enum": [CRS84]}, "The CRS of bbox."),
        _parameter(
            "limit",
            {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT},
            "How many features per page (more than the maximum gives the maximum).",
        ),
        _parameter("offset", {"type": "integer", "minimum": 0, "default": 0}, "How many to skip."),
        _parameter("datetime", {"type": "string"}, "Accepted; the layers carry no time."),
        _parameter("q", {"type": "string"}, "Words of the feature's name, accents optional."),
        _parameter("properties", {"type": "string"}, "Comma-separated properties to return."),
        _parameter("sortby", {"type": "string"}, "Comma-separated properties, '-' descending."),
        FORMAT,
    ]
    return {
        "openapi": "3.0.3",
        "info": {"title": title, "description": description, "version": "1.0.0"},
        "servers": [{"url": base_url}],
        "paths": {
            "/": {
                "get": {
                    "operationId": "getLandingPage",
                    "summary": "Landing page",
                    "parameters": [FORMAT],
                    "responses": {"200": _json_response("The landing page.")},
                }
            },
            "/conformance": {
                "get": {
                    "operationId": "getConformanceDeclaration",
                    "summary": "The conformance classes this API implements",
                    "parameters": [FORMAT],
                    "responses": {"200": _json_response("The conformance declaration.")},
                }
            },
            "/collections": {
                "get": {
                    "operationId": "getCollections",
                    "summary": "The layers you may see",
                    "parameters": [FORMAT],
                    "responses": {"200": _json_response("The collections.")},
                }
            },
            "/collections/{collectionId}": {
                "get": {
                    "operationId": "describeCollection",
                    "summary": "One layer",
                    "parameters": [COLLECTION_ID, FORMAT],
                    "responses": {"200": _json_response("The collection."), **ERRORS},
                }
            },
            "/collections/{collectionId}/items": {
                "get": {
                    "operationId": "getFeatures",
                    "summary": "A layer's features, paged. Other parameters named after a "
                    "property filter on it (property=value).",
                    "parameters": items_parameters,
                    "responses": {
                        "200": _json_response("A FeatureCollection.", "application/geo+json"),
                        **ERRORS,
                    },
                }
            },
            "/collections/{collectionId}/items/{featureId}": {
                "get": {
                    "operationId": "getFeature",
                    "summary": "One feature",
                    "parameters": [
                        COLLECTION_ID,
                        _parameter(
                            "featureId", {"type": "integer"}, "The feature's id.", location="path"
                        ),
                        FORMAT,
                    ],
                    "responses": {
                        "200": _json_response("A Feature.", "application/geo+json"),
                        **ERRORS,
                    },
                }
            },
        },
    }
