"""Keep the tile cache true to layer settings: a layer whose tiles would look different, or be
cached in the other scope (public/private), loses its cached tiles and gets a new seed; a layer
whose tiles would hold something else also gets a new version, so TileJSON's `?v=` changes and
clients fetch the new tiles instead of the ones they (or a proxy) kept.

Connected in `LayersConfig.ready`. Writes that skip `save()` (queryset updates) call
`services.layer_tiles_reset` themselves.
"""

from __future__ import annotations

from django.db import transaction
from django.db.models import F
from django.db.models.signals import post_delete, post_save, pre_save
from django.dispatch import receiver

from layers.models import Layer, TileChange

from .cache import layer_scope
from .render import layer_tile_fields
from .services import layer_tiles_clear, layer_tiles_reset


def _tile_content(layer: Layer) -> tuple:
    """Return what decides the bytes of a layer's tiles: their attributes and geometry SQL."""
    return (layer_tile_fields(layer), layer.geometry_type)


def _tile_look(layer: Layer) -> tuple:
    """Return what decides a layer's cached tiles: their path, scope and content."""
    return (layer.slug, layer_scope(layer), *_tile_content(layer))


@receiver(pre_save, sender=Layer, dispatch_uid="tiles_layer_pre_save")
def remember_tile_look(sender, instance: Layer, **kwargs) -> None:
    """Remember how the layer's tiles looked before this save."""
    before = Layer.objects.filter(pk=instance.pk).first() if instance.pk else None
    instance._tile_look_before = _tile_look(before) if before else None
    if before is not None:
        # save() writes every column: an instance loaded before a data change must not take
        # the version back, or an old `?v=` (and the tiles clients kept for it) would return.
        instance.version = max(instance.version, before.version)


@receiver(post_save, sender=Layer, dispatch_uid="tiles_layer_post_save")
def reset_tiles_when_their_look_changed(sender, instance: Layer, created: bool, **kwargs) -> None:
    """Bump the version if the tiles' content changed; drop and reseed them once it commits."""
    before = getattr(instance, "_tile_look_before", None)
    if created or before is None or before == _tile_look(instance):
        return
    old_slug, layer_id = before[0], instance.pk
    if before[2:] != _tile_content(instance):
        # In the database, not on the instance alone: `save(update_fields=…)` may leave it out.
        # A tile rendered before this change now carries an old version and is never stored.
        Layer.objects.filter(pk=layer_id).update(version=F("version") + 1)
        instance.refresh_from_db(fields=["version"])

    def reset() -> None:
        if old_slug != instance.slug:
            layer_tiles_clear(layer_id=layer_id, slug=old_slug)
        layer_tiles_reset(layer=instance)

    transaction.on_commit(reset, robust=True)


@receiver(post_delete, sender=Layer, dispatch_uid="tiles_layer_post_delete")
def clear_tiles_of_deleted_layer(sender, instance: Layer, **kwargs) -> None:
    """Remove a deleted layer's cached tiles and pending change boxes."""
    layer_id, slug = instance.pk, instance.slug
    TileChange.objects.filter(layer_id=layer_id).delete()
    transaction.on_commit(lambda: layer_tiles_clear(layer_id=layer_id, slug=slug), robust=True)
