"""Keep the tile cache true to layer settings: a layer whose tiles would look different, or be
cached in the other scope (public/private), loses its cached tiles and gets a new seed; a layer
whose tiles would hold something else, or whose visibility or status changed, also gets a new
version, so TileJSON's `?v=` changes, clients fetch the new tiles instead of the ones they (or a
proxy) kept, and a tile rendered before the change is never stored.

Connected in `LayersConfig.ready`. A change of visibility or status reaches
`services.layers_access_changed` on every path: `save()` through the model signals below, a
queryset `update()` through `querysets.access_changed`.
"""

from __future__ import annotations

from django.db import transaction
from django.db.models import F
from django.db.models.signals import post_delete, post_save, pre_save
from django.dispatch import receiver

from layers.models import Layer, TileChange
from layers.querysets import ACCESS_FIELDS, access_changed

from .cache import layer_scope
from .render import layer_tile_fields
from .services import layer_tiles_clear, layer_tiles_reset, layers_access_changed


def _tile_content(layer: Layer) -> tuple:
    """Return what decides the bytes of a layer's tiles: their attributes and geometry SQL."""
    return (layer_tile_fields(layer), layer.geometry_type)


def _tile_look(layer: Layer) -> tuple:
    """Return what decides a layer's cached tiles: their path, scope and content."""
    return (layer.slug, layer_scope(layer), *_tile_content(layer))


def _access(layer: Layer) -> tuple:
    """Return what decides who may see a layer's data."""
    return tuple(getattr(layer, name) for name in ACCESS_FIELDS)


@receiver(pre_save, sender=Layer, dispatch_uid="tiles_layer_pre_save")
def remember_tile_look(sender, instance: Layer, **kwargs) -> None:
    """Remember how the layer's tiles looked, and who could see it, before this save."""
    before = Layer.objects.filter(pk=instance.pk).first() if instance.pk else None
    instance._tile_look_before = _tile_look(before) if before else None
    instance._access_before = _access(before) if before else None
    if before is not None:
        # save() writes every column: an instance loaded before a data change must not take
        # the version back, or an old `?v=` (and the tiles clients kept for it) would return.
        instance.version = max(instance.version, before.version)


@receiver(post_save, sender=Layer, dispatch_uid="tiles_layer_post_save")
def reset_tiles_when_their_look_changed(
    sender, instance: Layer, created: bool, update_fields=None, **kwargs
) -> None:
    """Bump the version if the tiles' content or access changed; drop and reseed the tiles."""
    before = getattr(instance, "_tile_look_before", None)
    access_before = getattr(instance, "_access_before", None)
    if created or before is None:
        return
    old_slug, layer_id = before[0], instance.pk
    written = set(ACCESS_FIELDS) if update_fields is None else set(update_fields)
    if any(
        name in written and value != getattr(instance, name)
        for name, value in zip(ACCESS_FIELDS, access_before, strict=True)
    ):
        # New version and no tile left, now, under the lock held until this save commits.
        layers_access_changed(layers=[(layer_id, old_slug)])
        instance.refresh_from_db(fields=["version"])
        return
    if before == _tile_look(instance):
        return
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


@receiver(access_changed, sender=Layer, dispatch_uid="tiles_layer_access_changed")
def drop_tiles_when_access_changed(sender, layers: list[tuple[int, str]], **kwargs) -> None:
    """Bump and clear the layers whose visibility or status a queryset update changed."""
    layers_access_changed(layers=layers)


@receiver(post_delete, sender=Layer, dispatch_uid="tiles_layer_post_delete")
def clear_tiles_of_deleted_layer(sender, instance: Layer, **kwargs) -> None:
    """Remove a deleted layer's cached tiles and pending change boxes."""
    layer_id, slug = instance.pk, instance.slug
    TileChange.objects.filter(layer_id=layer_id).delete()
    transaction.on_commit(lambda: layer_tiles_clear(layer_id=layer_id, slug=slug), robust=True)
