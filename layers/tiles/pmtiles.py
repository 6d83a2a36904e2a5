"""PMTiles v3 export: a layer's tileset as one archive for static or CDN hosting."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pmtiles.tile import Compression, TileType, zxy_to_tileid
from pmtiles.writer import Writer

from layers.models import Layer

from .cache import TileKey, tile_cache
from .grid import TileCoord
from .render import render_tile, tile_spec
from .seed import seed_plan
from .store import store_if_current
from .tilejson import tilejson


def _e7(degrees: float) -> int:
    return round(degrees * 10_000_000)


@dataclass(frozen=True)
class PmtilesExport:
    """What an export wrote: how many tiles, and to which zoom (the budget may stop it early)."""

    tiles: int
    min_zoom: int
    max_zoom: int
    requested_max_zoom: int


def export_pmtiles(
    *,
    layer: Layer,
    path: Path,
    min_zoom: int | None = None,
    max_zoom: int | None = None,
    base_url: str = "",
    budget: int | None = None,
) -> PmtilesExport:
    """Write the layer's tiles (from the cache, rendering what is missing) to a PMTiles archive.

    At most `budget` tiles (TILE_SEED_BUDGET when None), as a seed: the deepest zoom that would
    pass it is left out, and the archive says where it stops (clients over-zoom past it). Empty
    tiles are left out, as the format intends.
    """
    low = layer.min_zoom if min_zoom is None else min_zoom
    high = layer.prebuild_zoom if max_zoom is None else max_zoom
    plan = sorted(seed_plan(layer=layer, min_zoom=low, max_zoom=high, budget=budget), key=_tile_id)
    depth = max((coord.z for coord in plan), default=low)
    cache, spec = tile_cache(), tile_spec(layer)
    metadata = tilejson(layers=[layer], base_url=base_url)
    metadata.pop("tiles")
    metadata["maxzoom"] = min(metadata.get("maxzoom", depth), depth)
    west, south, east, north = metadata["bounds"]
    center_lon, center_lat, center_zoom = metadata["center"]
    written = 0
    with path.open("wb") as file:
        writer = Writer(file)
        for coord in plan:
            key = TileKey.of(layer, coord)
            data = cache.get(key)
            if data is None:
                tile = render_tile(spec, coord)
                store_if_current(layer_id=layer.pk, tiles=[(key, tile)])
                data = tile.gzipped
            if data:
                writer.write_tile(_tile_id(coord), data)
                written += 1
        if not written:
            raise ValueError(f"Layer {layer.slug} has no tiles between z{low} and z{high}.")
        writer.finalize(
            {
                "tile_type": TileType.MVT,
                "tile_compression": Compression.GZIP,
                "min_lon_e7": _e7(west),
                "min_lat_e7": _e7(south),
                "max_lon_e7": _e7(east),
                "max_lat_e7": _e7(north),
                "center_zoom": center_zoom,
                "center_lon_e7": _e7(center_lon),
                "center_lat_e7": _e7(center_lat),
            },
            metadata,
        )
    return PmtilesExport(tiles=written, min_zoom=low, max_zoom=depth, requested_max_zoom=high)


def _tile_id(coord: TileCoord) -> int:
    return zxy_to_tileid(coord.z, coord.x, coord.y)
