"""The demo's live readings: every few seconds a SenML pack per demo station, over MQTT.

`manage.py sensors_demo_publish` runs `DemoPublisher` while `make demo` serves (scripts/serve.sh
starts it when `SENSORS_MQTT_URL` is set). Each round publishes, for each station of
`sensors.demo.STATIONS`, one SenML pack (RFC 8428) of all its properties at the same instant to
`hue/sensors/demo/<station>` (the `SENSORS_MQTT_TOPIC` pattern with the source `demo`), where the
subscriber (`sensors.mqtt`) takes it like any station's. The values continue the demo history's
functions past its end (`sensors.demo.value_at`), so the river, the tide and the air's daily
cycle go on as the charts show them.
"""

from __future__ import annotations

import json
import logging
import threading
from datetime import UTC, datetime

import paho.mqtt.client as mqtt
from django.db import DatabaseError, close_old_connections
from django.utils import timezone

from layers.models import Layer

from .demo import LAYER_SLUG, PROPERTIES, SOURCE_NAME, STATIONS, demo_end, value_at
from .mqtt import Broker

logger = logging.getLogger(__name__)

# Our units in SenML's names where RFC 8428's registry has one (°C is "Cel").
SENML_UNITS = {"°C": "Cel"}


def demo_topic(pattern: str, station: str, source: str = SOURCE_NAME) -> str:
    """Return the topic of a station's readings: the pattern's two `+` filled in."""
    if pattern.count("+") != 2 or "#" in pattern:
        raise ValueError(f"The topic pattern {pattern!r} needs exactly two '+' (source, station).")
    first, middle, last = pattern.split("+")
    return f"{first}{source}{middle}{station}{last}"


def demo_pack(station: str, at: datetime, end: datetime) -> list[dict]:
    """Return the SenML pack of one station's readings at `at` (base name, base time, records)."""
    spec = next(s for s in STATIONS if s.code == station)
    records = []
    for prop in spec.properties:
        unit = PROPERTIES[prop].unit
        records.append(
            {"n": prop, "u": SENML_UNITS.get(unit, unit), "v": value_at(station, prop, at, end)}
        )
    records[0] = {"bn": f"urn:dev:hue:{station}:", "bt": at.timestamp(), **records[0]}
    return records


class DemoPublisher:
    """Publish a round of demo readings every `every_s` seconds (or once)."""

    def __init__(self, *, url: str, topic: str, every_s: float = 5.0) -> None:
        self.broker = Broker.from_url(url)
        self.topic = topic
        demo_topic(topic, "X")  # a bad pattern fails here, before connecting
        self.every_s = every_s
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id="", clean_session=True
        )
        if self.broker.username:
            self.client.username_pw_set(self.broker.username, self.broker.password)
        if self.broker.tls:
            self.client.tls_set()
        self.client.reconnect_delay_set(min_delay=1, max_delay=30)

    def connect(self) -> None:
        """Connect now (raises OSError when the broker cannot be reached)."""
        self.client.connect(self.broker.host, self.broker.port)
        self.client.loop_start()

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def history_end(self) -> datetime:
        """Return where the loaded history ends (now when the demo is not loaded)."""
        layer = Layer.objects.filter(slug=LAYER_SLUG).first()
        end = demo_end(layer) if layer is not None else None
        return end or timezone.now()

    def publish_round(self, *, at: datetime | None = None, timeout_s: float = 10.0) -> int:
        """Publish one pack per station at `at` (now); return how many the broker took."""
        at = (at or timezone.now()).astimezone(UTC).replace(microsecond=0)
        end = self.history_end()
        messages = []
        for spec in STATIONS:
            payload = json.dumps(demo_pack(spec.code, at, end), ensure_ascii=False).encode()
            messages.append(self.client.publish(demo_topic(self.topic, spec.code), payload, qos=1))
        published = 0
        for message in messages:
            message.wait_for_publish(timeout=timeout_s)
            published += message.is_published()
        return published

    def _waiting_for(self) -> str:
        """Return what a round must wait for ("" when it can publish)."""
        if not self.client.is_connected():
            return f"the MQTT broker at {self.broker.host}:{self.broker.port}"
        close_old_connections()  # a long-running process: never keep a dead connection
        try:
            loaded = Layer.objects.filter(slug=LAYER_SLUG).exists()
        except DatabaseError:
            return "the database"
        # Without the demo stations (a real deployment, or loaddemo without --sensors) nothing
        # would take these readings.
        return "" if loaded else "the sensor demo to be loaded (loaddemo --sensors)"

    def run_forever(self, stop: threading.Event) -> None:
        """Publish a round every `every_s` seconds until `stop` is set; never raise on a round."""
        # Connected in the background and again after any loss: a broker that starts later or
        # restarts never stops the publisher (serve.sh stops everything when one process ends).
        self.client.connect_async(self.broker.host, self.broker.port)
        self.client.loop_start()
        try:
            waiting = ""
            while not stop.is_set():
                reason = self._waiting_for()
                if reason != waiting:  # said once, not every round
                    if reason:
                        logger.info("Waiting for %s", reason)
                    else:
                        logger.info("Publishing demo readings every %g s", self.every_s)
                    waiting = reason
                if not reason:
                    try:
                        count = self.publish_round()
                        logger.debug("Published %d demo packs", count)
                    except Exception:  # the database or the broker away: try again next round
                        logger.exception("A round of demo readings could not be published")
                stop.wait(self.every_s)
        finally:
            self.close()
