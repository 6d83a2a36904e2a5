"""`manage.py sensors_demo_publish`: publish the demo stations' live readings over MQTT."""

import signal
import threading

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from sensors.publisher import DemoPublisher


class Command(BaseCommand):
    help = (
        "Publish a SenML pack of new readings for each demo station (loaddemo --sensors) every "
        "few seconds to SENSORS_MQTT_URL, on the SENSORS_MQTT_TOPIC pattern with the source "
        "'demo' (exits at once when no broker is set)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--url", default=None, help="broker URL (default SENSORS_MQTT_URL)")
        parser.add_argument("--topic", default=None, help="default SENSORS_MQTT_TOPIC")
        parser.add_argument(
            "--every", type=float, default=5.0, help="seconds between rounds (default 5)"
        )
        parser.add_argument("--once", action="store_true", help="publish one round and exit")

    def handle(self, *args, url=None, topic=None, every: float, once: bool, **options):
        url = url or settings.SENSORS_MQTT_URL
        if not url:
            self.stdout.write("SENSORS_MQTT_URL is empty: no broker to publish the demo to.")
            return
        if every <= 0:
            raise CommandError(f"--every must be more than 0 seconds, not {every}.")
        try:
            publisher = DemoPublisher(
                url=url, topic=topic or settings.SENSORS_MQTT_TOPIC, every_s=every
            )
        except ValueError as error:
            raise CommandError(str(error)) from None
        host = url.split("@")[-1]
        if once:
            try:
                publisher.connect()
            except OSError as error:
                raise CommandError(f"Cannot reach the MQTT broker at {host}: {error}") from None
            try:
                count = publisher.publish_round()
            finally:
                publisher.close()
            self.stdout.write(f"Published {count} demo packs to {host}")
            return
        stop = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
        self.stdout.write(f"Publishing demo readings every {every:g} s to {host}")
        publisher.run_forever(stop)
