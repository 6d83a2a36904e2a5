"""Reading: latest values (now and replayed), a station's series raw and aggregated, visibility."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from sensors.ingest import ingest
from sensors.models import Latest, SensorLayer
from sensors.senml import Reading
from tests.factories import LayerFactory
from tests.sensors.conftest import make_station

HUE = ZoneInfo("Asia/Ho_Chi_Minh")


def write(source, rows, *, now=None):
    """Write (station, property, time, value) rows through the ingest path."""
    readings = [Reading(i, s, p, t, v) for i, (s, p, t, v) in enumerate(rows)]
    result = ingest(readings, source=source, now=now)
    assert not result.rejected, result.rejected
    return result


def latest(client, slug="river-gauges", **params):
    return client.get(f"/api/v1/sensors/layers/{slug}/latest", params)


@pytest.mark.django_db
def test_latest_values_per_station_and_property(stations, sources):
    now = timezone.now().replace(microsecond=0)
    write(
        sources.river,
        [
            ("KIM_LONG", "water_level", now - timedelta(minutes=20), 2.0),
            ("KIM_LONG", "water_level", now - timedelta(minutes=5), 2.5),
            ("KIM_LONG", "rainfall", now - timedelta(hours=3), 12.0),
        ],
    )
    Latest.objects.filter(datastream__property__code="water_level").update(state="warning")
    answer = latest(APIClient(), HTTP_ACCEPT_LANGUAGE="en")
    assert answer.status_code == 200
    assert answer["Cache-Control"] == "public, max-age=5"
    body = answer.json()
    assert body["layer"] == "river-gauges" and body["at"] is None
    by_code = {station["station"]: station for station in body["stations"]}
    assert set(by_code) == {"KIM_LONG", "PHU_OC", "THUAN_AN"}
    kim_long = by_code["KIM_LONG"]
    assert kim_long["feature_id"] == stations.kim_long.feature_id
    water = kim_long["properties"]["water_level"]
    assert water["value"] == 2.5 and water["unit"] == "m" and water["state"] == "warning"
    assert datetime.fromisoformat(water["time"]) == now - timedelta(minutes=5)
    assert water["time"].endswith("+07:00")
    # Three hours old: stale (the layer's stale_after is 30 minutes), whatever it was.
    assert kim_long["properties"]["rainfall"]["state"] == "stale"
    assert kim_long["state"] == "warning"  # the worst of its datastreams
    assert by_code["PHU_OC"] == {
        "station": "PHU_OC",
        "feature_id": stations.phu_oc.feature_id,
        "name": "Phu_Oc",
        "state": "stale",
        "properties": {},
    }


@pytest.mark.django_db
def test_latest_is_fresh_after_each_write(stations, sources):
    client = APIClient()
    now = timezone.now().replace(microsecond=0)
    write(sources.river, [("KIM_LONG", "water_level", now - timedelta(minutes=2), 1.0)])
    assert latest(client).json()["stations"][0]["properties"]["water_level"]["value"] == 1.0
    write(sources.river, [("KIM_LONG", "water_level", now - timedelta(minutes=1), 1.1)])
    assert latest(client).json()["stations"][0]["properties"]["water_level"]["value"] == 1.1


@pytest.mark.django_db
def test_latest_at_an_instant_replays_the_values_of_then(stations, sources):
    now = timezone.now().replace(microsecond=0)
    write(
        sources.river,
        [
            ("KIM_LONG", "water_level", now - timedelta(hours=5), 1.0),
            ("KIM_LONG", "water_level", now - timedelta(hours=4), 4.0),
            ("KIM_LONG", "water_level", now - timedelta(minutes=1), 2.0),
        ],
    )
    at = now - timedelta(hours=4, minutes=10)
    body = latest(APIClient(), at=at.isoformat()).json()
    assert datetime.fromisoformat(body["at"]) == at
    water = body["stations"][0]["properties"]["water_level"]
    assert water["value"] == 1.0 and water["state"] == "stale"  # 50 minutes old then
    at = now - timedelta(hours=3, minutes=50)
    water = latest(APIClient(), at=at.isoformat()).json()["stations"][0]["properties"]
    assert water["water_level"]["value"] == 4.0 and water["water_level"]["state"] == "normal"
    before_any = latest(APIClient(), at=(now - timedelta(days=1)).isoformat()).json()
    assert before_any["stations"][0]["properties"] == {}


@pytest.mark.django_db
def test_a_bad_instant_is_400(stations):
    answer = latest(APIClient(), at="noon")
    assert answer.status_code == 400 and answer.json()["parameter"] == "at"


@pytest.mark.django_db
def test_stations_follow_the_layers_visibility(planners, member, sources, water_level):
    layer = LayerFactory(slug="restricted-gauges", visibility="restricted")
    layer.groups.add(planners)
    SensorLayer.objects.create(layer=layer)
    make_station(layer, "SECRET", source=sources.river)
    write(
        sources.river,
        [("SECRET", "water_level", timezone.now() - timedelta(minutes=1), 1.0)],
    )
    anonymous = APIClient()
    assert latest(anonymous, "restricted-gauges").status_code == 404
    series_url = "/api/v1/sensors/layers/restricted-gauges/stations/SECRET/series"
    assert anonymous.get(series_url).status_code == 404
    allowed = APIClient()
    allowed.force_authenticate(member)
    answer = latest(allowed, "restricted-gauges")
    assert answer.status_code == 200
    assert answer["Cache-Control"] == "private, max-age=5"
    assert [s["station"] for s in answer.json()["stations"]] == ["SECRET"]
    assert allowed.get(series_url).json()["points"][0]["value"] == 1.0


@pytest.mark.django_db
def test_a_layer_that_is_not_a_sensor_layer_is_404(category):
    LayerFactory(slug="plain", category=category)
    assert latest(APIClient(), "plain").status_code == 404


def series(client, **params):
    return client.get("/api/v1/sensors/layers/river-gauges/stations/KIM_LONG/series", params)


@pytest.mark.django_db
def test_series_raw_hourly_and_daily_in_the_citys_days(stations, sources):
    # 23:30 and 00:30 in Huế are one UTC day (16:30, 17:30 UTC) but two local days.
    day = datetime(2026, 10, 30, tzinfo=HUE)
    rows = [
        ("KIM_LONG", "water_level", day + timedelta(hours=23, minutes=30), 1.0),
        ("KIM_LONG", "water_level", day + timedelta(hours=23, minutes=45), 3.0),
        ("KIM_LONG", "water_level", day + timedelta(hours=24, minutes=30), 5.0),
    ]
    now = day + timedelta(days=2)
    write(sources.river, rows, now=now)
    client = APIClient()
    params = {
        "property": "water_level",
        "start": day.isoformat(),
        "end": (day + timedelta(days=2)).isoformat(),
    }
    raw = series(client, **params).json()
    assert [p["value"] for p in raw["points"]] == [1.0, 3.0, 5.0]
    assert raw["unit"] == "m" and raw["agg"] == "raw"
    hourly = series(client, agg="hour", **params).json()["points"]
    assert [(p["time"], p["min"], p["max"], p["mean"], p["count"]) for p in hourly] == [
        ("2026-10-30T23:00:00+07:00", 1.0, 3.0, 2.0, 2),
        ("2026-10-31T00:00:00+07:00", 5.0, 5.0, 5.0, 1),
    ]
    daily = series(client, agg="day", **params).json()["points"]
    assert [(p["time"], p["mean"], p["count"]) for p in daily] == [
        ("2026-10-30T00:00:00+07:00", 2.0, 2),
        ("2026-10-31T00:00:00+07:00", 5.0, 1),
    ]


@pytest.mark.django_db
def test_series_defaults_to_the_last_day_raw(stations, sources):
    now = timezone.now().replace(microsecond=0)
    write(
        sources.river,
        [
            ("KIM_LONG", "water_level", now - timedelta(hours=30), 1.0),
            ("KIM_LONG", "water_level", now - timedelta(hours=2), 2.0),
        ],
    )
    body = series(APIClient(), property="water_level").json()
    assert [p["value"] for p in body["points"]] == [2.0]


@pytest.mark.django_db
def test_series_refuses_too_many_raw_points_clearly(stations, sources, settings):
    settings.SENSORS_SERIES_MAX_POINTS = 3
    now = timezone.now().replace(microsecond=0)
    write(
        sources.river,
        [("KIM_LONG", "water_level", now - timedelta(minutes=m), float(m)) for m in range(1, 6)],
    )
    answer = series(APIClient(), property="water_level")
    assert answer.status_code == 400
    assert "More than 3 points" in answer.json()["detail"]
    assert "agg=hour" in answer.json()["detail"]
    assert len(series(APIClient(), property="water_level", agg="hour").json()["points"]) <= 2


@pytest.mark.django_db
def test_series_says_which_property_to_name(stations, sources):
    now = timezone.now()
    write(
        sources.river,
        [
            ("KIM_LONG", "water_level", now - timedelta(minutes=1), 1.0),
            ("KIM_LONG", "rainfall", now - timedelta(minutes=1), 1.0),
        ],
    )
    client = APIClient()
    unnamed = series(client)
    assert unnamed.status_code == 400
    assert "rainfall, water_level" in unnamed.json()["detail"]
    assert series(client, property="salinity").status_code == 404
    assert series(client, property="water_level", agg="week").status_code == 400
