"""Writes: each change to a layer's data passes here, so count, extent, version and history stay
true whatever the path (web map, REST API, OGC API, admin, import, sync).

Each write of features is one `ChangeEvent` (who, when, through which path). The database records
the versions it ends (triggers of migration 0008) and names them by the event this module puts in
`mapserver.event_<layer>` for the transaction, so the history holds even for plain SQL.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.contrib.gis.geos import GEOSGeometry
from django.db import connection, transaction
from django.db.models import F, Max, Value
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Coalesce

from .errors import EditConflict, NotFound
from .features.validation import checked_attributes, checked_geometry
from .models import ChangeAction, ChangeChannel, ChangeEvent, Feature, FeatureVersion, Layer
from .queueing import enqueue

BATCH_SIZE = 2000


@dataclass(frozen=True)
class WriteContext:
    """Who writes and through which path: what the history records of a change."""

    user: AbstractBaseUser | AnonymousUser | None = None
    channel: str = ChangeChannel.API

    @property
    def user_id(self) -> int | None:
        user = self.user
        return user.pk if user is not None and user.is_authenticated else None


@dataclass
class FeatureRecord:
    """A feature on its way into a layer: geometry in EPSG:4326 and its attributes."""

    geom: GEOSGeometry
    attributes: dict = field(default_factory=dict)


def feature_name(*, layer: Layer, attributes: dict) -> str:
    """Return the text that names a feature of this layer (its naming field's value)."""
    value = attributes.get(layer.name_field) if layer.name_field else None
    return "" if value is None else str(value)


def change_event_open(
    *,
    layer: Layer,
    action: str,
    by: WriteContext,
    feature_id: int | None = None,
    counts: dict | None = None,
    note: str = "",
    job_id: int | None = None,
    event_id: int | None = None,
    at=None,
) -> ChangeEvent:
    """Record a change to the layer's features and make it the transaction's event for the layer:
    the versions the triggers end from now on name it. (`event_id` and `at`: an import's, drawn
    before its features were written, see `change_event_reserve`.)"""
    values = {
        "layer": layer,
        "action": action,
        "channel": by.channel,
        "user_id": by.user_id,
        "feature_id": feature_id,
        "counts": counts or {},
        "note": note,
        "job_id": job_id,
    }
    if event_id is not None:
        values["id"] = event_id
    if at is not None:
        values["at"] = at
    event = ChangeEvent.objects.create(**values)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT set_config(%s, %s, true), at FROM layers_changeevent WHERE id = %s",
            [f"mapserver.event_{int(layer.pk)}", str(event.pk), event.pk],
        )
        event.at = cursor.fetchone()[1]
    return event


def change_event_reserve() -> tuple[int, object]:
    """Return an event id and the database's time for a write that happens before its event is
    recorded (an import fills its table first and records the event when it swaps it in)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence('layers_changeevent', 'id')), clock_timestamp()"
        )
        return cursor.fetchone()


def _batches(items: Iterable, size: int) -> Iterator[list]:
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch


LOADER = WriteContext(channel=ChangeChannel.IMPORT)


@transaction.atomic
def layer_replace_features(
    *, layer: Layer, records: Iterable[FeatureRecord], by: WriteContext = LOADER
) -> int:
    """Replace all of a layer's features in one transaction; return how many were written.

    For small loads (the demo, tests): an upload goes through `layers.imports`.
    """
    event = change_event_open(layer=layer, action=ChangeAction.IMPORT, by=by)
    removed, _ = Feature.objects.filter(layer=layer).delete()
    written = _insert(layer=layer, records=records, event_id=event.pk)
    event.counts = {"added": written, "removed": removed}
    event.save(update_fields=["counts"])
    layer_data_changed(layer=layer)
    return written


@transaction.atomic
def layer_append_features(
    *, layer: Layer, records: Iterable[FeatureRecord], by: WriteContext = LOADER
) -> int:
    """Add features to a layer in one transaction; return how many were written."""
    event = change_event_open(layer=layer, action=ChangeAction.IMPORT, by=by)
    written = _insert(layer=layer, records=records, event_id=event.pk)
    event.counts = {"added": written, "removed": 0}
    event.save(update_fields=["counts"])
    layer_data_changed(layer=layer)
    return written


def _insert(*, layer: Layer, records: Iterable[FeatureRecord], event_id: int) -> int:
    written = 0
    for batch in _batches(records, BATCH_SIZE):
        rows = []
        for record in batch:
            rows.append(
                Feature(
                    layer=layer,
                    geom=_in_4326(record.geom),
                    attributes=record.attributes,
                    name=feature_name(layer=layer, attributes=record.attributes),
                    event_id=event_id,
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


def features_changed(*, layer: Layer, added: int = 0, geom: GEOSGeometry | None = None) -> None:
    """Say that single features of a layer were created, changed or deleted (one hook point).

    New version and tiles as `layer_data_changed`, but the count and extent follow the edit
    instead of a scan of the whole layer (a million-feature layer would take a second an edit):
    the extent grows to hold `geom`, and does not shrink on a delete until the next recount.
    """
    with connection.cursor() as cursor:
        cursor.execute(
            """
            UPDATE layers_layer SET
                version = version + 1,
                feature_count = greatest(feature_count + %(added)s, 0),
                extent = CASE WHEN %(geom)s::geometry IS NULL THEN extent ELSE (
                    SELECT ST_MakeEnvelope(ST_XMin(box), ST_YMin(box), ST_XMax(box), ST_YMax(box),
                                           4326)
                    FROM (SELECT ST_Collect(coalesce(extent, %(geom)s::geometry),
                                            %(geom)s::geometry)::box2d AS box) AS grown
                ) END
            WHERE id = %(layer)s
            """,
            {"added": added, "geom": geom.ewkt if geom else None, "layer": layer.pk},
        )
    layer.refresh_from_db(fields=["feature_count", "extent", "version"])
    enqueue("layers.tasks.tiles_after_data_change", layer.pk)


def feature_geojson(feature: Feature | FeatureVersion) -> dict:
    """Return a feature (or a past version of it) as a GeoJSON Feature with its version."""
    feature_id = feature.feature_id if isinstance(feature, FeatureVersion) else feature.pk
    return {
        "type": "Feature",
        "id": feature_id,
        "version": feature.version,
        "geometry": json.loads(feature.geom.json),
        "properties": feature.attributes,
    }


def _locked(feature: Feature) -> Feature:
    # Only the feature's row: FOR UPDATE of the joined layer too would queue every edit of the
    # layer behind one another for the whole transaction.
    locked = (
        Feature.objects.select_for_update(of=("self",))
        .filter(layer_id=feature.layer_id, pk=feature.pk)
        .select_related("layer")
        .first()
    )
    if locked is None:
        raise NotFound(f"Feature {feature.pk} was deleted meanwhile.")
    return locked


def _check_version(
    feature: Feature, expected: int | None, *, geom=None, attributes=None, deleting=False
) -> None:
    if expected is None or feature.version == expected:
        return
    yours: dict = {"version": expected}
    if geom is not None:
        yours["geometry"] = json.loads(geom.json)
    if attributes is not None:
        yours["properties"] = attributes
    if deleting:
        yours["delete"] = True
    raise EditConflict(
        f"Feature {feature.pk} was changed by someone else since you opened it (you had version "
        f"{expected}, it is now at version {feature.version}). Look at both, then keep theirs or "
        "save yours over it.",
        current=feature_geojson(feature),
        yours=yours,
    )


@transaction.atomic
def feature_create(
    *, layer: Layer, geom: GEOSGeometry, attributes: dict, by: WriteContext = WriteContext()
) -> Feature:
    """Add one feature to a layer (geometry reprojected to EPSG:4326, checked against the layer's
    kind and the city's region, attributes against its schema) and return it."""
    attributes = checked_attributes(attributes, layer=layer, complete=True)
    geom = checked_geometry(_in_4326(geom), layer=layer, where=True)
    event = change_event_open(layer=layer, action=ChangeAction.CREATE, by=by)
    feature = Feature.objects.create(
        layer=layer,
        geom=geom,
        attributes=attributes,
        name=feature_name(layer=layer, attributes=attributes),
        event_id=event.pk,
    )
    ChangeEvent.objects.filter(pk=event.pk).update(feature_id=feature.pk)
    feature.refresh_from_db(fields=["geom_3857", "search_text", "version", "updated_at"])
    features_changed(layer=layer, added=1, geom=geom)
    return feature


@transaction.atomic
def feature_update(
    *,
    feature: Feature,
    geom: GEOSGeometry | None = None,
    attributes: dict | None = None,
    expected_version: int | None = None,
    by: WriteContext = WriteContext(),
    action: str = ChangeAction.UPDATE,
    note: str = "",
    counts: dict | None = None,
) -> Feature:
    """Change a feature's geometry and/or attributes (the whole dict) and return it.

    `expected_version`: the version the change is based on; if the feature has moved on since,
    nothing is written and `EditConflict` carries both sides. A save that changes nothing
    records nothing.
    """
    current = _locked(feature)
    layer = current.layer
    if geom is not None:
        geom = _in_4326(geom)
    _check_version(current, expected_version, geom=geom, attributes=attributes)
    if attributes is not None:
        attributes = checked_attributes(attributes, layer=layer, complete=True)
    if geom is not None:
        geom = checked_geometry(geom, layer=layer, where=action != ChangeAction.RESTORE)
    same_geom = geom is None or (
        geom.geom_type == current.geom.geom_type and geom.equals_exact(current.geom, 0)
    )
    if same_geom and (attributes is None or attributes == current.attributes):
        return current
    change_event_open(
        layer=layer, action=action, by=by, feature_id=current.pk, note=note, counts=counts
    )
    if geom is not None:
        current.geom = geom
    if attributes is not None:
        current.attributes = attributes
        current.name = feature_name(layer=layer, attributes=attributes)
    current.save(update_fields=["geom", "attributes", "name", "updated_at"])
    current.refresh_from_db(
        fields=["geom_3857", "search_text", "version", "updated_at", "event_id"]
    )
    features_changed(layer=layer, geom=geom)
    return current


@transaction.atomic
def feature_delete(
    *, feature: Feature, expected_version: int | None = None, by: WriteContext = WriteContext()
) -> ChangeEvent:
    """Delete one feature of a layer (its last version stays in the history); return the event."""
    current = _locked(feature)
    _check_version(current, expected_version, deleting=True)
    layer = current.layer
    event = change_event_open(layer=layer, action=ChangeAction.DELETE, by=by, feature_id=current.pk)
    current.delete()
    features_changed(layer=layer, added=-1)
    return event


@transaction.atomic
def feature_restore(
    *,
    layer: Layer,
    feature_id: int,
    version: int,
    expected_version: int | None = None,
    by: WriteContext = WriteContext(),
) -> tuple[Feature, bool]:
    """Bring back a past version of a feature, as a new version; return it and whether the
    feature had been deleted (it comes back with its id).

    `expected_version`: the version the restore replaces (the current one, or for a deleted
    feature the one that was deleted); if the feature has moved on since, nothing is written and
    `EditConflict` carries both sides. Attributes the layer no longer has are left out; the
    event's counts name the restored version and what was left out (`restored_version`,
    `left_out`), for the map to word in the reader's language, and its note says it in English.
    """
    past = FeatureVersion.objects.filter(
        layer_id=layer.pk, feature_id=feature_id, version=version
    ).first()
    current = Feature.objects.filter(layer=layer, pk=feature_id).first()
    if past is None:
        if current is not None and current.version == version:
            raise EditConflict(
                f"Version {version} is the feature's current version: there is nothing to restore.",
                current=feature_geojson(current),
                yours={"version": version},
            )
        raise NotFound(f"Feature {feature_id} of layer '{layer.slug}' has no version {version}.")
    fields = {spec.get("name") for spec in layer.attribute_schema or [] if isinstance(spec, dict)}
    attributes = {k: v for k, v in past.attributes.items() if not fields or k in fields}
    dropped = sorted(set(past.attributes) - set(attributes))
    note = f"Version {version} restored."
    if dropped:
        note += " Left out, no longer fields of the layer: " + ", ".join(dropped) + "."
    counts = {"restored_version": version, "left_out": dropped}
    if current is not None:
        restored = feature_update(
            feature=current,
            geom=past.geom,
            attributes=attributes,
            expected_version=expected_version,
            by=by,
            action=ChangeAction.RESTORE,
            note=note,
            counts=counts,
        )
        return restored, False
    # Deleted: lock the layer's history of this feature against a second restore meanwhile.
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [layer.pk, feature_id])
    if Feature.objects.filter(layer=layer, pk=feature_id).exists():
        raise EditConflict(
            f"Feature {feature_id} was brought back by someone else meanwhile: open it again.",
            current=feature_geojson(Feature.objects.get(layer=layer, pk=feature_id)),
            yours={"version": version},
        )
    last = FeatureVersion.objects.filter(layer_id=layer.pk, feature_id=feature_id).aggregate(
        last=Max("version")
    )["last"]
    if expected_version is not None and expected_version != last:
        raise EditConflict(
            f"Feature {feature_id} was changed by someone else since you opened it (you had "
            f"version {expected_version}; it was deleted at version {last}). Open its history "
            "to see the versions, then restore the one you want.",
            current=None,
            yours={"version": version},
        )
    event = change_event_open(
        layer=layer,
        action=ChangeAction.RESTORE,
        by=by,
        feature_id=feature_id,
        note=note,
        counts=counts,
    )
    geom = _in_4326(past.geom)
    restored = Feature(
        pk=feature_id,
        layer=layer,
        geom=geom,
        attributes=attributes,
        name=feature_name(layer=layer, attributes=attributes),
        version=(last or version) + 1,
        event_id=event.pk,
    )
    restored.save(force_insert=True)
    restored.refresh_from_db(fields=["geom_3857", "search_text", "version", "updated_at"])
    features_changed(layer=layer, added=1, geom=geom)
    return restored, True


def _in_4326(geom: GEOSGeometry) -> GEOSGeometry:
    if geom.srid is None:
        geom.srid = 4326
    return geom if geom.srid == 4326 else geom.transform(4326, clone=True)


@transaction.atomic
def layer_update(*, layer: Layer, data: dict) -> Layer:
    """Change a layer's metadata or style (validated) and bump its version.

    A new naming field renames every feature (their search text follows), which is a data change
    but makes no new version of any feature (the history triggers ignore derived columns).
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
