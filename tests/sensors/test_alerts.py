"""Thresholds open and close alerts from ingested readings; stale stations; notifications."""

import hashlib
import hmac
import json
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.contrib.auth.models import Permission
from django.core import mail
from django.utils import timezone
from rest_framework.test import APIClient

from sensors import evaluation, notifications
from sensors.models import (
    Alert,
    AlertNotification,
    Latest,
    SensorLayer,
    Threshold,
)

URL = "/api/v1/sensors/observations"


def post_readings(key, station, prop, readings, capture):
    """Post (time, value) readings through the ingestion API; run the queued evaluation."""
    body = {
        "observations": [
            {"station": station, "property": prop, "time": at.isoformat(), "value": value}
            for at, value in readings
        ]
    }
    with capture(execute=True):
        answer = APIClient().post(
            URL, data=json.dumps(body), content_type="application/json", HTTP_X_SENSOR_KEY=key
        )
    assert answer.status_code == 200, answer.content
    return answer.json()


@pytest.fixture
def levels(water_level):
    """Perfume River-like levels as property defaults: II warning at 3.0 m, III alarm at 4.0 m."""
    return {
        "II": Threshold.objects.create(
            property=water_level,
            level="II",
            severity="warning",
            value=3.0,
            hysteresis=0.1,
            sample=True,
        ),
        "III": Threshold.objects.create(
            property=water_level, level="III", severity="alarm", value=4.0, sample=True
        ),
    }


def minutes_ago(*offsets):
    now = timezone.now().replace(second=0, microsecond=0)
    return [now - timedelta(minutes=m) for m in offsets]


@pytest.mark.django_db
def test_a_threshold_crossing_opens_an_alert_keeps_its_peak_and_closes_it(
    stations, sources, levels, settings, django_capture_on_commit_callbacks
):
    settings.SENSORS_ALERT_EMAILS = ["operations@hue.example"]
    times = minutes_ago(60, 50, 40, 30, 20, 10, 5)
    post_readings(
        sources.river_key,
        "KIM_LONG",
        "water_level",
        list(zip(times[:4], [2.5, 3.05, 3.6, 3.3], strict=True)),
        django_capture_on_commit_callbacks,
    )
    alert = Alert.objects.get()
    assert (alert.kind, alert.level, alert.severity) == ("threshold", "II", "warning")
    assert (alert.opened_at, alert.opened_value) == (times[1], 3.05)
    assert (alert.peak_value, alert.peak_at) == (3.6, times[2])
    assert alert.closed_at is None
    latest = Latest.objects.get(datastream__station=stations.kim_long)
    assert (latest.state, latest.state_since) == ("warning", times[1])
    assert [m.to for m in mail.outbox] == [["operations@hue.example"]]
    assert "KIM_LONG" in mail.outbox[0].subject and "II" in mail.outbox[0].subject

    # 2.95 is below 3.0 but within the 0.1 hysteresis: still open; 2.85 closes it.
    post_readings(
        sources.river_key,
        "KIM_LONG",
        "water_level",
        [(times[4], 2.95), (times[5], 2.85), (times[6], 2.7)],
        django_capture_on_commit_callbacks,
    )
    alert.refresh_from_db()
    assert (alert.closed_at, alert.closed_value) == (times[5], 2.85)
    assert Alert.objects.count() == 1
    latest.refresh_from_db()
    assert (latest.state, latest.state_since) == ("normal", times[5])
    assert len(mail.outbox) == 2
    assert AlertNotification.objects.filter(status="sent").count() == 2

    # The same range evaluated again (a retried task): nothing opens or closes twice.
    again = evaluation.evaluate_datastreams(datastream_ids=[latest.datastream_id], since=times[0])
    assert (again.alerts_opened, again.alerts_closed) == (0, 0)
    assert Alert.objects.count() == 1


@pytest.mark.django_db
def test_an_alarm_level_outranks_the_warning_and_each_level_has_its_alert(
    stations, sources, levels, django_capture_on_commit_callbacks
):
    times = minutes_ago(40, 30, 20, 10)
    post_readings(
        sources.river_key,
        "KIM_LONG",
        "water_level",
        list(zip(times, [3.2, 4.1, 4.4, 3.5], strict=True)),
        django_capture_on_commit_callbacks,
    )
    by_level = {a.level: a for a in Alert.objects.all()}
    assert set(by_level) == {"II", "III"}
    assert by_level["III"].closed_at == times[3] and by_level["III"].peak_value == 4.4
    assert by_level["II"].closed_at is None and by_level["II"].peak_value == 4.4
    latest = Latest.objects.get(datastream__station=stations.kim_long)
    assert latest.state == "warning"


@pytest.mark.django_db
def test_a_datastreams_own_level_replaces_the_property_default(
    stations, sources, levels, django_capture_on_commit_callbacks
):
    times = minutes_ago(30, 20)
    post_readings(
        sources.river_key,
        "PHU_OC",
        "water_level",
        [(times[0], 2.0)],
        django_capture_on_commit_callbacks,
    )
    datastream = stations.phu_oc.datastreams.get()
    Threshold.objects.create(
        property=datastream.property, datastream=datastream, level="II", value=3.5
    )
    post_readings(
        sources.river_key,
        "PHU_OC",
        "water_level",
        [(times[1], 3.2)],
        django_capture_on_commit_callbacks,
    )
    assert not Alert.objects.exists()  # 3.2 m is under Phú Ốc's own level II (3.5 m)
    assert [t.value for t in evaluation.thresholds_for(datastream)] == [3.5, 4.0]


@pytest.mark.django_db
def test_readings_of_an_old_history_open_and_close_alerts_without_messages(
    stations, sources, levels, settings, django_capture_on_commit_callbacks
):
    settings.SENSORS_ALERT_EMAILS = ["operations@hue.example"]
    old = timezone.now() - timedelta(days=3)
    post_readings(
        sources.river_key,
        "KIM_LONG",
        "water_level",
        [(old, 2.0), (old + timedelta(minutes=10), 3.4), (old + timedelta(minutes=20), 2.0)],
        django_capture_on_commit_callbacks,
    )
    alert = Alert.objects.get()
    assert alert.closed_at == old + timedelta(minutes=20)
    assert mail.outbox == []


@pytest.mark.django_db
def test_a_silent_station_gets_a_stale_alert_closed_when_it_reports_again(
    stations, sources, settings, django_capture_on_commit_callbacks
):
    settings.SENSORS_ALERT_EMAILS = ["operations@hue.example"]
    config = SensorLayer.objects.get(layer=stations.kim_long.layer)
    config.stale_after = timedelta(minutes=30)
    config.save()
    last = timezone.now().replace(microsecond=0) - timedelta(hours=2)
    post_readings(
        sources.river_key,
        "KIM_LONG",
        "water_level",
        [(last, 1.0)],
        django_capture_on_commit_callbacks,
    )
    fresh = timezone.now().replace(microsecond=0) - timedelta(minutes=1)
    post_readings(
        sources.river_key,
        "PHU_OC",
        "water_level",
        [(fresh, 1.0)],
        django_capture_on_commit_callbacks,
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert evaluation.stale_check() == {"opened": 1, "closed": 0}
    with django_capture_on_commit_callbacks(execute=True):
        assert evaluation.stale_check() == {"opened": 0, "closed": 0}
    alert = Alert.objects.get()
    assert (alert.kind, alert.station, alert.datastream) == ("stale", stations.kim_long, None)
    assert alert.opened_at == last + timedelta(minutes=30)
    assert len(mail.outbox) == 1 and "KIM_LONG" in mail.outbox[0].subject

    # A reading arrives: the evaluation closes the alert at once (no wait for the beat).
    post_readings(
        sources.river_key,
        "KIM_LONG",
        "water_level",
        [(fresh, 1.1)],
        django_capture_on_commit_callbacks,
    )
    alert.refresh_from_db()
    assert alert.closed_at == fresh
    assert len(mail.outbox) == 2
    with django_capture_on_commit_callbacks(execute=True):
        assert evaluation.stale_check() == {"opened": 0, "closed": 0}


class _Webhook(BaseHTTPRequestHandler):
    """Answer 500 to the first `fail` POSTs, then 204; keep what was received."""

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        server = self.server
        server.received.append((dict(self.headers), body))
        status = 500 if len(server.received) <= server.fail else 204
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def webhook():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Webhook)
    server.received, server.fail = [], 1
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.mark.django_db
def test_the_webhook_gets_who_what_when_value_and_a_failure_is_retried(
    stations, sources, levels, settings, webhook, django_capture_on_commit_callbacks
):
    host, port = webhook.server_address
    settings.SENSORS_ALERT_WEBHOOK_URL = f"http://{host}:{port}/alerts"
    settings.SENSORS_ALERT_WEBHOOK_SECRET = "s3cret"
    times = minutes_ago(20, 10)
    # The webhook answers 500: the evaluation is not held up, the alert is open all the same.
    post_readings(
        sources.river_key,
        "KIM_LONG",
        "water_level",
        list(zip(times, [2.0, 3.3], strict=True)),
        django_capture_on_commit_callbacks,
    )
    alert = Alert.objects.get()
    row = AlertNotification.objects.get(channel="webhook")
    assert (row.status, row.attempts) == ("failed", 1)
    assert "500" in row.last_error and row.next_attempt_at > timezone.now()
    assert len(webhook.received) == 1

    # Not due yet: nothing is sent; once due, the retry sends it.
    with django_capture_on_commit_callbacks(execute=True):
        assert notifications.notifications_retry() == 0
    with django_capture_on_commit_callbacks(execute=True):
        due = row.next_attempt_at + timedelta(seconds=1)
        assert notifications.notifications_retry(now=due) == 1
    row.refresh_from_db()
    assert (row.status, row.attempts, row.last_error) == ("sent", 2, "")
    headers, body = webhook.received[-1]
    payload = json.loads(body)
    assert payload["event"] == "opened" and payload["alert"] == alert.pk
    assert payload["who"]["station"] == "KIM_LONG"
    assert payload["who"]["layer"] == stations.kim_long.layer.slug
    assert payload["what"] == {
        "property": "water_level",
        "unit": "m",
        "level": "II",
        "severity": "warning",
        "threshold": 3.0,
    }
    assert payload["when"] == times[1].isoformat() and payload["value"] == 3.3
    expected = hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    assert headers["X-Signature-SHA256"] == expected


@pytest.mark.django_db
def test_a_notification_gives_up_after_the_last_attempt(
    stations, sources, levels, settings, webhook, django_capture_on_commit_callbacks
):
    host, port = webhook.server_address
    settings.SENSORS_ALERT_WEBHOOK_URL = f"http://{host}:{port}/alerts"
    settings.SENSORS_ALERT_MAX_ATTEMPTS = 2
    webhook.fail = 10
    post_readings(
        sources.river_key,
        "KIM_LONG",
        "water_level",
        [(minutes_ago(5)[0], 3.3)],
        django_capture_on_commit_callbacks,
    )
    row = AlertNotification.objects.get()
    with django_capture_on_commit_callbacks(execute=True):
        notifications.notifications_retry(now=row.next_attempt_at)
    row.refresh_from_db()
    assert (row.status, row.attempts, row.next_attempt_at) == ("gave_up", 2, None)
    assert notifications.notification_send(notification_id=row.pk) == "gave_up"
    assert len(webhook.received) == 2


@pytest.mark.django_db
def test_alerts_api_lists_open_alerts_of_a_visible_layer_only(
    stations, sources, levels, planners, django_capture_on_commit_callbacks
):
    times = minutes_ago(30, 20, 10)
    post_readings(
        sources.river_key,
        "KIM_LONG",
        "water_level",
        list(zip(times, [3.2, 2.0, 3.4], strict=True)),
        django_capture_on_commit_callbacks,
    )
    slug = stations.kim_long.layer.slug
    client = APIClient()
    every = client.get(f"/api/v1/sensors/layers/{slug}/alerts").json()["alerts"]
    assert [(a["opened_value"], a["open"]) for a in every] == [(3.4, True), (3.2, False)]
    open_only = client.get(f"/api/v1/sensors/layers/{slug}/alerts?open=1").json()["alerts"]
    assert [(a["station"], a["property"], a["level"], a["sample"]) for a in open_only] == [
        ("KIM_LONG", "water_level", "II", True)
    ]
    assert client.get(f"/api/v1/sensors/layers/{slug}/alerts?open=maybe").status_code == 400
    layer = stations.kim_long.layer
    layer.visibility = "restricted"
    layer.save()
    layer.groups.add(planners)
    assert client.get(f"/api/v1/sensors/layers/{slug}/alerts").status_code == 404


class _SlowWebhook(BaseHTTPRequestHandler):
    """Answer only after the client has given up."""

    def do_POST(self):
        self.server.received += 1
        self.server.release.wait(5)
        self.send_response(204)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.mark.django_db
def test_a_webhook_that_does_not_answer_in_time_is_a_failure_for_later(
    stations, sources, levels, settings, django_capture_on_commit_callbacks
):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _SlowWebhook)
    server.received, server.release = 0, threading.Event()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        host, port = server.server_address
        settings.SENSORS_ALERT_WEBHOOK_URL = f"http://{host}:{port}/alerts"
        settings.SENSORS_ALERT_WEBHOOK_TIMEOUT_S = 0.3
        post_readings(
            sources.river_key,
            "KIM_LONG",
            "water_level",
            [(minutes_ago(5)[0], 3.3)],
            django_capture_on_commit_callbacks,
        )
    finally:
        server.release.set()
        server.shutdown()
        server.server_close()
    assert server.received == 1
    assert Alert.objects.get().closed_at is None
    row = AlertNotification.objects.get()
    assert row.status == "failed" and "Timeout" in row.last_error


@pytest.mark.django_db
def test_staff_acknowledge_an_alert_once(
    stations, sources, levels, staff, django_capture_on_commit_callbacks
):
    post_readings(
        sources.river_key,
        "KIM_LONG",
        "water_level",
        [(minutes_ago(5)[0], 3.3)],
        django_capture_on_commit_callbacks,
    )
    alert = Alert.objects.get()
    url = f"/api/v1/sensors/layers/{stations.kim_long.layer.slug}/alerts/{alert.pk}/acknowledge"
    client = APIClient()
    assert client.post(url).status_code == 401
    client.force_authenticate(staff)
    assert client.post(url).status_code == 403  # no permission on alerts
    staff.user_permissions.add(
        Permission.objects.get(codename="change_alert", content_type__app_label="sensors")
    )
    client.force_authenticate(type(staff).objects.get(pk=staff.pk))
    first = client.post(url).json()["acknowledged_at"]
    assert first is not None
    assert client.post(url).json()["acknowledged_at"] == first
    assert Alert.objects.get().acknowledged_by == staff
