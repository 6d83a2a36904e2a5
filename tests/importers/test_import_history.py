"""What an import leaves in the history: one event with its counts, and the replaced features
kept (as an archived partition, not a copy) so the layer can be read and restored as it was."""

import json

import pytest
from django.db import connection
from psycopg import sql

from layers.features.query import as_of_rows_sql
from layers.models import ChangeEvent, Feature, FeatureVersion
from layers.partitions import archive_name
from layers.services import feature_restore

from .conftest import run

pytestmark = pytest.mark.django_db(transaction=True)


def geojson(*names: str, lon: float = 107.58) -> bytes:
    features = [
        {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [lon + i / 1000, 16.46]},
            "properties": {"ten": name},
        }
        for i, name in enumerate(names)
    ]
    return json.dumps({"type": "FeatureCollection", "features": features}).encode()


def archives(layer_id: int) -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
            " WHERE i.inhparent = 'layers_featureversion'::regclass AND c.relname LIKE %s"
            " ORDER BY 1",
            [f"layers_featureversion_p{layer_id}_e%"],
        )
        return [name for (name,) in cursor.fetchall()]


def test_a_replacing_import_is_one_event_and_keeps_what_it_replaced(layer, staff):
    old = {f.pk: f.attributes["ten"] for f in Feature.objects.filter(layer=layer)}
    job = run(geojson("Ngọ Môn", "Phu Văn Lâu", "Hiển Lâm Các"), layer=layer, name="moi.geojson")
    assert job.status == "succeeded", job.messages
    event = ChangeEvent.objects.get(job=job)
    assert (event.action, event.channel) == ("import", "import")
    assert event.counts == {"added": 3, "removed": 2}
    assert event.note == "moi.geojson"
    # The new features carry the import's event, version 1, and start at its instant.
    new = list(Feature.objects.filter(layer=layer))
    assert {f.event_id for f in new} == {event.pk}
    assert {f.updated_at for f in new} == {event.at}
    # The old ones are a child table of the history, read through it.
    assert archives(layer.pk) == [archive_name(layer.pk, event.pk)]
    past = FeatureVersion.objects.filter(layer_id=layer.pk)
    assert {v.feature_id: v.attributes["ten"] for v in past} == old
    assert {(v.valid_to, v.ended_by) for v in past} == {(event.at, event.pk)}

    # A replaced feature can be brought back, with its id, as a new version.
    gone = min(old)
    restored, came_back = feature_restore(layer=layer, feature_id=gone, version=1)
    assert came_back and restored.pk == gone and restored.version == 2
    assert Feature.objects.filter(layer=layer).count() == 4

    # A second replacing import archives again: names and indexes do not collide.
    job = run(geojson("Cửa Hiển Nhơn"), layer=layer, name="lan2.geojson")
    assert job.status == "succeeded", job.messages
    assert len(archives(layer.pk)) == 2
    assert FeatureVersion.objects.filter(layer_id=layer.pk).count() == 2 + 4
    assert Feature.objects.filter(layer=layer).count() == 1

    # Deleting the layer takes its history with it.
    layer_id = layer.pk
    layer.delete()
    assert archives(layer_id) == []
    assert not FeatureVersion.objects.filter(layer_id=layer_id).exists()


def test_without_archiving_the_replaced_features_are_dropped(layer, settings):
    settings.HISTORY_ARCHIVE_IMPORTS = False
    job = run(geojson("Ngọ Môn"), layer=layer, name="moi.geojson")
    assert job.status == "succeeded", job.messages
    assert archives(layer.pk) == []
    assert ChangeEvent.objects.get(job=job).counts == {"added": 1, "removed": 2}


def test_an_appending_import_is_one_event(layer):
    job = run(geojson("Ngọ Môn", "Phu Văn Lâu"), layer=layer, name="them.geojson", mode="append")
    assert job.status == "succeeded", job.messages
    event = ChangeEvent.objects.get(job=job)
    assert event.counts == {"added": 2, "removed": 0}
    added = Feature.objects.filter(layer=layer, event_id=event.pk)
    assert sorted(f.name for f in added) == ["Ngọ Môn", "Phu Văn Lâu"]
    assert Feature.objects.filter(layer=layer).count() == 4


def test_a_failed_import_records_no_event(layer):
    job = run(b"not a file at all", layer=layer, name="hong.geojson")
    assert job.status == "failed"
    assert not ChangeEvent.objects.filter(job=job).exists()
    assert archives(layer.pk) == []


def test_a_read_at_an_instant_skips_the_archives_that_cannot_hold_it(layer):
    """Each archive says (CHECK constraints) which layer it holds and when its rows were current,
    so the planner reads only the one archive an instant can fall in, however many imports the
    layer has had (without them, every archive of every layer was scanned)."""
    events = []
    for i, names in enumerate([("Ngọ Môn",), ("Phu Văn Lâu", "Hiển Lâm Các"), ("Cửa Hiển Nhơn",)]):
        job = run(geojson(*names), layer=layer, name=f"lan{i}.geojson")
        assert job.status == "succeeded", job.messages
        events.append(ChangeEvent.objects.get(job=job))
    assert len(archives(layer.pk)) == 3
    # Between the first and second import: the first import's rows, archived by the second.
    instant = events[0].at + (events[1].at - events[0].at) / 2
    statement = as_of_rows_sql(layer=sql.Literal(layer.pk), instant=sql.Literal(instant)).as_string(
        connection.connection
    )
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN " + statement)
        plan = "\n".join(line for (line,) in cursor.fetchall())
        cursor.execute(statement)
        names = sorted(row[5] for row in cursor.fetchall())
    assert names == ["Ngọ Môn"]
    scanned = {name for name in archives(layer.pk) if name in plan}
    assert scanned == {archive_name(layer.pk, events[1].pk)}, plan
