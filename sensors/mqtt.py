"""The MQTT subscriber: SenML packs from a broker, written through `sensors.ingest`.

Topics follow `SENSORS_MQTT_TOPIC` (default `hue/sensors/+/+`): its first `+` is the source's
name, the second the station's code. Trust comes from the broker (its ACLs decide who may
publish under a source's name); the station must still be that source's.

paho's network thread only puts messages in a queue; the subscriber's own loop takes them in
batches (`SENSORS_MQTT_FLUSH_S` seconds or `SENSORS_MQTT_FLUSH_MESSAGES` messages) and writes
each source's readings in one transaction, so a thousand stations reporting every few seconds
cost a few statements a second, not one per message. A bad message (not JSON, not SenML, an
unknown source or station, a wrong unit) is counted and logged, never raised; a failed write
(the database away) is retried with the same batch until it succeeds; any other failure of
a write drops that batch, logged.
paho reconnects by itself (1 s, doubling to 30 s) and subscribes again on every connect.

With a client id (`SENSORS_MQTT_CLIENT_ID`, by default one per host) the session is persistent
(clean_session off): while the subscriber is down (a restart, a deploy, a crash) the broker keeps
the QoS 1 readings for it and delivers them when it is back, so none is lost in between (up to the
broker's `max_queued_messages`; stations must publish at QoS 1). Ingestion is idempotent, so a
reading delivered twice is written once. Without a client id the session is clean and what is
published while the subscriber is away is lost.
"""

from __future__ import annotations

import json
import logging
import queue
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

import paho.mqtt.client as mqtt
from django.db import InterfaceError, OperationalError, close_old_connections
from django.utils import timezone

from .ingest import ingest
from .models import SensorSource
from .senml import PayloadError, Reading, Refusal, parse_senml

logger = logging.getLogger(__name__)

RETRY_PAUSE_S = 2.0
SUMMARY_EVERY_S = 60.0


@dataclass(frozen=True)
class Broker:
    """Where the broker is, from `mqtt://user:password@host:port` (mqtts:// for TLS)."""

    host: str
    port: int
    tls: bool = False
    username: str | None = None
    password: str | None = None

    @classmethod
    def from_url(cls, url: str) -> Broker:
        parts = urlsplit(url)
        if parts.scheme not in ("mqtt", "mqtts", "tcp") or not parts.hostname:
            raise ValueError(
                f"SENSORS_MQTT_URL {url!r} is not mqtt://host:port (or mqtts:// for TLS)."
            )
        tls = parts.scheme == "mqtts"
        return cls(
            host=parts.hostname,
            port=parts.port or (8883 if tls else 1883),
            tls=tls,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
        )


def topic_fields(pattern: str, topic: str) -> tuple[str, str] | None:
    """Return (source name, station code) of a topic matching the pattern's two `+`, or None."""
    wanted, levels = pattern.split("/"), topic.split("/")
    if len(wanted) != len(levels):
        return None
    values = []
    for want, level in zip(wanted, levels, strict=True):
        if want == "+":
            values.append(level)
        elif want != level:
            return None
    if len(values) != 2 or not all(values):
        return None
    return values[0], values[1]


def _database_away() -> bool:
    """Return whether the exception being handled says the database cannot be reached."""
    error = sys.exc_info()[1]
    return isinstance(error, OperationalError | InterfaceError)


class Subscriber:
    """Subscribe to the sensor topics and write what arrives; count and log what cannot be."""

    def __init__(
        self,
        *,
        url: str,
        topic: str,
        flush_s: float = 0.5,
        flush_messages: int = 2000,
        client_id: str = "",
    ) -> None:
        if topic.count("+") != 2 or "#" in topic:
            raise ValueError(
                f"SENSORS_MQTT_TOPIC {topic!r} needs exactly two '+' levels (source, station) "
                "and no '#', e.g. hue/sensors/+/+."
            )
        self.broker = Broker.from_url(url)
        self.topic = topic
        self.flush_s = flush_s
        self.flush_messages = flush_messages
        self.inbox: queue.Queue[tuple[str, bytes]] = queue.Queue()
        self.counts: Counter[str] = Counter()
        self.connected = threading.Event()
        # Set once the broker has granted the subscription (cleared on a disconnect).
        self.subscribed = threading.Event()
        self._last_summary = time.monotonic()
        self.persistent = bool(client_id)
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=client_id,
            clean_session=not self.persistent,
        )
        if self.broker.username:
            self.client.username_pw_set(self.broker.username, self.broker.password)
        if self.broker.tls:
            self.client.tls_set()
        self.client.reconnect_delay_set(min_delay=1, max_delay=30)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self.client.on_subscribe = self._on_subscribe

    # paho's thread: only queue and note.
    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            logger.warning("MQTT broker refused the connection: %s", reason_code)
            return
        client.subscribe(self.topic, qos=1)
        self.connected.set()
        logger.info(
            "MQTT connected to %s:%s, subscribed to %s (%s session)",
            *self._where(),
            self.topic,
            "resumed" if flags.session_present else "persistent" if self.persistent else "clean",
        )

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties) -> None:
        if any(code.is_failure for code in reason_codes):
            logger.warning("MQTT broker refused the subscription to %s", self.topic)
            return
        self.subscribed.set()
        logger.info("MQTT subscription to %s granted", self.topic)

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        self.connected.clear()
        self.subscribed.clear()
        logger.warning("MQTT disconnected (%s); reconnecting", reason_code)

    def _on_message(self, client, userdata, message) -> None:
        self.inbox.put((message.topic, message.payload))

    def _where(self) -> tuple[str, int]:
        return self.broker.host, self.broker.port

    def start(self) -> None:
        """Connect in the background (paho keeps reconnecting until `stop`)."""
        self.client.connect_async(self.broker.host, self.broker.port, keepalive=30)
        self.client.loop_start()

    def stop(self) -> None:
        """Disconnect and write what is still queued."""
        self.client.disconnect()
        self.client.loop_stop()
        while not self.inbox.empty():
            self.run_once(timeout_s=0)

    def run_once(self, *, timeout_s: float | None = None) -> int:
        """Take the messages that arrive within `timeout_s` (at most `flush_messages`) and
        write them; return how many messages were taken."""
        timeout_s = self.flush_s if timeout_s is None else timeout_s
        deadline = time.monotonic() + timeout_s
        messages: list[tuple[str, bytes]] = []
        while len(messages) < self.flush_messages:
            try:
                messages.append(self.inbox.get(timeout=max(0.0, deadline - time.monotonic())))
            except queue.Empty:
                break
        if messages:
            self.handle(messages)
        self._summary()
        return len(messages)

    def handle(self, messages: list[tuple[str, bytes]]) -> None:
        """Write a batch of (topic, payload); count and log each message that cannot be."""
        self.counts["received"] += len(messages)
        now = timezone.now()
        by_source: dict[str, list[Reading]] = {}
        origins: list[tuple[str, int]] = []  # per reading of the batch: its topic, its index
        refused: list[tuple[str, Refusal]] = []
        for topic, payload in messages:
            fields = topic_fields(self.topic, topic)
            if fields is None:
                self._bad("malformed", topic, "the topic is not <prefix>/<source>/<station>")
                continue
            source_name, station = fields
            try:
                pack = json.loads(payload)
                readings, refusals = parse_senml(pack, now=now, station=station)
            except (ValueError, RecursionError, PayloadError) as error:
                self._bad("malformed", topic, f"not a SenML JSON pack: {error}")
                continue
            refused += [(topic, refusal) for refusal in refusals]
            for reading in readings:
                origins.append((topic, reading.index))
                reading.index = len(origins) - 1
                by_source.setdefault(source_name, []).append(reading)
        sources = {
            source.name: source
            for source in SensorSource.objects.filter(name__in=by_source, active=True)
        }
        for source_name, readings in by_source.items():
            source = sources.get(source_name)
            if source is None:
                for reading in readings:
                    self._bad("unknown", origins[reading.index][0], "no such active source")
                continue
            result = self._write(readings, source)
            if result is None:
                continue
            self.counts["written"] += result.accepted
            self.counts["duplicates"] += result.duplicates
            for refusal in result.rejected:
                topic, index = origins[refusal.index]
                refused.append((topic, Refusal(index, refusal.error)))
        for topic, refusal in refused:
            self._bad("refused", topic, f"record {refusal.index}: {refusal.error}")

    def _write(self, readings: list[Reading], source: SensorSource):
        """Ingest, trying again while the database fails (the messages stay in memory)."""
        while True:
            try:
                return ingest(readings, source=source)
            except Exception:
                if not _database_away():
                    # Not the database: the same batch would fail again. Drop it, loudly.
                    self.counts["write_errors"] += 1
                    logger.exception("Writing %s reading(s) failed: dropped", len(readings))
                    return None
                self.counts["write_failures"] += 1
                logger.exception(
                    "Writing %s reading(s) of source %s failed; trying again in %s s",
                    len(readings),
                    source.name,
                    RETRY_PAUSE_S,
                )
                close_old_connections()
                time.sleep(RETRY_PAUSE_S)

    def _bad(self, kind: str, topic: str, why: str) -> None:
        self.counts[kind] += 1
        logger.warning("MQTT message on %s %s: %s", topic, kind, why)

    def _summary(self) -> None:
        if time.monotonic() - self._last_summary < SUMMARY_EVERY_S:
            return
        self._last_summary = time.monotonic()
        logger.info("MQTT subscriber: %s", dict(self.counts))

    def run_forever(self, stop: threading.Event) -> None:
        """Run until `stop` is set."""
        self.start()
        try:
            while not stop.is_set():
                # As a request would: a connection past CONN_MAX_AGE or broken is replaced.
                close_old_connections()
                self.run_once()
        finally:
            self.stop()
            logger.info("MQTT subscriber stopped: %s", dict(self.counts))
