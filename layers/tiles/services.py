"""Tile writes and reads that must stay consistent with the data: fetch-or-render, rebuilding the
tiles a change touched, and resetting a layer's tiles (stores go through `store.store_if_current`).

A tile rendered from data older than the layer's current version, or keyed for a scope
(public/private) the layer no longer has, is never stored. Writers of tiles take a shared
advisory lock on the layer and compare version and scope under it; whoever removes stale tiles
takes the exclusive lock (after a data change committed, or inside a change of visibility or
status until it commits). So a slow render that started before a change cannot put its stale
tile back after the change's invalidation, nor a public tile of a layer that became internal.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from django.db import connection, transaction
from django.db.models import F, Sum
from django.utils import timezone

from layers.models import Layer, TileChange
from layers.queueing import enqueue

from .cache import TileCache, TileKey, layer_scope, tile_cache
from .grid import TileCoord, tiles_touching
from .render import RenderedTile, render_tile, tile_spec
from .seed import tile_seed_start
from .sql import TileSQL
from .store import LOCK_NAMESPACE, store_if_current

logger = logging.getLogger(__name__)

# A change of more features than this rebuilds the whole layer (in the background) instead.
FULL_REBUILD_FEATURES = 1000


@dataclass(frozen=True)
class TileAnswer:
    """A tile for a response: gzip bytes (b"" when empty) and whether it came from the cache.

    A tile rendered but not yet cached carries what `store()` needs to cache it.
    """

    data: bytes
    from_cache: bool
    layer_id: int | None = None
    unstored: tuple[TileKey, RenderedTile] | None = None

    def store(self) -> int:
        """Cache the rendered tile if it still shows the layer's current data; return 1 if so."""
        if self.unstored is None:
            return 0
        return store_if_current(layer_id=self.layer_id, tiles=[self.unstored])


def layers_access_changed(*, layers: Iterable[tuple[int, str]]) -> None:
    """Give layers whose visibility or status changed a new version and drop their cached tiles.

    Call it inside the transaction that made the change (`layers` holds (id, slug) pairs; the
    slug is where the tiles were cached). The tiles go at once, under the exclusive lock, which
    is held until that transaction ends: a tile rendered before the change waits for the commit,
    then finds a new version and is not stored, so no tile outlives the scope it was cached
    under (a public file of an internal layer would be sent by nginx to anyone). A seed rebuilds
    the tiles once the change has committed.
    """
    layers = sorted(set(layers))
    if not layers:
        return
    layer_ids = [layer_id for layer_id, _ in layers]
    cache = tile_cache()
    with transaction.atomic(), connection.cursor() as cursor:
        for layer_id in layer_ids:  # in id order, like every taker of several of these locks
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [LOCK_NAMESPACE, layer_id])
        Layer.objects.filter(pk__in=layer_ids).update(version=F("version") + 1)
        for _, slug in layers:
            cache.clear_layer(slug)

    def reseed() -> None:
        for layer in Layer.objects.filter(pk__in=layer_ids, feature_count__gt=0):
            if _reset_pending(layer.pk):
                # The same commit changed its data (a new layer's import publishes it): the
                # worker's invalidation resets and seeds it; a seed here would be a second one.
                continue
            layer_tiles_reset(layer=layer)

    transaction.on_commit(reseed, robust=True)


def _reset_pending(layer_id: int) -> bool:
    """Return whether a layer's unclaimed data changes will reset its tiles (and seed them)."""
    pending = TileChange.objects.filter(layer_id=layer_id).aggregate(n=Sum("feature_count"))
    return (pending["n"] or 0) > FULL_REBUILD_FEATURES


def layer_tile(
    *,
    layer: Layer,
    coord: TileCoord,
    cache: TileCache | None = None,
    store: bool = True,
    rendered: RenderedTile | None = None,
) -> TileAnswer:
    """Return a layer's tile from the cache, else render it and cache it when it holds features.

    With `store=False` the caller caches it later with `TileAnswer.store()` (the tile view does
    once the response is sent). `rendered` is the tile already rendered for the layer as it is
    (the view sends its statement with the visibility lookup), used if the cache has none.
    """
    cache = cache or tile_cache()
    key = TileKey.of(layer, coord)
    cached = cache.get(key)
    if cached is not None:
        return TileAnswer(cached, from_cache=True)
    tile = rendered or render_tile(tile_spec(layer), coord)
    if not tile.data:
        # Empty tiles are cached by seeds only: any request far from the data would leave a marker.
        return TileAnswer(b"", from_cache=False)
    answer = TileAnswer(tile.gzipped, from_cache=False, layer_id=layer.pk, unstored=(key, tile))
    if store:
        answer.store()
    return answer


def layer_tile_as_of(*, layer: Layer, coord: TileCoord, as_of: datetime) -> TileAnswer:
    """Return a layer's tile as the layer was at an instant, rendered now and never cached.

    The cache holds one copy per tile of the layer as it is, kept current by the invalidation
    of each change: a tile of the past has no place in it, neither to be read nor stored.
    """
    tile = render_tile(replace(tile_spec(layer), as_of=as_of), coord)
    return TileAnswer(tile.gzipped, from_cache=False)


def tiles_after_data_change(*, layer_id: int) -> list[TileCoord]:
    """Drop the cached tiles that committed data changes touched, then publish the version.

    Run by a worker (`layers.tasks.tiles_after_data_change`, queued by every data change in
    the change's own transaction), never in a web request: it reads folders and deletes files.
    Idempotent, and one run serves a whole burst of changes: it claims every pending change box
    of the layer, so the runs queued by the other changes find nothing and only publish.

    Under the layer's exclusive lock: read the version, claim the boxes, delete the tiles they
    touch, and only then publish the version (`TileCache.publish`), so readers asking for it
    render until no touched tile is left. A run killed half-way leaves its boxes (their delete
    rolls back) and no link; its message comes back (late ack) or the sweep queues it again.
    A change too large to follow box by box clears the layer and queues a seed. Returns the
    dropped tiles, whose rebuild is queued.
    """
    cache = tile_cache()
    dropped: set[TileCoord] = set()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [LOCK_NAMESPACE, layer_id])
        # Read after the lock: every change up to this version has committed its boxes, and a
        # run before this one that claimed some has deleted their tiles (it held the lock).
        layer = Layer.objects.filter(pk=layer_id).first()
        changes = list(TileChange.objects.select_for_update().filter(layer_id=layer_id))
        TileChange.objects.filter(pk__in=[change.pk for change in changes]).delete()
        if layer is None:
            return []
        scope = layer_scope(layer)
        if sum(change.feature_count for change in changes) > FULL_REBUILD_FEATURES:
            layer_tiles_reset(layer=layer)  # clears, publishes the version, queues a seed
            return []
        tile_sql = TileSQL()
        for z in cache.cached_zooms(scope, layer.slug) if changes else ():
            margin_m = tile_sql.margin_m(z)
            for change in changes:
                box = (change.min_x, change.min_y, change.max_x, change.max_y)
                for coord in cache.cached_in(scope, layer.slug, tiles_touching(z, box, margin_m)):
                    if coord not in dropped and cache.delete(TileKey(scope, layer.slug, coord)):
                        dropped.add(coord)
        cache.publish(scope, layer.slug, layer.version)
        if dropped:
            tiles = [[coord.z, coord.x, coord.y] for coord in sorted(dropped)]
            enqueue("layers.tasks.tiles_rebuild", layer_id, tiles)
    return sorted(dropped)


def tiles_changes_requeue(*, older_than_s: float) -> list[int]:
    """Queue again the work of changes whose boxes wait longer than they should; return the
    layers' ids. For a message lost after it left the outbox (the sweep calls this)."""
    cutoff = timezone.now() - timedelta(seconds=older_than_s)
    layer_ids = sorted(
        set(TileChange.objects.filter(created_at__lte=cutoff).values_list("layer_id", flat=True))
    )
    for layer_id in layer_ids:
        enqueue("layers.tasks.tiles_after_data_change", layer_id)
    return layer_ids


def tiles_rebuild(*, layer: Layer, coords: Iterable[TileCoord]) -> int:
    """Render tiles of a layer again into the cache; return how many were stored."""
    spec = tile_spec(layer)
    rendered = [(TileKey.of(layer, coord), render_tile(spec, coord)) for coord in coords]
    return store_if_current(layer_id=layer.pk, tiles=rendered)


def layer_tiles_clear(*, layer_id: int, slug: str) -> None:
    """Remove every cached tile of a layer at once (under the exclusive lock).

    An empty folder is current for any version: the layer's version is published again (when
    `slug` is still its slug), so nginx serves the tiles stored from now on.
    """
    cache = tile_cache()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [LOCK_NAMESPACE, layer_id])
        cache.clear_layer(slug)
        layer = Layer.objects.filter(pk=layer_id, slug=slug).first()
        if layer is not None:
            cache.publish(layer_scope(layer), slug, layer.version)


def layer_tiles_reset(*, layer: Layer, reseed: bool = True) -> None:
    """Drop all of a layer's cached tiles and, unless told not to, queue a seed to rebuild them."""
    layer_tiles_clear(layer_id=layer.pk, slug=layer.slug)
    if reseed and layer.feature_count:
        tile_seed_start(layer=layer)
