"""Load the demo layers of Huế: real fixtures and deterministic sample data (idempotent)."""

import time

from django.core.management.base import BaseCommand, CommandError

from layers.demo.load import DemoDataError, LayerAction, LayerOutcome, demo_load, demo_prune
from sensors.demo import LAYER_SLUG as SENSOR_DEMO_SLUG
from sensors.demo import demo_sensors_load


class Command(BaseCommand):
    help = (
        "Create or update the demo categories and layers of Huế. Layers are matched by slug; a "
        "layer whose data has not changed is left as it is, and no other layer is touched."
    )

    def add_arguments(self, parser):
        parser.add_argument("slugs", nargs="*", help="Load only these demo layers.")
        parser.add_argument(
            "--sensors",
            action="store_true",
            help=(
                f"Also load the sensor demo ({SENSOR_DEMO_SLUG}: stations, thresholds and 30 days "
                "of readings up to now; sensors/demo.py). Naming the slug loads it too."
            ),
        )
        parser.add_argument(
            "--prune",
            action="store_true",
            help="Also delete the demo layers the catalogue no longer lists (never other layers).",
        )

    def handle(
        self, *args, slugs: list[str], prune: bool, sensors: bool, verbosity: int, **options
    ) -> None:
        started = time.perf_counter()
        self.verbosity = verbosity
        report = self._report if verbosity > 0 else None
        # The sensor layer is the sensors app's own (sensors/demo.py), loaded after the others
        # when asked for: its history is 125,000 readings (`make demo` asks).
        wants_sensors = sensors or SENSOR_DEMO_SLUG in slugs
        others = [slug for slug in slugs if slug != SENSOR_DEMO_SLUG]
        try:
            outcomes = demo_load(slugs=others or None, report=report) if others or not slugs else []
            if wants_sensors:
                demo_sensors_load(report=self.stdout.write if verbosity > 0 else None)
        except (DemoDataError, LookupError) as error:
            raise CommandError(str(error)) from error
        if prune:
            for slug in demo_prune():
                if verbosity > 0:
                    self.stdout.write(f"{slug:<28} deleted (no longer in the catalogue)")
        if verbosity > 0:
            loaded = sum(o.action == LayerAction.LOADED for o in outcomes)
            self.stdout.write(
                self.style.SUCCESS(
                    f"{len(outcomes)} demo layers: {loaded} loaded, "
                    f"{len(outcomes) - loaded} unchanged or skipped "
                    f"({time.perf_counter() - started:.1f} s)"
                )
            )

    def _report(self, outcome: LayerOutcome) -> None:
        line = f"{outcome.slug:<28} {outcome.feature_count:>6} features  {outcome.action}"
        if self.verbosity > 1:
            line += f"  ({outcome.seconds:.2f} s)"
        self.stdout.write(line)
