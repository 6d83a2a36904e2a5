"""Sensor layers on the web map, end to end: a reading published over MQTT to a real Mosquitto
reaches the subscriber, the database, the `latest` endpoint and, within seconds, the colour of its
station on the map (read back from the drawn pixels) and the chart in the station's open popup.
Replay along the time slider draws the stations as they were at an instant."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import timedelta
from io import BytesIO
from pathlib import Path

import pytest
from django.contrib.gis.geos import Point
from django.utils import timezone
from PIL import Image

from layers.models import Category, Feature, Layer
from layers.services import FeatureRecord, layer_replace_features
from sensors.ingest import ingest
from sensors.models import ObservedProperty, SensorLayer, Station
from sensors.models_alerts import Threshold
from sensors.senml import Reading
from sensors.services import source_create
from tests.sensors.test_mqtt import Broker
from tests.web.test_csp_browser import violations, wait_until
from tests.web.test_csp_browser import watched as csp_page  # noqa: F401 (the fixture, by name)

pytestmark = pytest.mark.django_db(transaction=True)

SLUG = "river-gauges"
# Two gauges on the sample's Perfume River, away from the sample's other points and labels.
STATIONS = {"KIM_LONG": (107.5760, 16.4605), "PHU_CAM": (107.6030, 16.4720)}
NORMAL_M = 2.0
FLOOD_M = 4.2
# The map's colours of the states (sensors.js, STATE_COLOURS).
GREEN, RED, GREY = (0x16, 0xA3, 0x4A), (0xDC, 0x26, 0x26), (0x9C, 0xA3, 0xAF)


def build_sensor_layer(settings) -> dict:
    """A public sensor layer of two gauges: KIM_LONG reports every 10 minutes (24 h of history),
    PHU_CAM stopped 3 hours ago (stale). Return the feature id of each station, and the source."""
    layer = Layer.objects.create(
        slug=SLUG, category=Category.objects.get(slug="water"), status=Layer.Status.READY,
        visibility=Layer.Visibility.PUBLIC, max_zoom=18, geometry_type="point",
        title_vi="Trạm đo mực nước", title_en="River gauges", name_field="name",
        style={"type": "circle", "paint": {
            "circle-color": "#2563eb", "circle-radius": 9,
            "circle-stroke-color": "#fff", "circle-stroke-width": 1}},
    )  # fmt: skip
    layer_replace_features(
        layer=layer,
        records=[
            FeatureRecord(Point(lon, lat, srid=4326), {"name": code.title(), "station": code})
            for code, (lon, lat) in STATIONS.items()
        ],
    )
    SensorLayer.objects.create(layer=layer, stale_after=timedelta(minutes=30))
    ObservedProperty.objects.create(
        code="water_level", name_vi="Mực nước", name_en="Water level", unit="m"
    )
    source, key = source_create(name="river")
    features = {f.attributes["station"]: f.pk for f in Feature.objects.filter(layer=layer)}
    for code, feature_id in features.items():
        Station.objects.create(
            layer=layer, feature_id=feature_id, code=code, name=code.title(), source=source
        )
    now = timezone.now().replace(microsecond=0)
    history = [("KIM_LONG", now - timedelta(minutes=10 * i), NORMAL_M - 0.002 * i)
               for i in range(1, 144)]  # fmt: skip
    history += [
        ("PHU_CAM", now - timedelta(hours=3, minutes=10 * i), 1.5 - 0.002 * i) for i in range(12)
    ]
    readings = [
        Reading(index=i, station=code, property="water_level", time=at, value=value, unit="m")
        for i, (code, at, value) in enumerate(history)
    ]
    result = ingest(readings, source=source)
    assert not result.rejected, result.rejected
    settings.WEBMAP_DEFAULT_LAYERS = [*settings.WEBMAP_DEFAULT_LAYERS, SLUG]
    return {"features": features, "source": source, "key": key, "history_start": now}


def drawn_colour(map_page, lon: float, lat: float) -> tuple[int, int, int]:
    """Return the colour drawn at the centre of a place on the map (from a screenshot)."""
    map_page.wait_idle()
    point = map_page.pixel_of(lon, lat)
    png = map_page.page.screenshot(
        clip={"x": point["x"] - 1, "y": point["y"] - 1, "width": 3, "height": 3}
    )
    return Image.open(BytesIO(png)).convert("RGB").getpixel((1, 1))


def close_to(colour, expected, tolerance: int = 40) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(colour, expected, strict=True))


def wait_for(page, expression: str, timeout_s: float = 30) -> object:
    """Poll an expression in the page until it is truthy; fail saying which one never was."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if value := page.evaluate(expression):
            return value
        time.sleep(0.2)
    raise AssertionError(f"never true within {timeout_s} s: {expression}")


def state_of(feature_id: int) -> str:
    """Return a page expression: the state station `feature_id` is drawn with (or null)."""
    return f"() => window.webmap.sensors?.drawnState('{SLUG}', {feature_id})"


def test_replay_draws_the_stations_as_they_were(map_page, settings):
    built = build_sensor_layer(settings)
    phu_cam = built["features"]["PHU_CAM"]
    page = map_page.page
    map_page.open()
    wait_for(page, state_of(phu_cam))
    assert page.evaluate(state_of(phu_cam)) == "stale"
    assert close_to(drawn_colour(map_page, *STATIONS["PHU_CAM"]), GREY)

    # The replay slider of the legend, moved with the keyboard to 3 h 05 min ago (37 steps of
    # 5 minutes): PHU_CAM had reported five minutes before then.
    slider = page.locator(".sensor-replay-slider")
    slider.focus()
    for _step in range(37):
        page.keyboard.press("ArrowLeft")
    assert slider.input_value() == "-185"
    wait_for(page, f"() => ({state_of(phu_cam)})() === 'normal'")
    assert close_to(drawn_colour(map_page, *STATIONS["PHU_CAM"]), GREEN)
    replay = page.locator(".sensor-legend .sensor-replay").inner_text()
    assert replay.startswith("Tại thời điểm"), replay  # "As at …", in the page's Vietnamese

    map_page.click_at(*STATIONS["PHU_CAM"])
    wait_for(page, "() => document.querySelector('.sensor-chart')?.dataset.points")
    popup = page.locator(".sensor-station")
    assert popup.get_attribute("data-state") == "normal"
    assert popup.locator(".sensor-replay-note").count() == 1
    # The chart ends at the instant replayed: its 24 hours hold PHU_CAM's 11 readings before it.
    assert page.evaluate("() => document.querySelector('.sensor-chart').dataset.points") == "11"
    map_page.screenshot("sensors-replay")

    page.locator(".sensor-live").click()
    wait_for(page, f"() => ({state_of(phu_cam)})() === 'stale'")
    wait_for(page, "() => document.querySelector('.sensor-station')?.dataset.state === 'stale'")
    assert slider.input_value() == "0"

    # The map's time slider (timeslider.js) says the time through the page's time event.
    event = (
        "(instant) => document.dispatchEvent(new CustomEvent('webmap:time', {detail: {instant}}))"
    )
    then = built["history_start"] - timedelta(hours=3, minutes=5)
    page.evaluate(event, then.isoformat())
    wait_for(page, f"() => ({state_of(phu_cam)})() === 'normal'")
    assert slider.input_value() == "-185"  # the legend's slider follows
    page.evaluate(event, None)
    wait_for(page, f"() => ({state_of(phu_cam)})() === 'stale'")
    assert not page.errors


@pytest.fixture
def broker(tmp_path):
    """A Mosquitto of this test's own, on a port of its own (tests/sensors/test_mqtt.py)."""
    broker = Broker(tmp_path)
    broker.start()
    yield broker
    broker.stop()


@pytest.fixture
def subscriber_process(broker, celery_worker_process, tmp_path):
    """`manage.py sensors_subscribe` as serve.sh runs it, on the test database, sending the
    evaluation of what it writes to the test's real Celery worker."""
    from django.db import connection

    db = connection.settings_dict
    env = {
        **os.environ,
        "DATABASE_URL": (
            f"postgis://{db['USER']}:{db['PASSWORD']}@{db['HOST'] or '127.0.0.1'}:"
            f"{db['PORT'] or 5432}/{db['NAME']}"
        ),
        "CELERY_QUEUE_PREFIX": f"{celery_worker_process.queue}-",
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "SENSORS_MQTT_URL": broker.url,
        "SENSORS_MQTT_FLUSH_S": "0.2",
    }
    log = (tmp_path / "subscriber.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "manage.py", "sensors_subscribe"],
        cwd=Path(__file__).resolve().parents[2], env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    yield process
    process.terminate()
    process.wait(timeout=30)
    log.close()
    print((tmp_path / "subscriber.log").read_text())


def test_a_reading_over_mqtt_reaches_the_station_colour_and_its_chart(
    map_page, settings, celery_worker_process, broker, subscriber_process
):
    built = build_sensor_layer(settings)
    water_level = ObservedProperty.objects.get(code="water_level")
    # A sample alarm level (the national flood warning level III of a gauge, say).
    Threshold.objects.create(
        property=water_level, level="III", severity="alarm", value=4.0, sample=True
    )
    kim_long = built["features"]["KIM_LONG"]
    page = map_page.page
    map_page.open()
    wait_for(page, state_of(kim_long))
    assert page.evaluate(state_of(kim_long)) == "normal"
    assert close_to(drawn_colour(map_page, *STATIONS["KIM_LONG"]), GREEN)
    assert page.evaluate(state_of(built["features"]["PHU_CAM"])) == "stale"
    assert close_to(drawn_colour(map_page, *STATIONS["PHU_CAM"]), GREY)

    # The station's popup: its latest value and 24 hours of history (143 readings) in the chart.
    map_page.click_at(*STATIONS["KIM_LONG"])
    wait_for(page, "() => document.querySelector('.sensor-chart')?.dataset.points")
    chart = page.locator(".sensor-chart")
    assert chart.get_attribute("data-points") == "143"
    assert float(chart.get_attribute("data-last")) == pytest.approx(NORMAL_M - 0.002)
    assert page.locator(".sensor-chart canvas").count() == 1
    map_page.screenshot("sensors-popup-before")

    # A flood reading over MQTT (retained: the subscriber gets it even if it subscribes later).
    at = timezone.now().replace(microsecond=0)
    pack = [{"bn": "urn:dev:hue:KIM_LONG:", "bt": at.timestamp(), "n": "water_level",
             "u": "m", "v": FLOOD_M}]  # fmt: skip
    publish_retained(broker, "hue/sensors/river/KIM_LONG", pack)

    # Within seconds: the chart of the open popup ends at it, the station turns to alarm.
    wait_for(page, f"() => document.querySelector('.sensor-chart')?.dataset.last === '{FLOOD_M}'")
    wait_for(page, f"() => ({state_of(kim_long)})() === 'alarm'")
    wait_for(page, "() => document.querySelector('.sensor-station')?.dataset.state === 'alarm'")
    row = page.locator(".sensor-readings tr[data-property='water_level']")
    assert row.get_attribute("data-state") == "alarm"
    assert row.locator(".sensor-value").inner_text().startswith("4,2 m")  # Vietnamese: comma
    assert page.locator(".sensor-chart").get_attribute("data-points") == "144"
    # The alert the threshold opened is listed under the chart.
    wait_for(page, "() => document.querySelector('.sensor-alerts li[data-level=\"III\"]')")
    assert page.locator(".sensor-alerts li").count() == 1
    map_page.screenshot("sensors-popup-after")

    # The colour drawn on the map is the alarm's (the popup closed, the highlight gone).
    page.locator(".maplibregl-popup-close-button").click()
    assert close_to(drawn_colour(map_page, *STATIONS["KIM_LONG"]), RED)
    map_page.screenshot("sensors-alarm")
    assert not page.errors


def publish_retained(broker, topic: str, payload) -> None:
    import paho.mqtt.client as mqtt

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    client.connect("127.0.0.1", broker.port)
    client.loop_start()
    try:
        client.publish(topic, json.dumps(payload).encode(), qos=1, retain=True).wait_for_publish(10)
    finally:
        client.disconnect()
        client.loop_stop()


def test_the_station_popup_and_its_chart_keep_to_the_policy(
    csp_page,  # noqa: F811 (the fixture imported above)
    live_server,
    hue_sample,
    settings,
):
    """Under the site's CSP (the other tests bypass it): uPlot's chart, its stylesheet and the
    module's own load and draw with no violation."""
    build_sensor_layer(settings)
    csp_page.goto(f"{live_server.url}/")
    wait_until(csp_page, "window.webmap?.sensors?.snapshots.size > 0")
    point = csp_page.evaluate(
        """([lon, lat]) => new Promise((resolve) => {
            const map = window.webmap.map;
            const at = () => {
                const p = map.project([lon, lat]), box = map.getContainer().getBoundingClientRect();
                resolve({ x: box.left + p.x, y: box.top + p.y });
            };
            if (map.loaded() && map.areTilesLoaded()) at(); else map.once('idle', at);
        })""",
        list(STATIONS["KIM_LONG"]),
    )
    csp_page.mouse.click(point["x"], point["y"])
    wait_until(csp_page, "document.querySelector('.sensor-chart canvas') !== null")
    assert csp_page.evaluate("document.querySelector('.sensor-chart').dataset.points") == "143"
    assert violations(csp_page) == []
    assert not csp_page.errors
