"""A tile's statement sent with the visibility lookup, so an uncached tile costs one round trip.

The tile SQL needs the layer's shape (its id, tile fields and geometry type), which only the
lookup says. Each process remembers what the last lookup of a public layer said; the next
request for an uncached tile of that layer sends the tile's statement for that shape, then the
lookup, in psycopg's pipeline mode (both go out before either answer is read). The lookup still
decides: the tile is used only if the layer is visible to this requester and its shape is the
one the statement was sent for; otherwise it is thrown away and the view renders as usual.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import psycopg
from django.conf import settings
from django.db import connections

from layers.models import Layer
from mapserver.db_router import read_alias

from .cache import PUBLIC, TileCache, TileKey, layer_scope
from .grid import TileCoord
from .render import RenderedTile, send_tile, tile_spec
from .sql import TileSpec


@dataclass(frozen=True)
class SeenLayer:
    """What a lookup said of a layer: enough to send its tile's statement ahead of the next one."""

    spec: TileSpec
    scope: str
    version: int
    min_zoom: int
    max_zoom: int

    @classmethod
    def of(cls, layer: Layer) -> SeenLayer:
        return cls(
            spec=tile_spec(layer),
            scope=layer_scope(layer),
            version=layer.version,
            min_zoom=layer.min_zoom,
            max_zoom=layer.max_zoom,
        )


# By slug, in this process; as many entries as public layers that were asked for.
_seen: dict[str, SeenLayer] = {}


def forget_layers() -> None:
    """Forget every layer seen (tests start from none)."""
    _seen.clear()


def _worth_sending(seen: SeenLayer | None, coord: TileCoord, cache: TileCache) -> bool:
    """Return whether the tile is likely to be rendered: a public layer's uncached tile in range."""
    return (
        seen is not None
        and seen.scope == PUBLIC
        and seen.min_zoom <= coord.z <= seen.max_zoom
        and not cache.exists(TileKey(PUBLIC, seen.spec.name, coord, seen.version))
    )


def _pipelines() -> bool:
    # Prepared statements are what PgBouncer in transaction mode (before 1.21) cannot take, and
    # a pipeline is only worth it where the tile statement is prepared.
    return settings.TILE_SQL_PREPARE and psycopg.Pipeline.is_supported()


def visible_with_tile(
    lookup: Callable[[], list[Layer]], *, slugs: str, coord: TileCoord | None, cache: TileCache
) -> tuple[list[Layer], RenderedTile | None]:
    """Return what `lookup` returns and, if it was sent with it and still holds, the one tile."""
    seen = _seen.get(slugs)
    if coord is None or not _pipelines() or not _worth_sending(seen, coord, cache):
        layers, tile = lookup(), None
    else:
        connection = connections[read_alias()]
        connection.ensure_connection()
        with connection.connection.pipeline():
            read_tile = send_tile(seen.spec, coord)
            layers = lookup()
            tile = read_tile()
    if len(layers) == 1:
        now = _seen[layers[0].slug] = SeenLayer.of(layers[0])
        if tile is not None and now.spec != seen.spec:
            tile = None
    else:
        tile = None
    return layers, tile
