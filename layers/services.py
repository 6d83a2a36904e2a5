"""Writes: each change to a layer's data passes here, so count, extent and version stay true."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice

from django.contrib.gis.geos import GEOSGeometry
from django.db import connection, transaction
from django.db.models import F, Value
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Coalesce

from .models import Feature, Layer
from .queueing import enqueue

BATCH_SIZE = 2000


@dataclass
class FeatureRecord:
    """A feature on its way into a layer: geometry in EPSG:4326 and its attributes."""

    geom: GEOSGeometry
    attributes: dict = field(default_factory=dict)


def feature_name(*, layer: Layer, attributes: dict) -> str:
    """Return the text that names a feature of this layer (its naming field's value)."""
    value = attributes.get(layer.name_field) if layer.name_field else None
    return "" if value is None else str(value)


def _batches(items: Iterable, size: int) -> Iterator[list]:
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch


@transaction.atomic
def layer_replace_features(*, layer: Layer, records: Iterable[FeatureRecord]) -> int:
    """Replace all of a layer's features in one transaction; return how many were written."""
    Feature.objects.filter(layer=layer).delete()
    written = _insert(layer=layer, records=records)
    layer_data_changed(layer=layer)
    return written


@transaction.atomic
def layer_append_features(*, layer: Layer, records: Iterable[FeatureRecord]) -> int:
    """Add features to a layer in one transaction; return how many were written."""
    written = _insert(layer=layer, records=records)
    layer_data_changed(layer=layer)
    return written


def _insert(*, layer: Layer, records: Iterable[FeatureRecord]) -> int:
    written = 0
    for batch in _batches(records, BATCH_SIZE):
        rows = []
        for record in batch:
            geom = record.geom
            if geom.srid is None:
                geom.srid = 4326
            elif geom.srid != 4326:
                geom = geom.transform(4326, clone=True)
            rows.append(
                Feature(
                    layer=layer,
                    geom=geom,
                    attributes=record.attributes,
                    name=feature_name(layer=layer, attributes=record.attributes),
                )
            )
        Feature.objects.bulk_create(rows)
        written += len(rows)
    return written


def layer_data_changed(*, layer: Layer) -> None:
    """Record that a layer's data changed: new version, fresh count and extent, and its tiles.

    The cached tiles it touched (the trigger on `layers_feature` recorded where) are dropped
    and rebuilt by a worker: the request only queues that, in its own transaction (the outbox),
    and touches no file. Until the worker is done, the new version is not published in the
    cache, so readers of it get tiles rendered from the new data (`layers/tiles/cache.py`).
    """
    Layer.objects.filter(pk=layer.pk).update(version=F("version") + 1)
    layer_refresh_stats(layer=layer)
    enqueue("layers.tasks.tiles_after_data_change", layer.pk)


def layer_refresh_stats(*, layer: Layer) -> Layer:
    """Recompute a layer's feature count and extent from its features (in SQL)."""
    with connection.cursor() as cursor:
        # ST_Extent gives a box2d; a single point gives a degenerate box, still a valid envelope.
        cursor.execute(
            """
            UPDATE layers_layer SET
                feature_count = stats.n,
                extent = CASE WHEN stats.box IS NULL THEN NULL
                    ELSE ST_SetSRID(ST_MakeEnvelope(ST_XMin(stats.box), ST_YMin(stats.box),
                                                    ST_XMax(stats.box), ST_YMax(stats.box)), 4326)
                    END
            FROM (SELECT count(*) AS n, ST_Extent(geom) AS box
                  FROM layers_feature WHERE layer_id = %s) AS stats
            WHERE layers_layer.id = %s
            """,
            [layer.pk, layer.pk],
        )
    layer.refresh_from_db(fields=["feature_count", "extent", "version"])
    return layer


def features_changed(*, layer: Layer) -> None:
    """Say that single features of a layer were created, changed or deleted (one hook point).

    The data bookkeeping (version, count, extent) happens here; the tile cache learns which boxes
    changed from the database trigger on `layers_feature`, so this needs no geometry.
    """
    layer_data_changed(layer=layer)


@transaction.atomic
def feature_create(*, layer: Layer, geom: GEOSGeometry, attributes: dict) -> Feature:
    """Add one feature to a layer (geometry reprojected to EPSG:4326) and return it."""
    feature = Feature.objects.create(
        layer=layer,
        geom=_in_4326(geom),
        attributes=attributes,
        name=feature_name(layer=layer, attributes=attributes),
    )
    features_changed(layer=layer)
    return feature


@transaction.atomic
def feature_update(
    *, feature: Feature, geom: GEOSGeometry | None = None, attributes: dict | None = None
) -> Feature:
    """Change a feature's geometry and/or attributes (the whole dict) and return it."""
    if geom is not None:
        feature.geom = _in_4326(geom)
    if attributes is not None:
        feature.attributes = attributes
        feature.name = feature_name(layer=feature.layer, attributes=attributes)
    feature.save(update_fields=["geom", "attributes", "name", "updated_at"])
    feature.refresh_from_db(fields=["geom_3857", "search_text"])
    features_changed(layer=feature.layer)
    return feature


@transaction.atomic
def feature_delete(*, feature: Feature) -> None:
    """Delete one feature of a layer."""
    layer = feature.layer
    feature.delete()
    features_changed(layer=layer)


def _in_4326(geom: GEOSGeometry) -> GEOSGeometry:
    if geom.srid is None:
        geom.srid = 4326
    return geom if geom.srid == 4326 else geom.transform(4326, clone=True)


@transaction.atomic
def layer_update(*, layer: Layer, data: dict) -> Layer:
    """Change a layer's metadata or style (validated) and bump its version.

    A new naming field renames every feature (their search text follows), which is a data change.
    """
    renaming = "name_field" in data and data["name_field"] != layer.name_field
    for name, value in data.items():
        setattr(layer, name, value)
    layer.full_clean()
    layer.save()
    if renaming:
        Feature.objects.filter(layer=layer).update(
            name=Coalesce(KeyTextTransform(layer.name_field, "attributes"), Value(""))
            if layer.name_field
            else Value("")
        )
        layer_data_changed(layer=layer)
    else:
        Layer.objects.filter(pk=layer.pk).update(version=F("version") + 1)
        layer.refresh_from_db(fields=["version"])
        # No tile changed, but the cache must be published for the new version (a worker does).
        enqueue("layers.tasks.tiles_after_data_change", layer.pk)
    return layer
