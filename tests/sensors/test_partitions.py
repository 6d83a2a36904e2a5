"""Observation partitions: made ahead, made on demand out of the DEFAULT partition, dropped."""

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection

from sensors import partitions, retention
from sensors.ingest import ingest
from sensors.models import Observation, SensorLayer
from sensors.senml import Reading
from tests.factories import LayerFactory
from tests.sensors.conftest import make_station


def partition_of(datastream_id, at) -> str:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tableoid::regclass::text FROM sensors_observation "
            "WHERE datastream_id = %s AND time = %s",
            [datastream_id, at],
        )
        return cursor.fetchone()[0]


def test_month_arithmetic():
    at = datetime(2026, 12, 31, 23, 0, tzinfo=UTC)
    assert partitions.month_start(at) == datetime(2026, 12, 1, tzinfo=UTC)
    assert partitions.add_months(at, 1) == datetime(2027, 1, 1, tzinfo=UTC)
    assert partitions.add_months(at, -12) == datetime(2025, 12, 1, tzinfo=UTC)


@pytest.mark.django_db
def test_the_table_is_partitioned_by_month_with_a_brin_index_on_time():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_get_partkeydef('sensors_observation'::regclass), "
            "(SELECT indexdef FROM pg_indexes WHERE indexname = 'sensors_observation_time_brin')"
        )
        partkey, brin = cursor.fetchone()
    assert partkey == 'RANGE ("time")'
    assert 'USING brin ("time")' in brin


@pytest.mark.django_db
def test_rows_caught_by_the_default_partition_move_into_their_month(stations, sources):
    at = datetime(2019, 3, 10, 12, tzinfo=UTC)
    datastream = stations.kim_long.datastreams.create(property_id=_water_level_id())
    # A writer that bypassed ingestion (no partition made first): DEFAULT catches the row.
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO sensors_observation (datastream_id, time, value) VALUES (%s, %s, 1.5)",
            [datastream.pk, at],
        )
    assert partition_of(datastream.pk, at) == "sensors_observation_default"
    assert partitions.ensure_months([at]) == ["sensors_observation_y2019m03"]
    assert partition_of(datastream.pk, at) == "sensors_observation_y2019m03"
    assert Observation.objects.get(datastream=datastream).value == 1.5
    assert partitions.ensure_months([at]) == []  # made once


def _water_level_id():
    from sensors.models import ObservedProperty

    return ObservedProperty.objects.get(code="water_level").pk


@pytest.mark.django_db
def test_maintenance_makes_months_ahead_drops_old_ones_and_trims_shorter_retentions(
    stations, sources, sensor_layer
):
    now = datetime.now(UTC)
    # The river layer keeps 400 days; a second layer keeps 30.
    short = LayerFactory(slug="short-memory")
    SensorLayer.objects.create(layer=short, retention_days=30)
    brief = make_station(short, "BRIEF", source=sources.river)
    old = now - timedelta(days=300)
    recent = now - timedelta(days=2)
    readings = [
        Reading(0, "KIM_LONG", "water_level", old, 1.0),
        Reading(1, "KIM_LONG", "water_level", recent, 2.0),
        Reading(2, "BRIEF", "water_level", recent, 3.0),
    ]
    assert ingest(readings, source=sources.river, now=now).accepted == 3
    short_ds = brief.datastreams.get()
    with connection.cursor() as cursor:
        # A reading 60 days old at the short layer's station (older than its 30 days).
        partitions.ensure_months([now - timedelta(days=60)])
        cursor.execute(
            "INSERT INTO sensors_observation (datastream_id, time, value) VALUES (%s, %s, 9)",
            [short_ds.pk, now - timedelta(days=60)],
        )
    # A month long past every retention.
    ancient = now - timedelta(days=800)
    partitions.ensure_months([ancient])
    ancient_name = f"sensors_observation_y{partitions.month_start(ancient):%Ym%m}"
    summary = retention.maintain(now=now)
    assert ancient_name in summary["dropped"]
    assert summary["deleted"] == 1
    assert partitions.add_months(now, 3) in partitions.existing_months()
    kept = sorted(Observation.objects.values_list("datastream__station__code", "value"))
    assert kept == [("BRIEF", 3.0), ("KIM_LONG", 1.0), ("KIM_LONG", 2.0)]
    # Nothing within the longest retention was dropped.
    assert partitions.month_start(old) in partitions.existing_months()
