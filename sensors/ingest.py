"""Writing observations: one path for the HTTP API, MQTT, the demo and the benchmark.

`ingest(readings, source=…)` checks each reading against the source's stations and the
property's unit, writes the batch in one statement (`INSERT … SELECT FROM unnest(arrays) … ON
CONFLICT (datastream_id, time) DO UPDATE`, idempotent on the key: a batch sent twice changes
nothing the second time), moves `Latest` forward, and queues the evaluation of the datastreams
it wrote (`sensors.tasks.evaluate_datastreams`), all in one transaction.

Why arrays and not COPY: one round trip and one statement per batch, no temporary table, so it
works behind PgBouncer in transaction mode; bench/sensors_ingest.py measures it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from layers.queueing import enqueue

from . import partitions
from .models import Datastream, ObservedProperty, SensorSource, Station
from .senml import Reading, Refusal

logger = logging.getLogger(__name__)

EVALUATE_TASK = "sensors.tasks.evaluate_datastreams"

WRITE_SQL = """
WITH batch AS (
    SELECT * FROM unnest(%s::bigint[], %s::timestamptz[], %s::float8[])
        AS b (datastream_id, time, value)
), written AS (
    INSERT INTO sensors_observation AS o (datastream_id, time, value, flag)
    SELECT datastream_id, time, value, 0 FROM batch
    ON CONFLICT (datastream_id, time) DO UPDATE
        SET value = EXCLUDED.value, flag = EXCLUDED.flag
        -- the same value again keeps the row, and the flag a review may have set on it
        WHERE o.value IS DISTINCT FROM EXCLUDED.value
    RETURNING o.datastream_id, o.time
)
SELECT count(*), min(time), array_agg(DISTINCT datastream_id) FROM written
"""

# The newest reading of each datastream of the batch; Latest only moves forward (a late
# reading never replaces a newer one; a corrected value at the same instant does).
LATEST_SQL = """
INSERT INTO sensors_latest AS l (datastream_id, time, value, flag, state, state_since)
SELECT datastream_id, time, value, 0, 'normal', time
FROM unnest(%s::bigint[], %s::timestamptz[], %s::float8[]) AS b (datastream_id, time, value)
ON CONFLICT (datastream_id) DO UPDATE
    SET time = EXCLUDED.time, value = EXCLUDED.value, flag = EXCLUDED.flag
    WHERE l.time < EXCLUDED.time
       OR (l.time = EXCLUDED.time AND l.value IS DISTINCT FROM EXCLUDED.value)
"""


@dataclass
class IngestResult:
    """What became of a batch: written (new or changed), duplicates, refused records."""

    accepted: int = 0
    duplicates: int = 0
    rejected: list[Refusal] = field(default_factory=list)
    # How many refusals were for stations that are not the source's (403 when all are).
    not_owned: int = 0
    datastream_ids: list[int] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "rejected": [refusal.as_dict() for refusal in sorted(self.rejected, key=_index)],
        }


def _index(refusal: Refusal) -> int:
    return refusal.index


def _properties() -> dict[str, ObservedProperty]:
    return {prop.code: prop for prop in ObservedProperty.objects.all()}


def _stations(source: SensorSource, codes: set[str]) -> dict[str, Station | None]:
    """Return the source's active stations by code (None: the code is ambiguous)."""
    found: dict[str, Station | None] = {}
    rows = Station.objects.filter(source=source, active=True, code__in=codes).select_related(
        "layer__sensor_config"
    )
    for station in rows:
        found[station.code] = None if station.code in found else station
    return found


def _datastreams(pairs: set[tuple[int, int]]) -> dict[tuple[int, int], int]:
    """Return datastream ids by (station id, property id), made for the pairs that lack one."""
    station_ids = {station_id for station_id, _ in pairs}
    ids = {
        (station_id, property_id): pk
        for pk, station_id, property_id in Datastream.objects.filter(
            station_id__in=station_ids
        ).values_list("pk", "station_id", "property_id")
    }
    missing = pairs - ids.keys()
    if not missing:
        return ids
    # A station's first reading of a property makes its datastream (another batch may be
    # making it at the same moment: ignore the conflict and read it back).
    Datastream.objects.bulk_create(
        [Datastream(station_id=s, property_id=p) for s, p in sorted(missing)],
        ignore_conflicts=True,
    )
    return {
        (station_id, property_id): pk
        for pk, station_id, property_id in Datastream.objects.filter(
            station_id__in=station_ids
        ).values_list("pk", "station_id", "property_id")
    }


def ingest(
    readings: list[Reading],
    *,
    source: SensorSource,
    refusals: list[Refusal] | None = None,
    now: datetime | None = None,
) -> IngestResult:
    """Write the readings of one source; refuse, one by one, those it may not write."""
    now = now or timezone.now()
    result = IngestResult(rejected=list(refusals or []))
    if not readings:
        return result
    if not source.active:
        result.rejected += [Refusal(r.index, "the source is not active") for r in readings]
        return result
    properties = _properties()
    stations = _stations(source, {reading.station for reading in readings})
    max_future = timedelta(seconds=settings.SENSORS_MAX_FUTURE_S)
    kept: list[tuple[Reading, Station, ObservedProperty]] = []
    for reading in readings:
        station = stations.get(reading.station, False)
        if station is False:
            result.not_owned += 1
            result.rejected.append(
                Refusal(
                    reading.index,
                    f"station {reading.station!r} is not one of source {source.name!r}'s "
                    "active stations",
                )
            )
            continue
        if station is None:
            result.rejected.append(
                Refusal(
                    reading.index,
                    f"station code {reading.station!r} names several of the source's stations",
                )
            )
            continue
        prop = properties.get(reading.property)
        if prop is None:
            result.rejected.append(Refusal(reading.index, f"unknown property {reading.property!r}"))
            continue
        if reading.unit is not None and reading.unit != prop.unit:
            result.rejected.append(
                Refusal(
                    reading.index,
                    f"unit {reading.unit!r} does not match {prop.code}'s unit {prop.unit!r}: "
                    f"send the value in {prop.unit}",
                )
            )
            continue
        if reading.time > now + max_future:
            result.rejected.append(
                Refusal(
                    reading.index,
                    f"time {reading.time.isoformat()} is in the future: check the clock of "
                    "the station",
                )
            )
            continue
        config = getattr(station.layer, "sensor_config", None)
        retention = timedelta(days=config.retention_days if config else 400)
        if reading.time < now - retention:
            result.rejected.append(
                Refusal(
                    reading.index,
                    f"time {reading.time.isoformat()} is older than the layer's retention "
                    f"({retention.days} days)",
                )
            )
            continue
        kept.append((reading, station, prop))
    if kept:
        _write(kept, result)
    return result


def _write(kept: list[tuple[Reading, Station, ObservedProperty]], result: IngestResult) -> None:
    # Partitions first, in their own transactions: the batch then lands in its months.
    partitions.ensure_months({reading.time for reading, _, _ in kept})
    with transaction.atomic():
        ids = _datastreams({(station.pk, prop.pk) for _, station, prop in kept})
        # One row per key: the last of the batch wins (ON CONFLICT may not touch a row twice).
        rows: dict[tuple[int, datetime], float] = {}
        for reading, station, prop in kept:
            rows[(ids[(station.pk, prop.pk)], reading.time.astimezone(UTC))] = reading.value
        # In key order, as every writer does: two batches touching the same rows lock them in
        # the same order, so they wait for each other rather than deadlock.
        keys = sorted(rows)
        with connection.cursor() as cursor:
            cursor.execute(
                WRITE_SQL,
                [[k[0] for k in keys], [k[1] for k in keys], [rows[k] for k in keys]],
            )
            written, since, datastream_ids = cursor.fetchone()
            newest: dict[int, tuple[datetime, float]] = {}
            for (datastream_id, at), value in rows.items():
                if datastream_id not in newest or newest[datastream_id][0] < at:
                    newest[datastream_id] = (at, value)
            order = sorted(newest)
            cursor.execute(
                LATEST_SQL,
                [order, [newest[d][0] for d in order], [newest[d][1] for d in order]],
            )
        result.accepted = written
        result.duplicates = len(kept) - written
        result.datastream_ids = sorted(datastream_ids or [])
        if written:
            enqueue(EVALUATE_TASK, datastream_ids=result.datastream_ids, since=since.isoformat())
