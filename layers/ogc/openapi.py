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

# Part 4 (layers/ogc/transactions.py): editors of a layer and GIS staff write its features.
FEATURE_ID = _parameter("featureId", {"type": "integer"}, "The feature's id.", location="path")
CONTENT_CRS = _parameter(
    "Content-Crs",
    {"type": "string"},
    "The CRS of the sent geometry, e.g. <http://www.opengis.net/def/crs/EPSG/0/9214> (CRS84 "
    "if absent, or the body's GeoJSON 2008 `crs` member).",
    location="header",
)
IF_MATCH = _parameter(
    "If-Match",
    {"type": "string"},
    'The ETag of the version the change is based on ("<id>-<version>", as GET answered); a '
    "newer version answers 412 with both. Without it the write is unconditional.",
    location="header",
)
IF_MATCH["required"] = CONTENT_CRS["required"] = False
WRITE_ERRORS = {
    "400": _json_response("The body or a header is wrong: {code, description, parameter}."),
    "401": _json_response("Not signed in: send `Authorization: Token <key>`."),
    "403": _json_response("You may not edit this layer."),
    "404": ERRORS["404"],
}
PRECONDITION_FAILED = {
    "412": _json_response("If-Match names an older version: {code, description, current, yours}.")
}


def _feature_body(media_type: str, description: str) -> dict:
    return {
        "required": True,
        "description": description,
        "content": {media_type: {"schema": {"type": "object"}}},
    }


CREATE = {
    "post": {
        "operationId": "createFeature",
        "summary": "Add a feature (editors of the layer, GIS staff)",
        "parameters": [COLLECTION_ID, CONTENT_CRS],
        "requestBody": _feature_body("application/geo+json", "A GeoJSON Feature."),
        "responses": {
            "201": {
                "description": "Added; Location names the new feature, ETag its version.",
                "headers": {"Location": {"schema": {"type": "string"}}},
            },
            **WRITE_ERRORS,
        },
    }
}
REPLACE_UPDATE_DELETE = {
    "put": {
        "operationId": "replaceFeature",
        "summary": "Replace a feature's geometry and properties",
        "parameters": [COLLECTION_ID, FEATURE_ID, CONTENT_CRS, IF_MATCH],
        "requestBody": _feature_body("application/geo+json", "A GeoJSON Feature."),
        "responses": {
            "200": _json_response(
                "The feature as stored (ETag: its new version).", "application/geo+json"
            ),
            **WRITE_ERRORS,
            **PRECONDITION_FAILED,
        },
    },
    "patch": {
        "operationId": "updateFeature",
        "summary": "Change a feature: a JSON Merge Patch (RFC 7396) of its geometry and properties",
        "parameters": [COLLECTION_ID, FEATURE_ID, CONTENT_CRS, IF_MATCH],
        "requestBody": _feature_body(
            "application/merge-patch+json",
            "Members to change; a property set to null is removed; a geometry replaces.",
        ),
        "responses": {
            "200": _json_response(
                "The feature as stored (ETag: its new version).", "application/geo+json"
            ),
            **WRITE_ERRORS,
            **PRECONDITION_FAILED,
        },
    },
    "delete": {
        "operationId": "deleteFeature",
        "summary": "Delete a feature (it stays in its history)",
        "parameters": [COLLECTION_ID, FEATURE_ID, IF_MATCH],
        "responses": {"204": {"description": "Deleted."}, **WRITE_ERRORS, **PRECONDITION_FAILED},
    },
}


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
        _parameter(
            "filter",
            {"type": "string"},
            "A CQL2 filter (Part 3) over the collection's queryables: text or JSON. LIKE is "
            "accent- and case-insensitive.",
        ),
        _parameter(
            "filter-lang",
            {"type": "string", "enum": ["cql2-text", "cql2-json"], "default": "cql2-text"},
            "The language of filter.",
        ),
        _parameter(
            "filter-crs",
            {"type": "string", "enum": [CRS84, "http://www.opengis.net/def/crs/EPSG/0/4326"]},
            "The CRS of the filter's geometries (EPSG:4326: latitude first).",
        ),
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
                },
                **CREATE,
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
                },
                **REPLACE_UPDATE_DELETE,
            },
        },
    }
