"""`manage.py sensors_subscribe`: run the MQTT subscriber of sensor layers until stopped."""

import signal
import threading

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from sensors.mqtt import Subscriber


class Command(BaseCommand):
    help = (
        "Subscribe to SENSORS_MQTT_TOPIC on SENSORS_MQTT_URL and write the SenML readings that "
        "arrive (exits at once when no broker is set)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--url", default=None, help="broker URL (default SENSORS_MQTT_URL)")
        parser.add_argument("--topic", default=None, help="default SENSORS_MQTT_TOPIC")

    def handle(self, *args, url=None, topic=None, **options):
        url = url or settings.SENSORS_MQTT_URL
        if not url:
            self.stdout.write("SENSORS_MQTT_URL is empty: no MQTT subscriber to run.")
            return
        try:
            subscriber = Subscriber(
                url=url,
                topic=topic or settings.SENSORS_MQTT_TOPIC,
                flush_s=settings.SENSORS_MQTT_FLUSH_S,
                flush_messages=settings.SENSORS_MQTT_FLUSH_MESSAGES,
                client_id=settings.SENSORS_MQTT_CLIENT_ID,
            )
        except ValueError as error:
            raise CommandError(str(error)) from None
        stop = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
        self.stdout.write(f"Subscribing to {subscriber.topic} on {url.split('@')[-1]}")
        subscriber.run_forever(stop)
