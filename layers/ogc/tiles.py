"""OGC API - Tiles (OGC 20-057) over our MVT tiles, in the WebMercatorQuad tile matrix set.

Each collection (layer) has one vector tileset, and the map as a whole (every layer the requester
may see) has one. The tiles are those of `/tiles/…`: the views below check the OGC-specific rules
(a tile or a zoom outside the tileset's limits is 404, not 400) and then call the same tile view,
so the bytes, ETag and cache headers are the same. WebMercatorQuad is our XYZ grid: its tileRow
is our y and its tileCol our x.
"""

from __future__ import annotations

from django.urls import reverse
from rest_framework.response import Response

from layers import selectors
from layers.api.layers import extent_bbox, layer_or_404
from layers.errors import InvalidParameter, NotFound, TooLarge
from layers.models import Layer
from layers.tiles import views as tile_views
from layers.tiles.grid import MAX_TILE_ZOOM, WORLD_HALF_M
from layers.tiles.tilejson import tilejson as tilejson_document

from .conformance import CRS84
from .views import JSON, OgcView

MVT = "application/vnd.mapbox-vector-tile"
TMS_ID = "WebMercatorQuad"
TMS_URI = "http://www.opengis.net/def/tilematrixset/OGC/1.0/WebMercatorQuad"
EPSG_3857 = "http://www.opengis.net/def/crs/EPSG/0/3857"
REL_TILING_SCHEME = "http://www.opengis.net/def/rel/ogc/1.0/tiling-scheme"
REL_TILING_SCHEMES = "http://www.opengis.net/def/rel/ogc/1.0/tiling-schemes"
REL_TILESETS_VECTOR = "http://www.opengis.net/def/rel/ogc/1.0/tilesets-vector"
REL_DATA = "http://www.opengis.net/def/rel/ogc/1.0/dataset"
TILE_SIZE_PX = 256
# The scale denominator of zoom 0 at 0.28 mm per pixel (OGC 17-083r4, annex D.1).
Z0_SCALE_DENOMINATOR = 559082264.0287178
Z0_CELL_SIZE_M = 2 * WORLD_HALF_M / TILE_SIZE_PX
TILE_FORMATS = {"mvt", "pbf", MVT}
# JSON Schema types of the TileJSON field types that `layers.tiles.tilejson` gives.
SCHEMA_TYPES = {"String": "string", "Number": "number", "Boolean": "boolean"}
GEOMETRY_DIMENSIONS = {"point": 0, "line": 1, "polygon": 2}


def _url(request, name: str, **kwargs) -> str:
    return request.build_absolute_uri(reverse(f"ogc:{name}", kwargs=kwargs or None))


def _link(href: str, rel: str, media_type: str, title: str, **more) -> dict:
    return {"href": href, "rel": rel, "type": media_type, "title": title, **more}


def tile_matrix_set() -> dict:
    """Return the WebMercatorQuad tile matrix set as OGC 17-083r4 (2.0) JSON, zooms 0-24.

    It also carries the members of the 1.0 encoding (17-083r2: `identifier`, `supportedCRS`,
    `type`, `topLeftCorner`, the box's corners), which GDAL 3.6 reads and 2.0 clients ignore.
    """
    return {
        "id": TMS_ID,
        "type": "TileMatrixSetType",
        "identifier": TMS_ID,
        "supportedCRS": EPSG_3857,
        "boundingBox": {
            "crs": EPSG_3857,
            "lowerLeft": [-WORLD_HALF_M, -WORLD_HALF_M],
            "upperRight": [WORLD_HALF_M, WORLD_HALF_M],
            "lowerCorner": [-WORLD_HALF_M, -WORLD_HALF_M],
            "upperCorner": [WORLD_HALF_M, WORLD_HALF_M],
        },
        "title": "Google Maps compatible tile matrix set (Web Mercator, 256-pixel tiles)",
        "uri": TMS_URI,
        "crs": EPSG_3857,
        "orderedAxes": ["X", "Y"],
        "wellKnownScaleSet": "http://www.opengis.net/def/wkss/OGC/1.0/GoogleMapsCompatible",
        "tileMatrices": [
            {
                "id": str(z),
                "identifier": str(z),
                "topLeftCorner": [-WORLD_HALF_M, WORLD_HALF_M],
                "scaleDenominator": Z0_SCALE_DENOMINATOR / (1 << z),
                "cellSize": Z0_CELL_SIZE_M / (1 << z),
                "cornerOfOrigin": "topLeft",
                "pointOfOrigin": [-WORLD_HALF_M, WORLD_HALF_M],
                "tileWidth": TILE_SIZE_PX,
                "tileHeight": TILE_SIZE_PX,
                "matrixWidth": 1 << z,
                "matrixHeight": 1 << z,
            }
            for z in range(MAX_TILE_ZOOM + 1)
        ],
    }


def _limits(min_zoom: int, max_zoom: int) -> list[dict]:
    return [
        {
            "tileMatrix": str(z),
            "minTileRow": 0,
            "maxTileRow": (1 << z) - 1,
            "minTileCol": 0,
            "maxTileCol": (1 << z) - 1,
        }
        for z in range(min_zoom, max_zoom + 1)
    ]


def _vector_layers(layers: list[Layer], document: dict) -> list[dict]:
    """Return the tileset's `layers`: each MVT layer with its zooms and the attribute types its
    TileJSON `document` gives."""
    described = []
    for layer, vector_layer in zip(layers, document["vector_layers"], strict=True):
        entry = {
            "id": layer.slug,
            "title": layer.title,
            "dataType": "vector",
            "minTileMatrix": str(layer.min_zoom),
            "maxTileMatrix": str(layer.max_zoom),
            "propertiesSchema": {
                "type": "object",
                "properties": {
                    name: {"type": SCHEMA_TYPES[kind]}
                    for name, kind in vector_layer["fields"].items()
                },
            },
        }
        if layer.geometry_type in GEOMETRY_DIMENSIONS:
            entry["geometryDimension"] = GEOMETRY_DIMENSIONS[layer.geometry_type]
        if bbox := extent_bbox(layer):
            entry["boundingBox"] = {"lowerLeft": bbox[:2], "upperRight": bbox[2:], "crs": CRS84}
        described.append(entry)
    return described


def _tileset(
    request, *, layers: list[Layer], title: str, self_url: str, tile_template: str
) -> dict:
    """Return the tileset metadata (OGC 20-057, tileset.yaml) of these layers in one MVT."""
    min_zoom = min(layer.min_zoom for layer in layers)
    max_zoom = max(layer.max_zoom for layer in layers)
    document = tilejson_document(layers=layers, base_url=request.build_absolute_uri("/"))
    bounds = document["bounds"]
    credits = {}
    # Each layer's credit and licence travel with its tiles, as in the collection and TileJSON
    # (OGC 20-057's tileset members `attribution` and `license`): CC-BY and ODbL ask for it.
    if document.get("attribution"):
        credits["attribution"] = document["attribution"]
    licences = list(dict.fromkeys(layer.licence for layer in layers if layer.licence))
    if licences:
        credits["license"] = "; ".join(licences)
    return {
        "title": title,
        **credits,
        "dataType": "vector",
        "crs": EPSG_3857,
        "tileMatrixSetURI": TMS_URI,
        "tileMatrixSetLimits": _limits(min_zoom, max_zoom),
        "minzoom": min_zoom,
        "maxzoom": max_zoom,
        "boundingBox": {"lowerLeft": bounds[:2], "upperRight": bounds[2:], "crs": CRS84},
        "layers": _vector_layers(layers, document),
        "links": [
            _link(self_url, "self", JSON, "This tileset"),
            _link(
                _url(request, "tile-matrix-set", tms_id=TMS_ID),
                REL_TILING_SCHEME,
                JSON,
                "The WebMercatorQuad tile matrix set",
            ),
            _link(tile_template, "item", MVT, "A tile (Mapbox Vector Tile)", templated=True),
        ],
    }


def _tilesets_list(request, *, title: str, tileset_url: str) -> dict:
    return {
        "tilesets": [
            {
                "title": title,
                "dataType": "vector",
                "crs": EPSG_3857,
                "tileMatrixSetURI": TMS_URI,
                "links": [
                    _link(tileset_url, "self", JSON, "The WebMercatorQuad tileset"),
                    _link(
                        _url(request, "tile-matrix-set", tms_id=TMS_ID),
                        REL_TILING_SCHEME,
                        JSON,
                        "The WebMercatorQuad tile matrix set",
                    ),
                ],
            }
        ],
        "links": [],
    }


def _template(tileset_url: str) -> str:
    return f"{tileset_url}/{{tileMatrix}}/{{tileRow}}/{{tileCol}}"


def _check_tms(tms_id: str) -> None:
    if tms_id != TMS_ID:
        raise NotFound(f"No tile matrix set '{tms_id}': the one offered is {TMS_ID}.")


def _check_tile(z: int, row: int, col: int, *, min_zoom: int, max_zoom: int) -> None:
    """Raise NotFound for a tile outside the tileset's limits (OGC 20-057, /req/core/tc-error)."""
    if not min_zoom <= z <= max_zoom:
        raise NotFound(
            f"Tile matrix {z} is outside this tileset's limits ({min_zoom}-{max_zoom}).",
            parameter="tileMatrix",
        )
    size = 1 << z
    for name, value in (("tileRow", row), ("tileCol", col)):
        if not 0 <= value < size:
            raise NotFound(
                f"{name} {value} is outside tile matrix {z} (0-{size - 1}).", parameter=name
            )


def _map_layers(request) -> list[Layer]:
    layers = list(selectors.layers_visible_to(user=request.user))
    if not layers:
        raise NotFound("There is no layer you may see, so the map has no tiles.")
    return layers


class TileMatrixSetsView(OgcView):
    """The tile matrix sets offered: WebMercatorQuad."""

    def get(self, request):
        return Response(
            {
                "tileMatrixSets": [
                    {
                        "id": TMS_ID,
                        "title": "Web Mercator (Google Maps compatible)",
                        "uri": TMS_URI,
                        "links": [
                            _link(
                                _url(request, "tile-matrix-set", tms_id=TMS_ID),
                                "self",
                                JSON,
                                "The WebMercatorQuad tile matrix set",
                            )
                        ],
                    }
                ],
                "links": [
                    _link(_url(request, "tile-matrix-sets"), "self", JSON, "Tile matrix sets")
                ],
            }
        )


class TileMatrixSetView(OgcView):
    """One tile matrix set's definition."""

    def get(self, request, tms_id: str):
        _check_tms(tms_id)
        return Response(tile_matrix_set())


class CollectionTilesetsView(OgcView):
    """A collection's tilesets: one vector tileset in WebMercatorQuad."""

    def get(self, request, collection_id: str):
        layer = layer_or_404(slug=collection_id, user=request.user)
        tileset_url = _url(request, "collection-tileset", collection_id=layer.slug, tms_id=TMS_ID)
        return Response(_tilesets_list(request, title=layer.title, tileset_url=tileset_url))


class CollectionTilesetView(OgcView):
    """A collection's tileset metadata."""

    def get(self, request, collection_id: str, tms_id: str):
        layer = layer_or_404(slug=collection_id, user=request.user)
        _check_tms(tms_id)
        self_url = _url(request, "collection-tileset", collection_id=layer.slug, tms_id=TMS_ID)
        document = _tileset(
            request,
            layers=[layer],
            title=layer.title,
            self_url=self_url,
            tile_template=_template(self_url),
        )
        document["links"].append(
            _link(
                _url(request, "collection", collection_id=layer.slug),
                "collection",
                JSON,
                layer.title,
            )
        )
        return Response(document)


class MapTilesetsView(OgcView):
    """The map's tilesets (dataset tilesets): one vector tileset of every layer one may see."""

    def get(self, request):
        _map_layers(request)
        tileset_url = _url(request, "map-tileset", tms_id=TMS_ID)
        return Response(_tilesets_list(request, title="The map", tileset_url=tileset_url))


class MapTilesetView(OgcView):
    """The map's tileset metadata: every layer one may see, each an MVT layer of one tile."""

    def get(self, request, tms_id: str):
        layers = _map_layers(request)
        _check_tms(tms_id)
        self_url = _url(request, "map-tileset", tms_id=TMS_ID)
        return Response(
            _tileset(
                request,
                layers=layers,
                title="The map",
                self_url=self_url,
                tile_template=_template(self_url),
            )
        )


class TileView(OgcView):
    """A tile: the response of `/tiles/{slugs}/{z}/{x}/{y}.pbf`, after the OGC 404 checks."""

    def initial(self, request, *args, **kwargs):
        wanted = request.query_params.get("f")
        if wanted is not None and wanted.lower() not in TILE_FORMATS:
            raise InvalidParameter(f"Format '{wanted}' is not offered: use f=mvt.", parameter="f")
        # Skip OgcView's f=json check: a tile's only format is MVT.
        super(OgcView, self).initial(request, *args, **kwargs)

    def _tile(self, request, layers: list[Layer], z: int, row: int, col: int):
        _check_tile(
            z,
            row,
            col,
            min_zoom=min(layer.min_zoom for layer in layers),
            max_zoom=max(layer.max_zoom for layer in layers),
        )
        slugs = ",".join(layer.slug for layer in layers if layer.min_zoom <= z <= layer.max_zoom)
        if not slugs:
            raise NotFound(f"No layer of this tileset has tiles at tile matrix {z}.")
        # OGC's tileRow is the grid's y (north to south), tileCol its x.
        return tile_views.tile(request._request, slugs, z, col, row)


class CollectionTileView(TileView):
    def get(self, request, collection_id: str, tms_id: str, tile_matrix: int, row: int, col: int):
        layer = layer_or_404(slug=collection_id, user=request.user)
        _check_tms(tms_id)
        return self._tile(request, [layer], tile_matrix, row, col)


class MapTileView(TileView):
    def get(self, request, tms_id: str, tile_matrix: int, row: int, col: int):
        layers = _map_layers(request)
        _check_tms(tms_id)
        in_range = [layer for layer in layers if layer.min_zoom <= tile_matrix <= layer.max_zoom]
        if len(in_range) > tile_views.MAX_LAYERS_PER_REQUEST:
            raise TooLarge(
                f"The map has {len(in_range)} layers at tile matrix {tile_matrix}; one tile "
                f"holds at most {tile_views.MAX_LAYERS_PER_REQUEST}: ask each collection's tiles.",
                parameter="tileMatrix",
            )
        return self._tile(request, layers, tile_matrix, row, col)
