"""Rendering: which attributes a layer's tiles carry, and one tile's MVT bytes from PostGIS."""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from dataclasses import dataclass

from django.db import connection

from layers.models import Layer

from .grid import TileCoord
from .sql import TileSpec, TileSQL

GZIP_LEVEL = 6


@dataclass(frozen=True)
class RenderedTile:
    """A tile as PostGIS made it: MVT bytes (empty when no feature shows) and the layer version."""

    coord: TileCoord
    data: bytes
    version: int

    def gzipped(self) -> bytes:
        """Return the tile gzip-compressed (empty stays empty)."""
        return gzip.compress(self.data, GZIP_LEVEL, mtime=0) if self.data else b""


def _style_fields(value: object) -> Iterator[str]:
    """Yield the attribute names a MapLibre style reads (`["get", name]`, `["has", name]`)."""
    if isinstance(value, list):
        if len(value) >= 2 and value[0] in ("get", "has") and isinstance(value[1], str):
            yield value[1]
        for item in value:
            yield from _style_fields(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _style_fields(item)


def layer_tile_fields(layer: Layer) -> tuple[str, ...]:
    """Return the attributes a layer's tiles carry: its `tile_fields`, else what the map needs."""
    if layer.tile_fields:
        names = list(layer.tile_fields)
    else:
        names = [layer.name_field] if layer.name_field else []
        names.extend(_style_fields(layer.style))
    return tuple(dict.fromkeys(name for name in names if name))


def tile_spec(layer: Layer) -> TileSpec:
    """Return what the tile query needs to know about this layer."""
    return TileSpec(
        layer_id=layer.pk,
        name=layer.slug,
        fields=layer_tile_fields(layer),
        geometry_type=layer.geometry_type,
    )


def render_tile(spec: TileSpec, coord: TileCoord, tile_sql: TileSQL | None = None) -> RenderedTile:
    """Render one tile of a layer in PostGIS, in one statement."""
    tile_sql = tile_sql or TileSQL()
    with connection.cursor() as cursor:
        cursor.execute(tile_sql.query(spec, coord), tile_sql.params(spec, coord))
        version, data = cursor.fetchone()
    return RenderedTile(coord=coord, data=bytes(data or b""), version=version or 0)
