"""Ingestion over HTTP: keys, ownership, JSON records and SenML, idempotence, units, partitions."""

import json
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from layers.models import QueuedTask
from sensors import partitions
from sensors.models import Latest, Observation

URL = "/api/v1/sensors/observations"


def post(key, body, *, content_type="application/json"):
    client = APIClient()
    headers = {"HTTP_X_SENSOR_KEY": key} if key is not None else {}
    return client.post(URL, data=json.dumps(body), content_type=content_type, **headers)


def record(station="KIM_LONG", prop="water_level", at=None, value=1.5, **extra):
    at = at or timezone.now().replace(microsecond=0) - timedelta(minutes=5)
    return {"station": station, "property": prop, "time": at.isoformat(), "value": value, **extra}


def values(station):
    return list(
        Observation.objects.filter(datastream__station=station)
        .order_by("time")
        .values_list("time", "value")
    )


@pytest.mark.django_db
def test_a_batch_is_written_once_and_sent_again_changes_nothing(stations, sources):
    now = timezone.now().replace(microsecond=0)
    batch = {
        "observations": [
            record(at=now - timedelta(minutes=20), value=2.0),
            record(at=now - timedelta(minutes=10), value=2.5),
            record("PHU_OC", "rainfall", now - timedelta(minutes=10), 12.0),
        ]
    }
    first = post(sources.river_key, batch)
    assert first.status_code == 200, first.content
    assert first.json() == {"accepted": 3, "duplicates": 0, "rejected": []}
    again = post(sources.river_key, batch)
    assert again.json() == {"accepted": 0, "duplicates": 3, "rejected": []}
    assert values(stations.kim_long) == [
        (now - timedelta(minutes=20), 2.0),
        (now - timedelta(minutes=10), 2.5),
    ]
    # A corrected value at the same instant replaces the stored one.
    fixed = post(
        sources.river_key, {"observations": [record(at=now - timedelta(minutes=10), value=2.4)]}
    )
    assert fixed.json()["accepted"] == 1
    assert values(stations.kim_long)[-1] == (now - timedelta(minutes=10), 2.4)
    latest = Latest.objects.get(datastream__station=stations.kim_long)
    assert (latest.time, latest.value) == (now - timedelta(minutes=10), 2.4)


@pytest.mark.django_db
def test_latest_only_moves_forward(stations, sources):
    now = timezone.now().replace(microsecond=0)
    post(sources.river_key, {"observations": [record(at=now - timedelta(minutes=1), value=3.0)]})
    late = post(
        sources.river_key, {"observations": [record(at=now - timedelta(hours=2), value=9.0)]}
    )
    assert late.json()["accepted"] == 1
    latest = Latest.objects.get(datastream__station=stations.kim_long)
    assert (latest.time, latest.value) == (now - timedelta(minutes=1), 3.0)
    assert len(values(stations.kim_long)) == 2


@pytest.mark.django_db
def test_a_key_cannot_write_another_sources_station(stations, sources):
    only_theirs = post(sources.river_key, {"observations": [record("THUAN_AN", value=1.0)]})
    assert only_theirs.status_code == 403
    body = only_theirs.json()
    assert body["code"] == "permission-denied"
    assert "THUAN_AN" in body["rejected"][0]["error"]
    assert values(stations.thuan_an) == []
    mixed = post(
        sources.river_key,
        {"observations": [record("THUAN_AN", value=1.0), record("KIM_LONG", value=1.0)]},
    )
    assert mixed.status_code == 200
    assert mixed.json()["accepted"] == 1
    assert [r["index"] for r in mixed.json()["rejected"]] == [0]
    assert values(stations.thuan_an) == []
    # Its own key writes it.
    assert post(sources.other_key, {"observations": [record("THUAN_AN")]}).json()["accepted"] == 1


@pytest.mark.django_db
@pytest.mark.parametrize("key", [None, "", "sk_not-a-key"])
def test_an_unknown_key_is_401(stations, key):
    answer = post(key, {"observations": [record()]})
    assert answer.status_code == 401
    assert "X-Sensor-Key" in answer.json()["detail"]
    assert Observation.objects.count() == 0


@pytest.mark.django_db
def test_a_deactivated_source_key_is_refused(stations, sources):
    sources.river.active = False
    sources.river.save()
    assert post(sources.river_key, {"observations": [record()]}).status_code == 401


@pytest.mark.django_db
def test_key_is_kept_hashed(sources):
    assert sources.river.key_hash != sources.river_key
    assert sources.river_key not in sources.river.key_hash
    assert sources.river_key.startswith(sources.river.key_prefix)


@pytest.mark.django_db
def test_senml_pack_with_base_fields(stations, sources):
    bt = 1_790_000_000  # 2026-09-21
    now = datetime.fromtimestamp(bt + 3600, UTC)
    pack = [
        {"bn": "urn:dev:hue:KIM_LONG:", "bt": bt, "bu": "m", "n": "water_level", "v": 1.25},
        {"n": "water_level", "t": 60, "v": 1.5},
        {"n": "rainfall", "u": "mm", "t": 60, "v": 4},
        {"bn": "PHU_OC:", "bv": 10, "n": "rainfall", "u": "mm", "t": 120, "v": 0.5},
        {"n": "water_level", "vs": "high"},
    ]
    from sensors.ingest import ingest
    from sensors.senml import parse_senml

    readings, refusals = parse_senml(pack, now=now)
    result = ingest(readings, source=sources.river, refusals=refusals, now=now)
    assert result.accepted == 4
    assert [r.index for r in result.rejected] == [4]
    assert "numeric" in result.rejected[0].error
    start = datetime.fromtimestamp(bt, UTC)
    assert values(stations.kim_long) == [
        (start, 1.25),
        (start + timedelta(seconds=60), 1.5),
        (start + timedelta(seconds=60), 4.0),
    ]
    assert values(stations.phu_oc) == [(start + timedelta(seconds=120), 10.5)]


@pytest.mark.django_db
def test_senml_over_http(stations, sources):
    now = timezone.now().replace(microsecond=0)
    pack = [{"bn": "KIM_LONG:", "bt": now.timestamp() - 60, "n": "water_level", "u": "m", "v": 2}]
    answer = post(sources.river_key, pack, content_type="application/senml+json")
    assert answer.json() == {"accepted": 1, "duplicates": 0, "rejected": []}
    assert values(stations.kim_long) == [(now - timedelta(seconds=60), 2.0)]


@pytest.mark.django_db
def test_senml_relative_time_is_from_now(stations, sources):
    pack = [{"bn": "KIM_LONG:", "n": "water_level", "t": -120, "v": 2}]
    before = timezone.now()
    answer = post(sources.river_key, pack, content_type="application/senml+json")
    assert answer.json()["accepted"] == 1
    ((at, _value),) = values(stations.kim_long)
    assert before - timedelta(seconds=121) <= at <= timezone.now() - timedelta(seconds=119)


@pytest.mark.django_db
def test_a_unit_that_does_not_match_is_refused_clearly(stations, sources):
    answer = post(sources.river_key, {"observations": [record(unit="cm", value=312)]})
    error = answer.json()["rejected"][0]["error"]
    assert "'cm'" in error and "'m'" in error and "send the value in m" in error
    # SenML's name of a unit is read as ours.
    temp = [{"bn": "KIM_LONG:", "n": "water_level", "u": "Cel", "v": 30, "t": -5}]
    refused = post(sources.river_key, temp, content_type="application/senml+json")
    assert "'°C'" in refused.json()["rejected"][0]["error"]
    assert values(stations.kim_long) == []


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("broken", "says"),
    [
        ({"value": "high"}, "value must be a number"),
        ({"time": "yesterday"}, "not ISO 8601"),
        ({"time": "2026-10-30T07:00:00"}, "no UTC offset"),
        ({"property": "wind"}, "unknown property 'wind'"),
        ({"station": "NOWHERE"}, "not one of source 'river'"),
    ],
)
def test_bad_records_are_refused_one_by_one(stations, sources, broken, says):
    answer = post(sources.river_key, {"observations": [{**record(), **broken}, record(value=7)]})
    body = answer.json()
    assert body["accepted"] == 1
    assert body["rejected"][0]["index"] == 0
    assert says in body["rejected"][0]["error"]


@pytest.mark.django_db
def test_a_body_that_is_no_batch_is_400(stations, sources):
    not_json = APIClient().post(
        URL, data=b"{", content_type="application/json", HTTP_X_SENSOR_KEY=sources.river_key
    )
    assert not_json.status_code == 400
    wrong_shape = post(sources.river_key, {"readings": []})
    assert wrong_shape.status_code == 400
    assert "observations" in wrong_shape.json()["detail"]


@pytest.mark.django_db
def test_future_and_expired_times_are_refused(stations, sources):
    now = timezone.now()
    answer = post(
        sources.river_key,
        {
            "observations": [
                record(at=now + timedelta(hours=1)),
                record(at=now - timedelta(days=401)),
            ]
        },
    )
    errors = [r["error"] for r in answer.json()["rejected"]]
    assert "in the future" in errors[0]
    assert "retention (400 days)" in errors[1]


@pytest.mark.django_db
def test_an_old_month_gets_its_partition(stations, sources):
    at = (timezone.now() - timedelta(days=200)).replace(microsecond=0)
    month = partitions.month_start(at)
    assert month not in partitions.existing_months()
    assert post(sources.river_key, {"observations": [record(at=at)]}).json()["accepted"] == 1
    assert month in partitions.existing_months()
    with connection.cursor() as cursor:
        cursor.execute("SELECT tableoid::regclass::text FROM sensors_observation")
        assert cursor.fetchone()[0] == f"sensors_observation_y{month.year}m{month.month:02d}"


@pytest.mark.django_db
def test_evaluation_is_queued_with_the_written_datastreams(
    stations, sources, django_capture_on_commit_callbacks
):
    now = timezone.now().replace(microsecond=0)
    early = now - timedelta(minutes=30)
    with django_capture_on_commit_callbacks(execute=False):
        post(
            sources.river_key,
            {"observations": [record(at=now - timedelta(minutes=5)), record(at=early)]},
        )
        queued = QueuedTask.objects.get(task="sensors.tasks.evaluate_datastreams")
    datastream = stations.kim_long.datastreams.get()
    assert queued.kwargs == {"datastream_ids": [datastream.pk], "since": early.isoformat()}
