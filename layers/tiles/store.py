"""The one way a rendered tile enters the cache: only while it still shows the layer as it is.

Writers of tiles take a shared advisory lock on the layer and compare version, slug and scope
under it; whoever removes stale tiles takes the exclusive lock (`layers.tiles.services`). Its own
module, so that everything that writes tiles (requests, seeds, PMTiles exports) can use it
without importing the services that also start seeds.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db import connection, transaction

from .cache import TileKey, access_scope, tile_cache
from .render import RenderedTile

# Advisory-lock namespace of the tile cache (two-key form: namespace, layer id).
LOCK_NAMESPACE = 0x7417


def store_if_current(*, layer_id: int, tiles: Iterable[tuple[TileKey, RenderedTile]]) -> int:
    """Store the tiles rendered from the layer's current data; return how many were stored.

    A tile is stored only if, under the lock, the layer still has the version it was rendered
    from and its key still names the layer's slug and scope: a tile keyed `public/` for a layer
    that has since become internal (or not ready) never lands where nginx serves it to anyone.
    The first tiles stored in an empty folder publish the version (`TileCache.publish`).
    """
    tiles = list(tiles)
    if not tiles:
        return 0
    cache = tile_cache()
    stored = 0
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock_shared(%s, %s)", [LOCK_NAMESPACE, layer_id])
        # A new statement, so a new snapshot: taken after any invalidation holding the lock.
        cursor.execute(
            "SELECT version, slug, visibility, status FROM layers_layer WHERE id = %s", [layer_id]
        )
        row = cursor.fetchone()
        if row is None:
            return 0
        version, slug, visibility, status = row
        scope = access_scope(visibility=visibility, status=status)
        # No tile cached yet: the folder is current for this version once these are in it (a
        # new layer, or one just cleared), so readers of this version may read it.
        first = not cache.published(scope, slug, version) and not cache.cached_zooms(scope, slug)
        for key, tile in tiles:
            if tile.version == version and key.slug == slug and key.scope == scope:
                cache.put(key, tile.gzipped)
                stored += 1
        if first and stored:
            cache.publish(scope, slug, version)
    return stored
