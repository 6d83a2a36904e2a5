"""Injected faults in ingested series are flagged with the right kind; review by staff."""

import json
import math
from datetime import timedelta

import numpy as np
import pytest
from django.contrib.auth.models import Permission
from django.core.management import CommandError, call_command
from django.utils import timezone
from rest_framework.test import APIClient

from sensors import evaluation
from sensors.models import Anomaly, Latest, Observation, ObservedProperty
from tests.sensors.conftest import make_station

URL = "/api/v1/sensors/observations"
STEP = timedelta(minutes=10)
SPIKE, DROP, FLAT, GAP = 150, 200, range(230, 262), range(60, 76)


def post(key, station, prop, readings, capture, *, execute=True):
    body = {
        "observations": [
            {"station": station, "property": prop, "time": at.isoformat(), "value": value}
            for at, value in readings
        ]
    }
    with capture(execute=execute):
        answer = APIClient().post(
            URL, data=json.dumps(body), content_type="application/json", HTTP_X_SENSOR_KEY=key
        )
    assert answer.status_code == 200, answer.content
    assert answer.json()["rejected"] == []


def faulty_water_level():
    """Two days of tides every 10 minutes with a spike, a drop, a flat line, a gap, and a last
    reading outside the physical range; return the readings and the start time."""
    start = timezone.now().replace(second=0, microsecond=0) - 288 * STEP
    rng = np.random.default_rng(15)
    readings = []
    for i in range(288):
        hours = i / 6
        level = 0.6 + 0.3 * math.sin(2 * math.pi * hours / 12.42) + rng.normal(0, 0.005)
        readings.append([start + i * STEP, round(level, 2)])
    readings[SPIKE][1] += 0.8
    readings[DROP][1] -= 0.7
    for i in FLAT:
        readings[i][1] = readings[FLAT[0]][1]
    readings[-1][1] = -9.0
    kept = [tuple(r) for i, r in enumerate(readings) if i not in GAP]
    return kept, [tuple(r) for r in readings]


@pytest.fixture
def water_level_range(water_level):
    water_level.physical_min, water_level.physical_max = -3.0, 15.0
    water_level.save()
    return water_level


def found(datastream):
    return sorted(
        (a.kind, a.time_start, a.time_end) for a in Anomaly.objects.filter(datastream=datastream)
    )


def expected(readings):
    return sorted(
        [
            ("spike", readings[SPIKE][0], readings[SPIKE][0]),
            ("drop", readings[DROP][0], readings[DROP][0]),
            ("flatline", readings[FLAT[0]][0], readings[FLAT[-1]][0]),
            ("gap", readings[GAP[0] - 1][0], readings[GAP[-1] + 1][0]),
            ("out_of_range", readings[-1][0], readings[-1][0]),
        ]
    )


@pytest.mark.django_db
def test_injected_faults_are_found_with_their_kind_and_flagged_suspect(
    stations, sources, water_level_range, django_capture_on_commit_callbacks
):
    kept, every = faulty_water_level()
    post(sources.river_key, "KIM_LONG", "water_level", kept, django_capture_on_commit_callbacks)
    datastream = stations.kim_long.datastreams.get()
    assert found(datastream) == expected(every)
    spike = Anomaly.objects.get(kind="spike")
    assert spike.score > 6 and spike.status == "new"
    assert "above its neighbours" in spike.explanation
    assert (
        "outside the physical range [-3, 15]"
        in Anomaly.objects.get(kind="out_of_range").explanation
    )
    suspect = set(
        Observation.objects.filter(datastream=datastream, flag=1).values_list("time", flat=True)
    )
    flagged = {every[SPIKE][0], every[DROP][0], every[-1][0]} | {every[i][0] for i in FLAT}
    assert suspect == flagged
    latest = Latest.objects.get(datastream=datastream)
    assert (latest.flag, latest.state) == (1, "anomalous")


@pytest.mark.django_db
def test_an_anomaly_is_explained_in_the_readers_language(
    stations, sources, water_level_range, django_capture_on_commit_callbacks, admin_client
):
    kept, _every = faulty_water_level()
    post(sources.river_key, "KIM_LONG", "water_level", kept, django_capture_on_commit_callbacks)
    url = "/api/v1/sensors/layers/river-gauges/anomalies"
    said = {}
    for language in ("vi", "en"):
        answer = APIClient().get(url, HTTP_ACCEPT_LANGUAGE=language)
        assert answer.status_code == 200, answer.content
        said[language] = {row["kind"]: row["explanation"] for row in answer.json()["anomalies"]}
    assert set(said["vi"]) == {"spike", "drop", "flatline", "gap", "out_of_range"}
    # English as stored; Vietnamese made from the same numbers, no English left, no placeholder.
    for kind, text in said["en"].items():
        assert text == Anomaly.objects.get(kind=kind).explanation
    assert "phạm vi vật lý [-3, 15]" in said["vi"]["out_of_range"]
    assert "cao hơn các số đo lân cận" in said["vi"]["spike"]
    assert "thấp hơn các số đo lân cận" in said["vi"]["drop"]
    assert "giữ nguyên" in said["vi"]["flatline"] and "giờ" in said["vi"]["flatline"]
    assert "không có số đo trong 2 giờ 50 phút" in said["vi"]["gap"], said["vi"]["gap"]
    assert "no reading for 2 h 50 min" in said["en"]["gap"]
    for text in said["vi"].values():
        assert "%(" not in text and "reading" not in text and "neighbours" not in text
    # The admin, in the staff's language (the site's is Vietnamese).
    spike = Anomaly.objects.get(kind="spike")
    page = admin_client.get(f"/admin/sensors/anomaly/{spike.pk}/change/").content.decode()
    assert said["vi"]["spike"] in page
    listing = admin_client.get("/admin/sensors/anomaly/").content.decode()
    assert said["vi"]["flatline"] in listing


def test_an_anomaly_stored_before_its_numbers_were_kept_keeps_its_text():
    from sensors.explanations import explain

    assert explain("spike", {"value": 3.0}, fallback="3 is high") == "3 is high"
    assert explain("unknown-kind", {}, fallback="as stored") == "as stored"


@pytest.mark.django_db
def test_readings_arriving_an_hour_at_a_time_give_the_same_anomalies_once(
    stations, sources, water_level_range, django_capture_on_commit_callbacks
):
    kept, every = faulty_water_level()
    for first in range(0, len(kept), 6):
        post(
            sources.river_key,
            "KIM_LONG",
            "water_level",
            kept[first : first + 6],
            django_capture_on_commit_callbacks,
        )
    datastream = stations.kim_long.datastreams.get()
    assert found(datastream) == expected(every)
    # A retried evaluation of the whole range stores nothing new.
    again = evaluation.evaluate_datastreams(datastream_ids=[datastream.pk], since=kept[0][0])
    assert again.anomalies_new == 0
    assert found(datastream) == expected(every)


@pytest.mark.django_db
def test_a_flood_rise_is_not_a_spike(stations, sources, django_capture_on_commit_callbacks):
    start = timezone.now().replace(second=0, microsecond=0) - 200 * STEP
    readings = []
    for i in range(200):
        rise = 3.5 * (1 - math.cos(math.pi * min(max(i - 60, 0), 108) / 108)) / 2
        tide = 0.3 * math.sin(2 * math.pi * i / 74.5)
        readings.append((start + i * STEP, round(0.6 + tide + rise, 2)))
    post(sources.river_key, "KIM_LONG", "water_level", readings, django_capture_on_commit_callbacks)
    assert not Anomaly.objects.exists()


@pytest.mark.django_db
def test_a_polluted_night_departs_from_the_hour_of_day_baseline(
    sensor_layer, sources, django_capture_on_commit_callbacks
):
    ObservedProperty.objects.create(
        code="pm25",
        name_vi="Bụi PM2.5",
        name_en="PM2.5",
        unit="µg/m³",
        physical_min=0,
        physical_max=1000,
        seasonal=True,
    )
    station = make_station(sensor_layer, "DAI_NOI", source=sources.river)
    rng = np.random.default_rng(7)
    end = timezone.now().replace(minute=0, second=0, microsecond=0)
    start = end - timedelta(days=7)
    readings, night = [], []
    at = start
    while at < end:
        local = timezone.localtime(at)
        hour = local.hour + local.minute / 60
        value = (
            15
            + 25 * math.exp(-(((hour - 7.5) / 1.5) ** 2))
            + 30 * math.exp(-(((hour - 19) / 2) ** 2))
        )
        value *= rng.lognormal(0, 0.08)
        # The last night: 1 to 4 o'clock as dirty as a rush hour (a fire, a burning field).
        if end - at < timedelta(days=1) and 1 <= local.hour < 4:
            value += 50
            night.append(at)
        readings.append((at, round(value, 1)))
        at += STEP
    post(sources.river_key, "DAI_NOI", "pm25", readings, django_capture_on_commit_callbacks)
    anomalies = list(Anomaly.objects.filter(datastream__station=station))
    assert [a.kind for a in anomalies] == ["seasonal"]
    assert anomalies[0].time_start <= night[2] and anomalies[0].time_end >= night[-3]
    assert "usual level for this hour of day" in anomalies[0].explanation


@pytest.mark.django_db
def test_sensors_detect_runs_the_detectors_over_a_stored_history_once(
    stations, sources, water_level_range, django_capture_on_commit_callbacks
):
    kept, every = faulty_water_level()
    post(
        sources.river_key,
        "KIM_LONG",
        "water_level",
        kept,
        django_capture_on_commit_callbacks,
        execute=False,
    )
    assert not Anomaly.objects.exists()
    slug = stations.kim_long.layer.slug
    call_command("sensors_detect", layer=slug, since=kept[0][0].isoformat())
    datastream = stations.kim_long.datastreams.get()
    assert found(datastream) == expected(every)
    call_command("sensors_detect", layer=slug)
    assert found(datastream) == expected(every)
    with pytest.raises(CommandError, match="No sensor layer 'nope'"):
        call_command("sensors_detect", layer="nope")


@pytest.fixture
def reviewer(staff):
    staff.user_permissions.add(
        Permission.objects.get(codename="change_anomaly", content_type__app_label="sensors")
    )
    return staff


@pytest.mark.django_db
def test_staff_confirm_or_dismiss_an_anomaly_and_the_flags_follow(
    stations, sources, water_level_range, staff, signed_in, django_capture_on_commit_callbacks
):
    kept, every = faulty_water_level()
    post(sources.river_key, "KIM_LONG", "water_level", kept, django_capture_on_commit_callbacks)
    slug = stations.kim_long.layer.slug
    base = f"/api/v1/sensors/layers/{slug}/anomalies"
    listed = APIClient().get(f"{base}?status=new&kind=out_of_range").json()["anomalies"]
    assert [(a["station"], a["kind"], a["end"]) for a in listed] == [
        ("KIM_LONG", "out_of_range", every[-1][0].isoformat())
    ]
    assert "reviewed_by" not in listed[0]
    out_of_range, spike = listed[0]["id"], Anomaly.objects.get(kind="spike").pk
    assert APIClient().get(f"{base}?status=maybe").status_code == 400

    client = APIClient()
    dismiss = {"decision": "dismiss"}
    assert client.post(f"{base}/{out_of_range}/review", dismiss, format="json").status_code == 401
    client.force_authenticate(signed_in)
    assert client.post(f"{base}/{out_of_range}/review", dismiss, format="json").status_code == 403
    client.force_authenticate(staff)  # staff, but without the permission on anomalies
    assert client.post(f"{base}/{out_of_range}/review", dismiss, format="json").status_code == 403
    staff.user_permissions.add(
        Permission.objects.get(codename="change_anomaly", content_type__app_label="sensors")
    )
    staff = type(staff).objects.get(pk=staff.pk)  # permissions are cached on the user object
    client.force_authenticate(staff)
    bad = client.post(f"{base}/{out_of_range}/review", {"decision": "maybe"}, format="json")
    assert bad.status_code == 400 and "confirm, dismiss" in bad.json()["detail"]

    answer = client.post(f"{base}/{out_of_range}/review", dismiss, format="json")
    assert answer.status_code == 200, answer.content
    assert (answer.json()["status"], answer.json()["reviewed_by"]) == ("dismissed", "gis_staff")
    datastream = stations.kim_long.datastreams.get()
    last = Observation.objects.get(datastream=datastream, time=every[-1][0])
    assert last.flag == 0
    latest = Latest.objects.get(datastream=datastream)
    assert (latest.flag, latest.state) == (0, "normal")

    answer = client.post(f"{base}/{spike}/review", {"decision": "confirm"}, format="json")
    assert answer.json()["status"] == "confirmed"
    reviewed = Anomaly.objects.get(pk=spike)
    assert reviewed.reviewed_by == staff and reviewed.reviewed_at is not None
    assert Observation.objects.get(datastream=datastream, time=every[SPIKE][0]).flag == 1

    # Evaluated again, a dismissed anomaly stays dismissed and its reading unflagged.
    evaluation.evaluate_datastreams(datastream_ids=[datastream.pk], since=kept[0][0])
    assert Anomaly.objects.get(pk=out_of_range).status == "dismissed"
    assert Observation.objects.get(datastream=datastream, time=every[-1][0]).flag == 0
    assert Anomaly.objects.count() == 5


@pytest.mark.django_db
def test_anomalies_of_a_layer_that_may_not_be_seen_are_not_found(
    stations, sources, water_level_range, reviewer, django_capture_on_commit_callbacks
):
    kept, _ = faulty_water_level()
    post(sources.river_key, "KIM_LONG", "water_level", kept, django_capture_on_commit_callbacks)
    layer = stations.kim_long.layer
    layer.visibility = "internal"
    layer.save()
    base = f"/api/v1/sensors/layers/{layer.slug}/anomalies"
    anomaly = Anomaly.objects.first()
    assert APIClient().get(base).status_code == 404
    answer = APIClient().post(f"{base}/{anomaly.pk}/review", {"decision": "confirm"})
    assert answer.status_code == 404
    client = APIClient()
    client.force_authenticate(reviewer)
    assert len(client.get(base).json()["anomalies"]) == 5
    other = f"/api/v1/sensors/layers/{layer.slug}/anomalies/{anomaly.pk + 1000}/review"
    assert client.post(other, {"decision": "confirm"}, format="json").status_code == 404
