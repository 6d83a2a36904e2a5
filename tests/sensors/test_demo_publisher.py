"""`manage.py sensors_demo_publish --once` against a real Mosquitto on a port of the test's own.

A client of the test's own subscribes first and reads what the broker delivers: one SenML pack
per demo station on `hue/sensors/demo/<station>`, read back by the project's SenML parser; and the
subscriber of the sensors app writes the pack of a station the `demo` source owns.
"""

import json
import shutil
import threading
from datetime import UTC, datetime, timedelta

import paho.mqtt.client as mqtt
import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from sensors.demo import LAYER_SLUG, STATIONS, value_at
from sensors.models import Datastream, Observation, ObservedProperty, SensorSource
from sensors.mqtt import Subscriber
from sensors.publisher import DemoPublisher, demo_topic
from sensors.senml import parse_senml
from tests.factories import LayerFactory
from tests.sensors.conftest import make_station
from tests.sensors.test_mqtt import Broker, run_until

pytestmark = pytest.mark.skipif(not shutil.which("mosquitto"), reason="Debian's mosquitto")


@pytest.fixture
def broker(tmp_path):
    broker = Broker(tmp_path)
    broker.start()
    yield broker
    broker.stop()


class Listener:
    """A plain paho client that keeps every message of the demo topics."""

    def __init__(self, port: int) -> None:
        self.messages: dict[str, bytes] = {}
        self.subscribed = threading.Event()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
        self.client.on_connect = lambda c, *_: c.subscribe("hue/sensors/demo/+", qos=1)
        self.client.on_subscribe = lambda *_: self.subscribed.set()
        self.client.on_message = lambda c, u, m: self.messages.__setitem__(m.topic, m.payload)
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.mark.django_db
def test_one_round_is_a_valid_senml_pack_per_station(broker):
    listener = Listener(broker.port)
    try:
        assert listener.subscribed.wait(10)
        before = timezone.now().replace(microsecond=0)
        call_command("sensors_demo_publish", "--once", "--url", broker.url, verbosity=0)
        deadline = timezone.now() + timedelta(seconds=10)
        while len(listener.messages) < len(STATIONS) and timezone.now() < deadline:
            threading.Event().wait(0.05)
    finally:
        listener.close()
    assert set(listener.messages) == {f"hue/sensors/demo/{s.code}" for s in STATIONS}
    for spec in STATIONS:
        pack = json.loads(listener.messages[f"hue/sensors/demo/{spec.code}"])
        readings, refusals = parse_senml(pack, now=timezone.now(), station=spec.code)
        assert refusals == []
        assert {r.station for r in readings} == {spec.code}
        assert [r.property for r in readings] == list(spec.properties)
        assert all(before <= r.time <= timezone.now() for r in readings)
        assert all(isinstance(r.value, float) for r in readings)


# Committed rows: the subscriber closes a connection left inside a transaction, as a long-running
# process must, so it cannot write into a test's open transaction.
@pytest.mark.django_db(transaction=True)
def test_the_subscriber_writes_a_published_demo_reading(broker, sensor_layer):
    ObservedProperty.objects.create(
        code="water_level", name_vi="Mực nước", name_en="Water level", unit="m"
    )
    ObservedProperty.objects.create(
        code="rainfall", name_vi="Lượng mưa", name_en="Rainfall", unit="mm"
    )
    demo = SensorSource.objects.create(name="demo")
    make_station(sensor_layer, "KIM_LONG", source=demo)
    subscriber = Subscriber(url=broker.url, topic="hue/sensors/+/+", flush_s=0.2)
    subscriber.start()
    try:
        assert subscriber.subscribed.wait(10)
        call_command("sensors_demo_publish", "--once", "--url", broker.url, verbosity=0)
        # The other stations are not the test's: refused (counted per record), never written.
        others = sum(len(s.properties) for s in STATIONS if s.code != "KIM_LONG")
        run_until(subscriber, lambda: subscriber.counts["refused"] == others)
        run_until(subscriber, lambda: subscriber.counts["written"] >= 2)
    finally:
        subscriber.stop()
    assert subscriber.counts["written"] == 2
    assert Observation.objects.count() == 2
    level = Observation.objects.get(datastream__property__code="water_level")
    assert abs(level.time - timezone.now()) < timedelta(seconds=30)
    # No flood now: the river near its resting level at Kim Long.
    assert 0.3 < level.value < 1.0
    assert Datastream.objects.filter(station__code="KIM_LONG").count() == 2


def test_values_continue_the_history_and_topics_follow_the_pattern():
    end = datetime(2026, 11, 20, 3, 10, tzinfo=UTC)
    later = [value_at("KIM_LONG", "water_level", end + timedelta(minutes=m), end) for m in (5, 65)]
    assert all(0.3 < v < 1.0 for v in later)
    assert value_at("THUAN_AN", "salinity", end + timedelta(hours=1), end) > 10
    assert demo_topic("hue/sensors/+/+", "KIM_LONG") == "hue/sensors/demo/KIM_LONG"
    assert demo_topic("city/+/stations/+/up", "X") == "city/demo/stations/X/up"
    with pytest.raises(ValueError, match="two"):
        demo_topic("hue/sensors/#", "X")


@pytest.mark.django_db
def test_without_a_broker_url_it_says_so_and_exits(settings, capsys):
    settings.SENSORS_MQTT_URL = ""
    call_command("sensors_demo_publish", "--once")
    assert "SENSORS_MQTT_URL is empty" in capsys.readouterr().out


@pytest.mark.django_db(transaction=True)
def test_the_running_publisher_waits_for_the_demo_then_publishes_until_stopped(broker):
    listener = Listener(broker.port)
    stop = threading.Event()

    def run():
        try:
            DemoPublisher(url=broker.url, topic="hue/sensors/+/+", every_s=0.2).run_forever(stop)
        finally:
            connection.close()  # the thread's own connection

    thread = threading.Thread(target=run)
    try:
        assert listener.subscribed.wait(10)
        thread.start()
        stop.wait(1.5)  # several rounds: the demo is not loaded, nothing is published
        assert listener.messages == {}
        LayerFactory(slug=LAYER_SLUG)
        deadline = timezone.now() + timedelta(seconds=10)
        while len(listener.messages) < len(STATIONS) and timezone.now() < deadline:
            threading.Event().wait(0.05)
        assert len(listener.messages) == len(STATIONS)
    finally:
        stop.set()
        thread.join(timeout=10)
        listener.close()
    assert not thread.is_alive()
