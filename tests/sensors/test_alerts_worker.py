"""The evaluation queued by ingestion runs on a real Celery worker (the `sensors` queue)."""

import json
import time
from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from sensors.models import Alert, Anomaly, Latest, Threshold


@pytest.mark.django_db(transaction=True)
def test_a_real_worker_opens_the_alert_of_an_ingested_crossing(
    celery_worker_process, stations, sources, water_level
):
    Threshold.objects.create(property=water_level, level="III", severity="alarm", value=4.0)
    water_level.physical_min, water_level.physical_max = -3.0, 15.0
    water_level.save()
    now = timezone.now().replace(microsecond=0)
    readings = [(now - timedelta(minutes=30), 3.8), (now - timedelta(minutes=20), 99.0)]
    readings.append((now - timedelta(minutes=10), 4.2))
    body = {
        "observations": [
            {"station": "KIM_LONG", "property": "water_level", "time": t.isoformat(), "value": v}
            for t, v in readings
        ]
    }
    answer = APIClient().post(
        "/api/v1/sensors/observations",
        data=json.dumps(body),
        content_type="application/json",
        HTTP_X_SENSOR_KEY=sources.river_key,
    )
    assert answer.status_code == 200, answer.content
    deadline = time.monotonic() + 60
    while not Alert.objects.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    alert = Alert.objects.get()
    # 99 m is outside the physical range: suspect, so it neither opens nor peaks the alert.
    assert (alert.level, alert.opened_at, alert.opened_value) == ("III", readings[2][0], 4.2)
    assert Anomaly.objects.get().kind == "out_of_range"
    assert Latest.objects.get(datastream__station=stations.kim_long).state == "alarm"
