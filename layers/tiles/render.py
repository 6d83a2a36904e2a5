"""Rendering: which attributes a layer's tiles carry, and one tile's MVT bytes from PostGIS."""

from __future__ import annotations

import copy
import logging
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cached_property

import deflate
import psycopg
from django.conf import settings
from django.db import connections
from django.db.backends.utils import CursorWrapper

from layers.models import Layer
from mapserver.db_router import read_alias
from mapserver.observability import metrics

from .grid import TileCoord
from .sql import TileSpec, TileSQL

logger = logging.getLogger(__name__)

# libdeflate at level 6 makes tiles as small as zlib at 6 (within 2 %) in a third of the time:
# 1.4 instead of 4.3 ms for an 82 KiB z14 tile, whose SQL takes ~5 ms (docs/tiles.md).
GZIP_LEVEL = 6


def gzip_tile(data: bytes) -> bytes:
    """Return MVT bytes gzip-compressed, for the cache and the response (empty stays empty)."""
    return bytes(deflate.gzip_compress(data, GZIP_LEVEL)) if data else b""


@dataclass(frozen=True)
class RenderedTile:
    """A tile as PostGIS made it: MVT bytes (empty when no feature shows) and the layer version."""

    coord: TileCoord
    data: bytes
    version: int

    @cached_property
    def gzipped(self) -> bytes:
        """The tile gzip-compressed (empty stays empty), compressed once for cache and response."""
        return gzip_tile(self.data)


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


# psycopg prepares a statement after this many runs; Django turns preparing off (None) for the
# whole connection. Past any count: only statements that ask (`prepare=True`) are prepared.
_PREPARE_ONLY_WHEN_ASKED = sys.maxsize


class PreparedCursor(psycopg.Cursor):
    """A cursor with server-side parameters whose statements are prepared on first use.

    Django binds parameters on the client and never prepares. The tile SQL is a handful of texts
    run with new values per tile, so PostgreSQL parses and plans it once per connection instead
    of per tile: at z16 planning costs a sizeable share of the time to fetch the features.
    """

    def execute(self, query, params=None, *, prepare: bool | None = None, binary=None):
        """Run a statement, prepared unless told otherwise."""
        prepare = True if prepare is None else prepare
        return super().execute(query, params, prepare=prepare, binary=binary)


def _tile_cursor(spec: TileSpec) -> CursorWrapper:
    """Return a cursor for the tile SQL, wrapped like Django's own (queries are logged, counted)."""
    # The replica's connection while a read endpoint is answered (mapserver/db_router.py).
    connection = connections[read_alias()]
    if not settings.TILE_SQL_PREPARE or spec.as_of is not None or spec.condition:
        # A look back is rare and each asks for its own instant: not worth preparing, and with
        # the values in the text the planner leaves out other layers' archived imports. A
        # filtered tile's statement is one of unboundedly many: not prepared either.
        return connection.cursor()
    connection.ensure_connection()
    connection.validate_thread_sharing()
    if connection.connection.prepare_threshold is None:
        connection.connection.prepare_threshold = _PREPARE_ONLY_WHEN_ASKED
    cursor = PreparedCursor(connection.connection)
    if connection.queries_logged:
        return connection.make_debug_cursor(cursor)
    return connection.make_cursor(cursor)


def send_tile(
    spec: TileSpec, coord: TileCoord, tile_sql: TileSQL | None = None
) -> Callable[[], RenderedTile]:
    """Send one tile's statement and return the function that reads the rendered tile.

    In psycopg's pipeline mode the statement goes out without waiting for its answer, so a
    query sent after it shares its round trip (see `ahead.py`).
    """
    tile_sql = tile_sql or TileSQL()
    cursor = _tile_cursor(spec)
    started = time.perf_counter()
    cursor.execute(tile_sql.query(spec, coord), tile_sql.params(spec, coord))

    def read() -> RenderedTile:
        with cursor:
            version, data = cursor.fetchone()
        tile = RenderedTile(coord=coord, data=bytes(data or b""), version=version or 0)
        if len(tile.data) > settings.TILE_MAX_BYTES:
            tile = _within_budget(spec, coord, tile_sql, tile)
        # Sent ahead in a pipeline, the time also holds the visibility lookup sent after it.
        metrics.tile_rendered(zoom=coord.z, duration_s=time.perf_counter() - started)
        return tile

    return read


def _within_budget(
    spec: TileSpec, coord: TileCoord, tile_sql: TileSQL, tile: RenderedTile
) -> RenderedTile:
    """Render a tile over `TILE_MAX_BYTES` again with fewer features, the smallest dropped.

    `max_features` caps a tile's features, not its bytes: a dense layer with several tile fields
    reaches ~640 KiB at the cap (bench/city.py). Such tiles are rare, so the extra statements
    are paid only by them: one to count the features, then as many as needed (at most 3) with
    the count scaled to the budget.
    """
    budget = settings.TILE_MAX_BYTES
    smaller = copy.copy(tile_sql)
    with _tile_cursor(spec) as cursor:
        cursor.execute(smaller.counted_query(spec, coord), smaller.params(spec, coord))
        _version, _data, features = cursor.fetchone()
    size = len(tile.data)
    for _attempt in range(3):
        if size <= budget or features <= 1:
            break
        smaller.max_features = max(1, int(features * budget / size * 0.95))
        with _tile_cursor(spec) as cursor:
            cursor.execute(smaller.counted_query(spec, coord), smaller.params(spec, coord))
            version, data, features = cursor.fetchone()
        tile = RenderedTile(coord=coord, data=bytes(data or b""), version=version or 0)
        size = len(tile.data)
    logger.info(
        "tile %s/%s/%s of %s kept its %s largest features to stay under %s bytes (%s bytes)",
        coord.z, coord.x, coord.y, spec.name, features, budget, size,
    )  # fmt: skip
    return tile


def render_tile(spec: TileSpec, coord: TileCoord, tile_sql: TileSQL | None = None) -> RenderedTile:
    """Render one tile of a layer in PostGIS, in one statement."""
    return send_tile(spec, coord, tile_sql)()
