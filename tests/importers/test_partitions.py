"""One partition per layer: made and dropped with the layer, swapped whole by a replacing import,
and the swap waits politely for readers of the feature table (layers/partitions.py)."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
import shapely
from django.contrib.gis.geos import Point
from django.db import connection, connections

from layers.jobs import import_files_remove
from layers.models import Feature, ImportJob, Layer, TileChange
from layers.partitions import partition_name
from tests.factories import LayerFactory

from .conftest import errors, run, snapshot, write_layer


def _partitions() -> dict[str, str]:
    """Return the attached partitions of layers_feature by name, with their bounds."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i "
            "JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'layers_feature'::regclass"
        )
        return dict(cursor.fetchall())


def _indexes(table: str) -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE tablename = %s ORDER BY 1", [table])
        return [row[0] for row in cursor.fetchall()]


def _tables_like(pattern: str) -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename LIKE %s",
            [pattern],
        )
        return sorted(row[0] for row in cursor.fetchall())


def _points(tmp_path, count: int, name: str = "points.gpkg"):
    rng = np.random.default_rng(count)
    geoms = shapely.points(107.55 + rng.random(count) * 0.1, 16.42 + rng.random(count) * 0.1)
    names = [f"Điểm {i}" for i in range(count)]
    return write_layer(tmp_path / name, list(geoms), {"ten": names}, driver="GPKG")


@pytest.mark.django_db
def test_a_layer_has_its_own_partition_from_creation_to_deletion(category):
    layer = LayerFactory(category=category)
    name = partition_name(layer.pk)
    assert _partitions()[name] == f"FOR VALUES IN ('{layer.pk}')"
    Feature.objects.create(layer=layer, geom=Point(107.58, 16.47, srid=4326), name="Đại Nội")
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {name}")  # the row went to the layer's own table
        assert cursor.fetchone()[0] == 1
    # Primary key (layer_id, id), GiST on the 3857 copy, trigram on the search text: built on
    # the partition from the partitioned indexes.
    indexes = " ".join(_indexes(name))
    assert "(layer_id, id)" in indexes
    assert "gist (geom_3857)" in indexes
    assert "gin (search_text gin_trgm_ops)" in indexes

    layer.delete()
    assert name not in _partitions()
    assert _tables_like(name) == []


@pytest.mark.django_db
def test_a_feature_of_no_layer_is_refused(category):
    from django.db import IntegrityError

    with pytest.raises(IntegrityError, match="no partition"):
        Feature.objects.create(layer_id=987654321, geom=Point(107.58, 16.47, srid=4326))


@pytest.mark.django_db
def test_a_replacing_import_swaps_in_a_fresh_indexed_table(layer, tmp_path):
    name = partition_name(layer.pk)
    old_ids = set(Feature.objects.filter(layer=layer).values_list("id", flat=True))
    TileChange.objects.filter(layer_id=layer.pk).delete()

    job = run(_points(tmp_path, 500), layer=layer)

    assert job.status == ImportJob.Status.SUCCEEDED, errors(job)
    features = Feature.objects.filter(layer=layer)
    assert features.count() == 500
    assert not old_ids & set(features.values_list("id", flat=True))
    assert features.filter(search_text="diem 7").exists()  # generated columns computed
    assert _partitions()[name] == f"FOR VALUES IN ('{layer.pk}')"
    assert len(_indexes(name)) == 3  # primary key, GiST, trigram
    # Nothing of the work is left: staging tables, the fresh table's own name, the old partition.
    assert _tables_like("import_%") == []
    assert _tables_like(f"{name}_%") == []
    # The tile cache learns of the swap (the trigger sees no row of it): one box, both counts.
    change = TileChange.objects.get(layer_id=layer.pk)
    assert change.feature_count == 502


@pytest.mark.django_db
def test_the_identifiers_stay_unique_across_layers(layer, tmp_path, category):
    other = LayerFactory(category=category)
    run(_points(tmp_path, 50, "a.gpkg"), layer=layer)
    run(_points(tmp_path, 50, "b.gpkg"), layer=other)
    ids = list(Feature.objects.filter(layer__in=[layer, other]).values_list("id", flat=True))
    assert len(ids) == len(set(ids)) == 100


@pytest.mark.django_db
def test_the_sweeper_drops_the_staging_tables_a_dead_worker_left(layer):
    job = ImportJob.objects.create(layer=layer, source_name="x.gpkg", mode="replace")
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE UNLOGGED TABLE import_staging_{job.pk} (n bigint)")
        cursor.execute(f"CREATE UNLOGGED TABLE import_prepared_{job.pk} (n bigint)")
    import_files_remove(job)
    assert _tables_like(f"import_%_{job.pk}") == []


def _hold_feature_table(release: threading.Event, holding: threading.Event) -> None:
    """Read layers_feature in an open transaction (a long export, say) until told to stop."""
    reader = connections.create_connection("default")
    try:
        with reader.cursor() as cursor:
            cursor.execute("BEGIN")
            cursor.execute("SELECT count(*) FROM layers_feature")
            holding.set()
            release.wait(30)
            cursor.execute("COMMIT")
    finally:
        reader.close()


@pytest.mark.django_db(transaction=True)
def test_the_swap_waits_for_a_reader_then_goes_through(category, tmp_path, settings):
    settings.PARTITION_SWAP_LOCK_TIMEOUT_MS = 100
    layer = LayerFactory(category=category)
    release, holding = threading.Event(), threading.Event()
    reader = threading.Thread(target=_hold_feature_table, args=(release, holding))
    reader.start()
    holding.wait(10)
    # While the swap waits, its lock request times out and is retried: readers of other layers
    # queue behind it for at most one timeout at a time.
    threading.Timer(1.0, release.set).start()
    started = time.monotonic()
    job = run(_points(tmp_path, 20), layer=layer)
    reader.join(10)
    assert job.status == ImportJob.Status.SUCCEEDED, errors(job)
    assert time.monotonic() - started >= 0.9  # it did wait for the reader
    assert Feature.objects.filter(layer=layer).count() == 20


@pytest.mark.django_db(transaction=True)
def test_a_swap_that_cannot_get_the_table_fails_clearly_and_changes_nothing(
    category, tmp_path, settings
):
    from layers.services import FeatureRecord, layer_replace_features

    settings.PARTITION_SWAP_LOCK_TIMEOUT_MS = 100
    settings.PARTITION_SWAP_WAIT_S = 1
    layer = LayerFactory(category=category)
    layer_replace_features(
        layer=layer,
        records=[FeatureRecord(geom=Point(107.58, 16.47, srid=4326), attributes={"ten": "A"})],
    )
    before = snapshot(Layer.objects.get(pk=layer.pk))
    release, holding = threading.Event(), threading.Event()
    reader = threading.Thread(target=_hold_feature_table, args=(release, holding))
    reader.start()
    holding.wait(10)
    try:
        job = run(_points(tmp_path, 20), layer=layer)
    finally:
        release.set()
        reader.join(10)
    assert job.status == ImportJob.Status.FAILED
    message = errors(job)
    assert "could not take the place of the layer's old ones" in message
    assert "a long export or query" in message
    assert "Nothing was changed" in message
    assert snapshot(Layer.objects.get(pk=layer.pk)) == before
    assert _tables_like(f"{partition_name(layer.pk)}_%") == []


@pytest.mark.django_db(transaction=True)
def test_a_large_import_fills_and_indexes_on_two_sessions(category, tmp_path, settings):
    settings.IMPORT_SESSIONS = 2
    settings.IMPORT_SESSION_MIN_ROWS = 100  # so that 500 features take the path of a large file
    layer = LayerFactory(category=category)

    job = run(_points(tmp_path, 500), layer=layer)

    assert job.status == ImportJob.Status.SUCCEEDED, errors(job)
    rows = Feature.objects.filter(layer=layer)
    assert rows.count() == 500
    ids = set(rows.values_list("id", flat=True))
    assert len(ids) == 500
    assert max(ids) - min(ids) < 500 + 10  # each session drew ids for its own rows only
    name = partition_name(layer.pk)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT contype FROM pg_constraint WHERE conrelid = %s::regclass ORDER BY 1", [name]
        )
        assert [row[0] for row in cursor.fetchall()] == ["c", "p"]  # the layer check, the key
    assert len(_indexes(name)) == 3
    assert _tables_like(f"{name}_%") == []
    # Every half went in: feature numbers 1..500 (odd and even) are all there.
    names = set(rows.values_list("name", flat=True))
    assert {f"Điểm {i}" for i in range(500)} == names


@pytest.mark.django_db(transaction=True)
def test_a_cancelled_import_leaves_no_fresh_table(category, tmp_path, monkeypatch):
    import layers.imports as imports

    layer = LayerFactory(category=category)
    cancelled = {}

    def cancel_before_publish(*args, **kwargs):
        job = ImportJob.objects.get(layer=layer)
        cancelled["tables"] = _tables_like(f"{partition_name(layer.pk)}_%")
        imports.import_cancel(job=job)  # staff cancel between the fill and the swap
        return original(*args, **kwargs)

    original = imports._publish
    monkeypatch.setattr(imports, "_publish", cancel_before_publish)
    job = run(_points(tmp_path, 30), layer=layer)
    assert job.status == ImportJob.Status.CANCELLED
    assert cancelled["tables"] == [f"{partition_name(layer.pk)}_import{job.pk}"]
    assert _tables_like(f"{partition_name(layer.pk)}_%") == []
    assert Feature.objects.filter(layer=layer).count() == 0


@pytest.mark.django_db(transaction=True)
def test_a_new_layer_published_by_its_import_is_seeded_once(category, tmp_path):
    """Its data change (a swap past FULL_REBUILD_FEATURES) and its publication (draft to ready)
    commit together: the worker's invalidation seeds it, the publication does not seed again."""
    from layers.models import TileJob

    layer = LayerFactory(category=category, status=Layer.Status.DRAFT)
    job = run(_points(tmp_path, 1200), layer=layer, mode="create")
    assert job.status == ImportJob.Status.SUCCEEDED, errors(job)
    assert Layer.objects.get(pk=layer.pk).status == Layer.Status.READY
    assert TileJob.objects.filter(layer=layer).count() == 1


@pytest.mark.django_db(transaction=True)
def test_deleting_a_layer_never_holds_readers_of_other_layers_behind_a_long_reader(
    category, settings
):
    """A long reader (an export) holds the feature table: the delete waits, asking for the lock
    in short tries, and other layers' readers are answered meanwhile (never queued behind it)."""
    settings.PARTITION_SWAP_LOCK_TIMEOUT_MS = 100
    doomed, other = LayerFactory(category=category), LayerFactory(category=category)
    Feature.objects.create(layer=other, geom=Point(107.58, 16.47, srid=4326), name="Đại Nội")
    release, holding = threading.Event(), threading.Event()
    reader = threading.Thread(target=_hold_feature_table, args=(release, holding))
    reader.start()
    holding.wait(10)
    deleted = threading.Event()

    def delete() -> None:
        try:
            Layer.objects.get(pk=doomed.pk).delete()
            deleted.set()
        finally:
            connections.close_all()

    deleter = threading.Thread(target=delete)
    deleter.start()
    try:
        time.sleep(0.5)  # the delete is now trying for the lock
        assert not deleted.is_set()
        third = connections.create_connection("default")
        try:
            with third.cursor() as cursor:
                # Queued behind a waiting ACCESS EXCLUSIVE request, this would wait for the
                # long reader: the statement timeout would end it with an error.
                cursor.execute("SET statement_timeout = '3s'")
                cursor.execute(
                    "SELECT count(*) FROM layers_feature WHERE layer_id = %s", [other.pk]
                )
                assert cursor.fetchone()[0] == 1
        finally:
            third.close()
    finally:
        release.set()
        reader.join(10)
        deleter.join(30)
    assert deleted.is_set()
    assert partition_name(doomed.pk) not in _partitions()
    assert partition_name(other.pk) in _partitions()
