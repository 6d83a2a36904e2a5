"""The OpenAPI 3.0 definition of the OGC API (`/ogc/api`), written out: its paths are few."""

from __future__ import annotations

from layers.features.crs import OFFERED_URIS

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


# OGC API - Tiles (layers/ogc/tiles.py): WebMercatorQuad vector tiles of each collection and of the
# whole map.
TMS_ID = _parameter(
    "tileMatrixSetId",
    {"type": "string", "enum": ["WebMercatorQuad"]},
    "The tile matrix set.",
    location="path",
)
TILE_PARAMETERS = [
    TMS_ID,
    _parameter("tileMatrix", {"type": "integer"}, "The zoom (0-24).", location="path"),
    _parameter("tileRow", {"type": "integer"}, "The row, from the north.", location="path"),
    _parameter("tileCol", {"type": "integer"}, "The column, from the west.", location="path"),
    _parameter("f", {"type": "string", "enum": ["mvt"]}, "The tile's format (MVT)."),
]
TILE_RESPONSES = {
    "200": {
        "description": "A Mapbox Vector Tile, gzip when asked for (ETag, Cache-Control).",
        "content": {"application/vnd.mapbox-vector-tile": {"schema": {"type": "string"}}},
    },
    "204": {"description": "No feature in this tile."},
    "304": {"description": "Not modified (If-None-Match)."},
    "400": ERRORS["400"],
    "404": _json_response("Outside the tileset's limits, or no layer you may see."),
}


def _get(operation_id: str, summary: str, parameters: list, responses: dict) -> dict:
    return {
        "get": {
            "operationId": operation_id,
            "summary": summary,
            "parameters": parameters,
            "responses": responses,
        }
    }


TILES_PATHS = {
    "/tileMatrixSets": _get(
        "getTileMatrixSetsList",
        "The tile matrix sets offered",
        [FORMAT],
        {"200": _json_response("The list of tile matrix sets.")},
    ),
    "/tileMatrixSets/{tileMatrixSetId}": _get(
        "getTileMatrixSet",
        "A tile matrix set's definition (OGC 17-083r4 JSON)",
        [TMS_ID, FORMAT],
        {"200": _json_response("The tile matrix set."), **ERRORS},
    ),
    "/collections/{collectionId}/tiles": _get(
        "getCollectionVectorTileSetsList",
        "A layer's vector tilesets",
        [COLLECTION_ID, FORMAT],
        {"200": _json_response("The tilesets."), **ERRORS},
    ),
    "/collections/{collectionId}/tiles/{tileMatrixSetId}": _get(
        "describeCollectionVectorTileset",
        "A layer's vector tileset",
        [COLLECTION_ID, TMS_ID, FORMAT],
        {"200": _json_response("The tileset's metadata."), **ERRORS},
    ),
    "/collections/{collectionId}/tiles/{tileMatrixSetId}/{tileMatrix}/{tileRow}/{tileCol}": _get(
        "getCollectionVectorTile",
        "A tile of a layer",
        [COLLECTION_ID, *TILE_PARAMETERS],
        TILE_RESPONSES,
    ),
    "/tiles": _get(
        "getDatasetVectorTileSetsList",
        "The map's vector tilesets (every layer you may see)",
        [FORMAT],
        {"200": _json_response("The tilesets."), **ERRORS},
    ),
    "/tiles/{tileMatrixSetId}": _get(
        "describeDatasetVectorTileset",
        "The map's vector tileset",
        [TMS_ID, FORMAT],
        {"200": _json_response("The tileset's metadata."), **ERRORS},
    ),
    "/tiles/{tileMatrixSetId}/{tileMatrix}/{tileRow}/{tileCol}": _get(
        "getDatasetVectorTile",
        "A tile of the map: every layer you may see at that zoom",
        TILE_PARAMETERS,
        {**TILE_RESPONSES, "413": _json_response("More layers at this zoom than one tile holds.")},
    ),
}


# Part 2 (layers/features/crs.py): the CRSs the coordinates and the bbox may be in, by URI.
_CRS_SCHEMA = {"type": "string", "format": "uri", "enum": list(OFFERED_URIS)}
CRS = _parameter(
    "crs",
    {**_CRS_SCHEMA, "default": CRS84},
    "The CRS of the answer's coordinates, in its own axis order (EPSG:4326 and 4756: latitude "
    "first; projected ones: easting first). EPSG:9214 is VN-2000 / TM-3 107-00 (Huế).",
)
BBOX_CRS = _parameter(
    "bbox-crs",
    {**_CRS_SCHEMA, "default": CRS84},
    "The CRS of bbox, whose numbers then follow its axis order (EPSG:9214: min easting, min "
    "northing, max easting, max northing, in metres).",
)
CONTENT_CRS_HEADER = {
    "description": "The CRS of the coordinates in the answer, as <URI>.",
    "schema": {"type": "string"},
}


def openapi_document(*, base_url: str, title: str, description: str) -> dict:
    """Return the OpenAPI 3.0 document of the OGC API served at `base_url` (no trailing /)."""
    items_parameters = [
        COLLECTION_ID,
        _parameter(
            "bbox",
            {"type": "array", "minItems": 4, "maxItems": 6, "items": {"type": "number"}},
            "Features meeting this box: min lon, min lat, max lon, max lat (CRS84), or in the "
            "axis order of bbox-crs.",
        ),
        BBOX_CRS,
        CRS,
        _parameter(
            "limit",
            {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT},
            "How many features per page (more than the maximum gives the maximum).",
        ),
        _parameter("offset", {"type": "integer", "minimum": 0, "default": 0}, "How many to skip."),
        _parameter(
            "datetime",
            {"type": "string"},
            "Features whose time meets this instant or interval (2025-07-01T00:00:00Z, a date: "
            "the whole day, 2025-01-01/2025-06-30, ../2025-06-30, 2025-07-01/..), on the "
            "time-enabled collections (those with a temporal extent); the others ignore it.",
        ),
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
            {"type": "string", "enum": list(OFFERED_URIS), "default": CRS84},
            "The CRS of the filter's geometries, in its axis order (EPSG:4326 and 4756: "
            "latitude first; VN-2000 TM-3, e.g. EPSG:9214, in metres, easting first).",
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
                        "200": {
                            **_json_response("A FeatureCollection.", "application/geo+json"),
                            "headers": {"Content-Crs": CONTENT_CRS_HEADER},
                        },
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
                        CRS,
                        FORMAT,
                    ],
                    "responses": {
                        "200": {
                            **_json_response("A Feature.", "application/geo+json"),
                            "headers": {"Content-Crs": CONTENT_CRS_HEADER},
                        },
                        **ERRORS,
                    },
                },
                **REPLACE_UPDATE_DELETE,
            },
            **TILES_PATHS,
        },
    }
