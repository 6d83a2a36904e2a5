"""Reads of the sensors app: a sensor layer by visibility, the latest values, a station's series.

Every read starts from `Layer.objects.visible_to(user)`: a station is seen exactly when its
layer is, and a layer that may not be seen is "not found".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection
from django.utils import timezone
from django.utils.translation import get_language

from layers.errors import InvalidParameter, NotFound
from layers.models import Layer

from .models import Datastream, Latest, Station

# Worst first: a station shows the worst state of its datastreams. An old value's warning is
# no longer known, so a stale datastream is stale whatever its last state was.
STATE_RANK = {"alarm": 4, "warning": 3, "stale": 2, "anomalous": 1, "normal": 0}
AGGREGATIONS = ("raw", "hour", "day")


def sensor_layer_visible_to(*, user, slug: str) -> Layer:
    """Return the sensor layer `slug` if the user may see it; else NotFound."""
    layer = (
        Layer.objects.visible_to(user)
        .filter(slug=slug, sensor_config__isnull=False)
        .select_related("sensor_config")
        .first()
    )
    if layer is None:
        raise NotFound(f"No sensor layer {slug!r}.")
    return layer


def station_visible_to(*, user, slug: str, code: str) -> Station:
    """Return the station `code` of the sensor layer `slug` if the user may see the layer."""
    layer = sensor_layer_visible_to(user=user, slug=slug)
    station = Station.objects.filter(layer=layer, code=code).select_related("layer").first()
    if station is None:
        raise NotFound(f"No station {code!r} in layer {slug!r}.")
    return station


@dataclass(frozen=True)
class Value:
    datastream_id: int
    time: datetime
    value: float
    flag: int
    state: str


# The last observation at or before an instant, per datastream of the layer: each datastream's
# key index read backwards from that instant (later partitions are pruned by the bound).
VALUES_AT_SQL = """
SELECT d.id, o.time, o.value, o.flag
FROM sensors_datastream d
JOIN sensors_station s ON s.id = d.station_id
CROSS JOIN LATERAL (
    SELECT time, value, flag FROM sensors_observation
    WHERE datastream_id = d.id AND time <= %s
    ORDER BY time DESC LIMIT 1
) o
WHERE s.layer_id = %s AND s.active
"""


def _values(layer: Layer, at: datetime | None) -> dict[int, Value]:
    if at is None:
        return {
            row.datastream_id: Value(row.datastream_id, row.time, row.value, row.flag, row.state)
            for row in Latest.objects.filter(
                datastream__station__layer=layer, datastream__station__active=True
            )
        }
    with connection.cursor() as cursor:
        cursor.execute(VALUES_AT_SQL, [at, layer.pk])
        # Replay knows the values, not the evaluation's states of then: normal, or stale.
        return {row[0]: Value(*row, "normal") for row in cursor.fetchall()}


def latest(*, layer: Layer, at: datetime | None = None) -> dict:
    """Return each active station's latest value per property (as they were `at`, if given)."""
    now = timezone.now()
    reference = at or now
    stale_after = layer.sensor_config.stale_after
    values = _values(layer, at)
    english = (get_language() or "vi").startswith("en")
    stations: dict[int, dict] = {}
    for station in Station.objects.filter(layer=layer, active=True).order_by("code"):
        stations[station.pk] = {
            "station": station.code,
            "feature_id": station.feature_id,
            "name": station.name,
            "state": "stale",
            "properties": {},
        }
    worst: dict[int, str] = {}
    for datastream in Datastream.objects.filter(station_id__in=stations).select_related("property"):
        value = values.get(datastream.pk)
        if value is None:
            continue
        state = "stale" if reference - value.time > stale_after else value.state
        prop = datastream.property
        stations[datastream.station_id]["properties"][prop.code] = {
            "time": _local(value.time),
            "value": value.value,
            "unit": prop.unit,
            "state": state,
            "flag": value.flag,
            "name": prop.name_en if english else prop.name_vi,
        }
        previous = worst.get(datastream.station_id)
        if previous is None or STATE_RANK[state] > STATE_RANK[previous]:
            worst[datastream.station_id] = state
    for station_id, state in worst.items():
        stations[station_id]["state"] = state
    return {
        "layer": layer.slug,
        "at": _local(at) if at else None,
        "generated": _local(now),
        "stations": list(stations.values()),
    }


def _local(at: datetime) -> str:
    return timezone.localtime(at).isoformat()


# Buckets in the city's time zone: a day is a local day (Huế's midnight, not UTC's).
BUCKET_SQL = """
SELECT (date_trunc(%(unit)s, time AT TIME ZONE %(tz)s) AT TIME ZONE %(tz)s) AS bucket,
       min(value), max(value), avg(value), count(*)
FROM sensors_observation
WHERE datastream_id = %(datastream)s AND time >= %(start)s AND time < %(end)s
GROUP BY bucket ORDER BY bucket
LIMIT %(limit)s
"""

RAW_SQL = """
SELECT time, value, flag FROM sensors_observation
WHERE datastream_id = %(datastream)s AND time >= %(start)s AND time < %(end)s
ORDER BY time
LIMIT %(limit)s
"""


def series(
    *,
    station: Station,
    property_code: str | None,
    start: datetime | None,
    end: datetime | None,
    agg: str = "raw",
) -> dict:
    """Return a station's observations of one property in [start, end), raw or per hour/day."""
    if agg not in AGGREGATIONS:
        raise InvalidParameter(
            f"agg must be one of {', '.join(AGGREGATIONS)}, not {agg!r}.", parameter="agg"
        )
    datastreams = list(station.datastreams.select_related("property"))
    if property_code:
        chosen = [d for d in datastreams if d.property.code == property_code]
    else:
        chosen = datastreams if len(datastreams) == 1 else []
    if not chosen:
        codes = ", ".join(sorted(d.property.code for d in datastreams)) or "none yet"
        if property_code:
            raise NotFound(
                f"Station {station.code!r} has no property {property_code!r} (it has: {codes})."
            )
        raise InvalidParameter(f"Name the property (one of: {codes}).", parameter="property")
    datastream = chosen[0]
    end = end or timezone.now()
    start = start or end - timedelta(hours=24)
    if start >= end:
        raise InvalidParameter("start must be before end.", parameter="start")
    limit = settings.SENSORS_SERIES_MAX_POINTS
    params = {
        "datastream": datastream.pk,
        "start": start,
        "end": end,
        "limit": limit + 1,
        "unit": agg,
        "tz": settings.TIME_ZONE,
    }
    with connection.cursor() as cursor:
        cursor.execute(RAW_SQL if agg == "raw" else BUCKET_SQL, params)
        rows = cursor.fetchall()
    if len(rows) > limit:
        # A client error, said as such (400): the same range aggregated fits.
        raise InvalidParameter(
            f"More than {limit} points in this range: ask for a shorter range, or "
            "agg=hour or agg=day.",
            parameter="agg" if agg != "day" else "start",
        )
    if agg == "raw":
        points = [{"time": _local(t), "value": v, "flag": f} for t, v, f in rows]
    else:
        points = [
            {"time": _local(t), "min": lo, "max": hi, "mean": mean, "count": n}
            for t, lo, hi, mean, n in rows
        ]
    return {
        "station": station.code,
        "property": datastream.property.code,
        "unit": datastream.property.unit,
        "agg": agg,
        "start": _local(start),
        "end": _local(end),
        "points": points,
    }
