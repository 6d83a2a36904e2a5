"""The MQTT subscriber against a real Mosquitto started on a port of its own for these tests."""

import json
import shutil
import socket
import subprocess
import time
from datetime import timedelta

import paho.mqtt.client as mqtt
import pytest
from django.utils import timezone

from sensors.models import Latest, Observation
from sensors.mqtt import Subscriber, topic_fields

# Debian's mosquitto, installed by scripts/setup.sh (in /usr/sbin, not always on a user's PATH).
MOSQUITTO = shutil.which("mosquitto") or shutil.which("mosquitto", path="/usr/sbin")
pytestmark = pytest.mark.skipif(MOSQUITTO is None, reason="no mosquitto: run scripts/setup.sh")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Broker:
    """A Mosquitto of the test's own, on its own port; stopped and started again at will."""

    def __init__(self, folder):
        self.port = free_port()
        self.config = folder / "mosquitto.conf"
        self.config.write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
        )
        self.process = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [MOSQUITTO, "-c", str(self.config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("mosquitto did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"


@pytest.fixture
def broker(tmp_path):
    broker = Broker(tmp_path)
    broker.start()
    yield broker
    broker.stop()


@pytest.fixture
def subscriber(broker):
    subscriber = Subscriber(url=broker.url, topic="hue/sensors/+/+", flush_s=0.2)
    subscriber.start()
    assert subscriber.subscribed.wait(10), "the subscriber never subscribed"
    yield subscriber
    subscriber.stop()


def publish(broker, messages) -> None:
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    client.connect("127.0.0.1", broker.port)
    client.loop_start()
    try:
        for topic, payload in messages:
            body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
            client.publish(topic, body, qos=1).wait_for_publish(timeout=10)
    finally:
        client.disconnect()
        client.loop_stop()


def run_until(subscriber, condition, timeout_s=15) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        subscriber.run_once(timeout_s=0.2)
        if condition():
            return
    raise AssertionError(f"not reached in {timeout_s} s; counts {dict(subscriber.counts)}")


def pack(value, *, seconds_ago=60, prop="water_level", unit="m"):
    at = timezone.now().replace(microsecond=0) - timedelta(seconds=seconds_ago)
    return [{"bt": at.timestamp(), "n": prop, "u": unit, "v": value}], at


@pytest.mark.django_db
def test_a_senml_reading_over_mqtt_is_written(stations, broker, subscriber):
    payload, at = pack(3.25)
    publish(broker, [("hue/sensors/river/KIM_LONG", payload)])
    run_until(subscriber, lambda: subscriber.counts["written"] == 1)
    assert list(Observation.objects.values_list("datastream__station__code", "time", "value")) == [
        ("KIM_LONG", at, 3.25)
    ]
    assert Latest.objects.get().value == 3.25


@pytest.mark.django_db
def test_bad_messages_are_counted_and_the_good_ones_still_written(stations, broker, subscriber):
    good, at = pack(1.5)
    publish(
        broker,
        [
            ("hue/sensors/river/KIM_LONG", b"not json {"),
            ("hue/sensors/river/KIM_LONG", {"v": 1}),  # an object, not a pack
            ("hue/sensors/nobody/KIM_LONG", good),  # no such source
            ("hue/sensors/river/THUAN_AN", good),  # the other source's station
            ("hue/sensors/river/KIM_LONG", pack(5, unit="cm")[0]),  # wrong unit
            ("hue/sensors/river/KIM_LONG", good),
        ],
    )
    run_until(subscriber, lambda: subscriber.counts["received"] == 6)
    assert subscriber.counts["malformed"] == 2
    assert subscriber.counts["unknown"] == 1
    assert subscriber.counts["refused"] == 2
    assert subscriber.counts["written"] == 1
    assert list(Observation.objects.values_list("datastream__station__code", "time", "value")) == [
        ("KIM_LONG", at, 1.5)
    ]


@pytest.mark.django_db
def test_the_subscriber_reconnects_after_the_broker_restarts(stations, broker, subscriber):
    broker.stop()
    run_until(subscriber, lambda: not subscriber.connected.is_set(), timeout_s=10)
    broker.start()
    run_until(subscriber, subscriber.subscribed.is_set, timeout_s=40)
    payload, _at = pack(2.0)
    publish(broker, [("hue/sensors/river/PHU_OC", payload)])
    run_until(subscriber, lambda: subscriber.counts["written"] == 1)
    assert Observation.objects.get().datastream.station.code == "PHU_OC"


@pytest.mark.django_db
@pytest.mark.parametrize("client_id", ["mapserver-sensors-test", ""])
def test_readings_published_while_the_subscriber_is_down_arrive_when_it_is_back(
    stations, broker, client_id
):
    """A persistent session (a client id) gets what the broker queued meanwhile; a clean one
    loses it (which is why the subscriber runs with a client id by default)."""
    first = Subscriber(url=broker.url, topic="hue/sensors/+/+", flush_s=0.2, client_id=client_id)
    first.start()
    assert first.subscribed.wait(10)
    first.stop()  # a restart, a deploy, a crash: nobody reads for a while
    readings = [pack(1.0 + n / 10, seconds_ago=600 - 60 * n)[0] for n in range(5)]
    publish(broker, [("hue/sensors/river/KIM_LONG", payload) for payload in readings])
    back = Subscriber(url=broker.url, topic="hue/sensors/+/+", flush_s=0.2, client_id=client_id)
    back.start()
    try:
        assert back.subscribed.wait(10)
        if client_id:
            run_until(back, lambda: back.counts["written"] == 5)
            assert Observation.objects.count() == 5
        else:
            deadline = time.monotonic() + 2
            while time.monotonic() < deadline:
                back.run_once(timeout_s=0.2)
            assert back.counts["received"] == 0 and Observation.objects.count() == 0
    finally:
        back.stop()


def test_topic_fields():
    pattern = "hue/sensors/+/+"
    assert topic_fields(pattern, "hue/sensors/river/KIM_LONG") == ("river", "KIM_LONG")
    assert topic_fields(pattern, "hue/sensors/river") is None
    assert topic_fields(pattern, "hue/other/river/KIM_LONG") is None
    assert topic_fields(pattern, "hue/sensors//KIM_LONG") is None


def test_a_topic_without_source_and_station_is_refused():
    with pytest.raises(ValueError, match="two '\\+'"):
        Subscriber(url="mqtt://127.0.0.1:1", topic="hue/sensors/#")
    with pytest.raises(ValueError, match="mqtt://"):
        Subscriber(url="http://127.0.0.1", topic="hue/sensors/+/+")


def test_without_a_broker_the_command_says_so_and_ends(settings):
    from io import StringIO

    from django.core.management import call_command

    settings.SENSORS_MQTT_URL = ""
    out = StringIO()
    call_command("sensors_subscribe", stdout=out)
    assert "SENSORS_MQTT_URL is empty" in out.getvalue()
