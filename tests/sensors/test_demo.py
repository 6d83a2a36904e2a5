"""The sensor demo (sensors/demo.py): stations, history with a flood and faults, idempotent load.

The flood and the faults are checked in the stored readings with SQL of the test's own, and the
evaluation (thresholds, detectors) runs on them as it does after `make demo`.
"""

from __future__ import annotations

import datetime as dt
import itertools

from django.core.management import call_command
from django.db import connection

from layers.models import Layer
from sensors.demo import FAULTS, LAYER_SLUG, STATIONS, demo_sensors_load
from sensors.models import Alert, Anomaly, Datastream, Latest, Observation, Station, Threshold

NOW = dt.datetime(2026, 11, 20, 3, 17, tzinfo=dt.UTC)
END = dt.datetime(2026, 11, 20, 3, 10, tzinfo=dt.UTC)
READINGS_PER_STREAM = 30 * 24 * 6


def _values(station: str, prop: str) -> list[tuple[dt.datetime, float]]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT o.time, o.value FROM sensors_observation o "
            "JOIN sensors_datastream d ON d.id = o.datastream_id "
            "JOIN sensors_station s ON s.id = d.station_id "
            "JOIN sensors_observedproperty p ON p.id = d.property_id "
            "WHERE s.code = %s AND p.code = %s ORDER BY o.time",
            [station, prop],
        )
        return cursor.fetchall()


def test_the_demo_loads_a_flood_and_faults_that_the_evaluation_finds(
    db, django_capture_on_commit_callbacks
):
    # One load for all the checks: it writes 125,000 readings and evaluates them all.
    with django_capture_on_commit_callbacks(execute=True):
        loaded = demo_sensors_load(now=NOW)
    _check_layer()
    _check_history(loaded)
    _check_flood()
    _check_faults()


def _check_layer():
    layer = Layer.objects.get(slug=LAYER_SLUG)
    assert layer.visibility == "public" and layer.status == "ready"
    assert layer.title_vi == "Trạm quan trắc" and layer.title_en == "Monitoring stations"
    assert "sample data" in layer.attribution and "synthetic" in layer.description_en
    assert layer.feature_count == len(STATIONS) == 20
    stations = Station.objects.filter(layer=layer)
    assert stations.count() == 20
    # Each station is its feature, which names it under "station".
    for station in stations:
        feature = layer.features.get(pk=station.feature_id)
        assert feature.attributes["station"] == station.code
    codes = set(Datastream.objects.values_list("property__code", flat=True))
    assert codes == {"water_level", "rainfall", "salinity", "pm25", "temperature"}


def _check_history(loaded):
    assert loaded.end == END
    times = [t for t, _ in _values("KIM_LONG", "water_level")]
    assert len(times) == READINGS_PER_STREAM
    assert times[-1] == END
    assert {b - a for a, b in itertools.pairwise(times)} == {dt.timedelta(minutes=10)}
    latest = Latest.objects.get(
        datastream__station__code="KIM_LONG", datastream__property__code="water_level"
    )
    assert latest.time == END


def _check_flood():
    levels = dict(
        Threshold.objects.filter(datastream__station__code="KIM_LONG").values_list("level", "value")
    )
    assert levels == {"I": 1.0, "II": 2.0, "III": 3.5}
    values = [v for _, v in _values("KIM_LONG", "water_level")]
    peak = values.index(max(values))
    assert values[0] < 1.0 and values[-1] < 1.0
    assert max(values) > 3.5
    assert min(values[peak:]) < 1.0  # and it falls back
    rain = sum(v for _, v in _values("A_LUOI", "rainfall"))
    assert rain > 300  # mm: an autumn storm upstream
    # The crossing opened alerts at each level, closed once the river fell.
    alerts = Alert.objects.filter(datastream__station__code="KIM_LONG", kind="threshold")
    assert {a.threshold.level for a in alerts} >= {"I", "II", "III"}
    assert all(a.closed_at is not None for a in alerts if a.threshold.level == "III")


def _check_faults():
    by_kind = {fault.kind: fault for fault in FAULTS}
    flat = [v for _, v in _values(by_kind["flatline"].station, "water_level")]
    runs, run = [], 1
    for a, b in itertools.pairwise(flat):
        run = run + 1 if a == b else 1
        runs.append(run)
    assert max(runs) >= by_kind["flatline"].hours * 6
    gap_times = [t for t, _ in _values(by_kind["gap"].station, "rainfall")]
    assert max(b - a for a, b in itertools.pairwise(gap_times)) > dt.timedelta(hours=7)
    assert 85.0 in [v for _, v in _values("AQ_PHU_BAI", "temperature")]
    assert 480.0 in [v for _, v in _values("AQ_LE_LOI", "pm25")]
    found = set(Anomaly.objects.values_list("datastream__station__code", "kind").distinct())
    for fault in FAULTS:
        assert (fault.station, fault.kind) in found, (fault, sorted(found))


def test_loading_again_gives_the_same_rows(db):
    # The evaluation is left out here (no on-commit callbacks run): only the rows matter.
    demo_sensors_load(now=NOW)
    counts = (Station.objects.count(), Datastream.objects.count(), Observation.objects.count())
    ids = sorted(Datastream.objects.values_list("pk", flat=True))
    thresholds = Threshold.objects.count()
    call_command("loaddemo", LAYER_SLUG, verbosity=0)
    assert (Station.objects.count(), Datastream.objects.count()) == counts[:2]
    assert sorted(Datastream.objects.values_list("pk", flat=True)) == ids
    assert Observation.objects.count() == counts[2]
    assert Threshold.objects.count() == thresholds
    # The history now ends at the new "now".
    newest = Observation.objects.order_by("-time").values_list("time", flat=True).first()
    assert newest > END
