"""`manage.py sensors_detect --layer SLUG [--since ISO] [--until ISO]`: detectors over a history."""

from datetime import datetime, timedelta

from django.core.management.base import BaseCommand, CommandError
from django.db.models import Max, Min
from django.utils import timezone

from sensors.evaluation import EvaluationResult, evaluate_datastreams
from sensors.models import Datastream, Observation, SensorLayer

CHUNK = timedelta(days=7)


def _instant(raw: str | None, name: str) -> datetime | None:
    if not raw:
        return None
    try:
        at = datetime.fromisoformat(raw)
    except ValueError:
        raise CommandError(
            f"--{name} must be an ISO 8601 time, e.g. 2026-10-01 or 2026-10-01T00:00:00+07:00"
        ) from None
    return timezone.make_aware(at) if at.tzinfo is None else at


class Command(BaseCommand):
    help = (
        "Run the anomaly detectors over the stored history of a sensor layer's datastreams, a "
        "week at a time (anomalies already stored are merged, not duplicated). With "
        "--thresholds, also walk the thresholds over readings not checked yet (alerts of the "
        "past open and close without messages)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--layer", required=True, help="slug of the sensor layer")
        parser.add_argument("--since", help="first instant (default: the oldest reading)")
        parser.add_argument("--until", help="last instant, excluded (default: now)")
        parser.add_argument("--station", help="only this station's code")
        parser.add_argument("--property", help="only this property's code")
        parser.add_argument("--thresholds", action="store_true", help="check thresholds too")

    def handle(self, *args, layer, since, until, station, property, thresholds, **options):
        if not SensorLayer.objects.filter(layer__slug=layer).exists():
            raise CommandError(
                f"No sensor layer {layer!r}: give the slug of a layer that has a sensor "
                "configuration (admin → Sensor layers)."
            )
        datastreams = Datastream.objects.filter(station__layer__slug=layer)
        if station:
            datastreams = datastreams.filter(station__code=station)
        if property:
            datastreams = datastreams.filter(property__code=property)
        ids = list(datastreams.values_list("pk", flat=True))
        if not ids:
            raise CommandError("No datastream matches: check --station and --property.")
        span = Observation.objects.filter(datastream_id__in=ids).aggregate(
            first=Min("time"), last=Max("time")
        )
        if span["first"] is None:
            self.stdout.write("No readings to look at.")
            return
        start = _instant(since, "since") or span["first"]
        end = _instant(until, "until") or span["last"] + timedelta(seconds=1)
        if end <= start:
            raise CommandError("--until must come after --since.")
        total = EvaluationResult()
        chunk_start = start
        while chunk_start < end:
            chunk_end = min(chunk_start + CHUNK, end)
            total.add(
                evaluate_datastreams(
                    datastream_ids=ids, since=chunk_start, until=chunk_end, thresholds=thresholds
                )
            )
            chunk_start = chunk_end
        counts = total.as_dict()
        counts["datastreams"] = len(ids)
        self.stdout.write(", ".join(f"{name}: {value}" for name, value in counts.items()))
