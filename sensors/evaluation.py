"""Evaluation of new observations: thresholds open and close alerts, detectors find anomalies.

`evaluate_datastreams` is what the `sensors.tasks.evaluate_datastreams` task runs after each
ingested batch (and `manage.py sensors_detect` over a whole history). Per datastream, in one
transaction holding an advisory lock on it (two workers never evaluate one datastream at once):

1. the detectors (sensors/detectors.py) run over the new readings with enough readings before them
   (2 days, or the seasonal baseline's days); what they find is merged into the stored anomalies
   (an anomaly that grows is extended, not duplicated) and its readings get flag 1 (suspect),
   unless staff dismissed it;
2. the thresholds are walked over the readings not checked yet (`EvaluationCursor`), skipping
   suspect and bad ones: a reading at or past a level opens an alert (one per level), the peak
   is kept, a reading back past the level by its hysteresis closes it;
3. `Latest.state` becomes alarm, warning, anomalous (the latest reading is suspect) or normal.

Re-evaluating a range already seen opens no alert and stores no anomaly twice. Alert events are
notified (sensors/notifications.py) only when recent: walking an old history opens and closes
its alerts quietly.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Max, Q
from django.utils import timezone

from . import notifications
from .detectors import DetectorParams, Finding, detect, params_for_property
from .explanations import explain_in_english
from .models import Datastream, Latest, Observation, ObservedProperty, Station
from .models_alerts import Alert, Anomaly, EvaluationCursor, Severity, Threshold

logger = logging.getLogger(__name__)

# First key of pg_advisory_xact_lock(int, int): "sensors evaluation"; the second is the datastream.
LOCK_NAMESPACE = 1515
CONTEXT = timedelta(days=2)
FLAG_GOOD, FLAG_SUSPECT = 0, 1


@dataclass
class EvaluationResult:
    datastreams: int = 0
    anomalies_new: int = 0
    anomalies_extended: int = 0
    alerts_opened: int = 0
    alerts_closed: int = 0
    flagged: int = 0
    events: list = field(default_factory=list, repr=False)

    def add(self, other: EvaluationResult) -> None:
        for name in ("datastreams", "anomalies_new", "anomalies_extended", "alerts_opened"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.alerts_closed += other.alerts_closed
        self.flagged += other.flagged

    def as_dict(self) -> dict:
        return {
            "datastreams": self.datastreams,
            "anomalies_new": self.anomalies_new,
            "anomalies_extended": self.anomalies_extended,
            "alerts_opened": self.alerts_opened,
            "alerts_closed": self.alerts_closed,
            "flagged": self.flagged,
        }


def detector_params(prop: ObservedProperty) -> DetectorParams:
    """Return the detector parameters of a property (its profile and SENSORS_DETECTORS)."""
    offset = datetime.now(ZoneInfo(settings.TIME_ZONE)).utcoffset() or timedelta(0)
    overrides = {"tz_offset_s": offset.total_seconds()}
    overrides.update(settings.SENSORS_DETECTORS.get(prop.code, {}))
    return params_for_property(
        prop.code,
        physical_min=prop.physical_min,
        physical_max=prop.physical_max,
        seasonal=prop.seasonal,
        overrides=overrides,
    )


def evaluate_datastreams(
    *,
    datastream_ids: list[int],
    since: datetime,
    until: datetime | None = None,
    now: datetime | None = None,
    thresholds: bool = True,
) -> EvaluationResult:
    """Evaluate the observations of these datastreams from `since` (to `until`).

    One transaction for them all (a commit per datastream cost more than evaluating one new
    reading), their locks taken in id order so two tasks never wait on each other in a circle.
    """
    now = now or timezone.now()
    total = EvaluationResult()
    datastreams = (
        Datastream.objects.filter(pk__in=datastream_ids)
        .select_related("property", "station__layer__sensor_config")
        .order_by("pk")
    )
    with transaction.atomic():
        for datastream in datastreams:
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT pg_advisory_xact_lock(%s, %s)", [LOCK_NAMESPACE, datastream.pk]
                )
            result = evaluate_datastream(
                datastream, since=since, until=until, now=now, thresholds=thresholds
            )
            total.add(result)
    return total


def evaluate_datastream(
    datastream: Datastream,
    *,
    since: datetime,
    until: datetime | None = None,
    now: datetime,
    thresholds: bool = True,
) -> EvaluationResult:
    """Evaluate one datastream (the caller holds its lock, in a transaction)."""
    result = EvaluationResult(datastreams=1)
    params = detector_params(datastream.property)
    _detect(datastream, params, since=since, until=until, result=result)
    if thresholds:
        _walk_thresholds(datastream, since=since, now=now, result=result)
        _close_stale(datastream, now=now, result=result)
    latest_state_update(datastream)
    return result


# Times as whole microseconds since the epoch: exact both ways, and ~10 times cheaper to load than
# datetimes (a seasonal datastream loads 15 days of readings at each evaluation).
SERIES_SQL = """
SELECT (extract(epoch FROM time) * 1000000)::bigint, value
FROM sensors_observation
WHERE datastream_id = %s AND time >= %s AND (%s::timestamptz IS NULL OR time < %s)
ORDER BY time
"""
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _series(datastream: Datastream, start: datetime, until: datetime | None):
    with connection.cursor() as cursor:
        cursor.execute(SERIES_SQL, [datastream.pk, start, until, until])
        rows = cursor.fetchall()
    micros = np.array([row[0] for row in rows], dtype=np.int64)
    values = np.array([row[1] for row in rows], dtype=np.float64)
    return micros, values


def _detect(
    datastream: Datastream,
    params: DetectorParams,
    *,
    since: datetime,
    until: datetime | None,
    result: EvaluationResult,
) -> None:
    context = timedelta(days=params.seasonal_days + 1) if params.seasonal else CONTEXT
    micros, values = _series(datastream, since - context, until)
    if not len(micros):
        return
    times_s = micros / 1e6
    first_new = int(np.searchsorted(times_s, since.timestamp()))
    # The last readings before `since` could not be judged as spikes then (too few after them).
    evaluate_from = times_s[max(0, first_new - params.spike_right - 1)] if first_new else None
    for finding in detect(times_s, values, params, evaluate_from_s=evaluate_from):
        # The exact times of the readings it starts and ends at (floats only approximate them).
        first = int(np.searchsorted(times_s, finding.start_s - 1e-3))
        last = int(np.searchsorted(times_s, finding.end_s - 1e-3))
        start = EPOCH + timedelta(microseconds=int(micros[first]))
        end = EPOCH + timedelta(microseconds=int(micros[last]))
        _store(datastream, finding, start, end, result)


def _store(
    datastream: Datastream,
    finding: Finding,
    start: datetime,
    end: datetime,
    result: EvaluationResult,
) -> None:
    overlapping = list(
        Anomaly.objects.filter(
            datastream=datastream, kind=finding.kind, time_start__lte=end, time_end__gte=start
        ).order_by("time_start")
    )
    if overlapping:
        anomaly = overlapping[0]
        grown = start < anomaly.time_start or end > anomaly.time_end
        # Two stretches found apart and now joined become one (unless staff reviewed the other).
        for other in overlapping[1:]:
            if other.status == Anomaly.Status.NEW:
                start, end = min(start, other.time_start), max(end, other.time_end)
                other.delete()
                grown = True
        if grown or finding.score > anomaly.score:
            anomaly.time_start = min(anomaly.time_start, start)
            anomaly.time_end = max(anomaly.time_end, end)
            anomaly.score = max(anomaly.score, finding.score)
            anomaly.explanation = explain_in_english(finding.kind, finding.details)
            anomaly.details = finding.details
            anomaly.save()
            result.anomalies_extended += 1
    else:
        anomaly = Anomaly.objects.create(
            datastream=datastream,
            kind=finding.kind,
            time_start=start,
            time_end=end,
            score=finding.score,
            explanation=explain_in_english(finding.kind, finding.details),
            details=finding.details,
        )
        result.anomalies_new += 1
    if anomaly.status != Anomaly.Status.DISMISSED and finding.indices:
        result.flagged += observations_flag(
            datastream_id=datastream.pk, start=anomaly.time_start, end=anomaly.time_end
        )


def observations_flag(*, datastream_id: int, start: datetime, end: datetime) -> int:
    """Mark a datastream's good observations in [start, end] suspect; return how many."""
    return Observation.objects.filter(
        datastream_id=datastream_id, time__gte=start, time__lte=end, flag=FLAG_GOOD
    ).update(flag=FLAG_SUSPECT)


def thresholds_for(datastream: Datastream) -> list[Threshold]:
    """Return the active thresholds of a datastream: its own, and its property's other levels."""
    rows = Threshold.objects.filter(active=True, property_id=datastream.property_id).filter(
        Q(datastream__isnull=True) | Q(datastream=datastream)
    )
    by_level: dict[str, Threshold] = {}
    for threshold in rows.order_by("datastream_id"):  # the datastream's own last: it wins
        if threshold.datastream_id is None and threshold.level in by_level:
            continue
        by_level[threshold.level] = threshold
    return sorted(by_level.values(), key=lambda t: t.value)


def _walk_thresholds(
    datastream: Datastream, *, since: datetime, now: datetime, result: EvaluationResult
) -> None:
    cursor, _ = EvaluationCursor.objects.get_or_create(datastream=datastream)
    rows = Observation.objects.filter(datastream=datastream)
    if cursor.thresholds_until is not None:
        rows = rows.filter(time__gt=cursor.thresholds_until)
    else:
        rows = rows.filter(time__gte=since)
    readings = list(rows.order_by("time").values_list("time", "value", "flag"))
    levels = thresholds_for(datastream)
    open_alerts = {
        alert.threshold_id: alert
        for alert in Alert.objects.filter(
            datastream=datastream, kind=Alert.Kind.THRESHOLD, closed_at__isnull=True
        )
    }
    active_ids = {threshold.pk for threshold in levels}
    for threshold_id, alert in list(open_alerts.items()):
        if threshold_id not in active_ids:  # the level was removed or deactivated
            last = readings[-1] if readings else None
            _close(alert, at=last[0] if last else now, value=last[1] if last else None)
            result.alerts_closed += 1
            _notify(alert, notifications.EVENT_CLOSED, now=now, at=alert.closed_at)
            del open_alerts[threshold_id]
    changed: dict[int, Alert] = {}
    for at, value, flag in readings:
        if flag != FLAG_GOOD:
            continue
        for threshold in levels:
            alert = open_alerts.get(threshold.pk)
            if alert is None:
                if threshold.crossed_by(value):
                    alert = _open(datastream, threshold, at=at, value=value)
                    open_alerts[threshold.pk] = alert
                    result.alerts_opened += 1
                    _notify(alert, notifications.EVENT_OPENED, now=now, at=at)
                continue
            if _beyond(threshold, value, alert.peak_value):
                alert.peak_value, alert.peak_at = value, at
                changed[alert.pk] = alert
            if threshold.cleared_by(value):
                _close(alert, at=at, value=value)
                del open_alerts[threshold.pk]
                changed.pop(alert.pk, None)
                result.alerts_closed += 1
                _notify(alert, notifications.EVENT_CLOSED, now=now, at=at)
    for alert in changed.values():
        alert.save(update_fields=["peak_value", "peak_at"])
    if readings:
        cursor.thresholds_until = readings[-1][0]
        cursor.save()


def _beyond(threshold: Threshold, value: float, peak: float | None) -> bool:
    if peak is None:
        return True
    return value > peak if threshold.direction == Threshold.Direction.ABOVE else value < peak


def _open(datastream: Datastream, threshold: Threshold, *, at: datetime, value: float) -> Alert:
    return Alert.objects.create(
        kind=Alert.Kind.THRESHOLD,
        station_id=datastream.station_id,
        datastream=datastream,
        threshold=threshold,
        level=threshold.level,
        severity=threshold.severity,
        threshold_value=threshold.value,
        opened_at=at,
        opened_value=value,
        peak_value=value,
        peak_at=at,
    )


def _close(alert: Alert, *, at: datetime, value: float | None) -> None:
    alert.closed_at, alert.closed_value = at, value
    alert.save(update_fields=["closed_at", "closed_value", "peak_value", "peak_at"])


def _notify(alert: Alert, event: str, *, now: datetime, at: datetime) -> None:
    max_age = timedelta(seconds=settings.SENSORS_ALERT_NOTIFY_MAX_AGE_S)
    if at >= now - max_age:
        notifications.alert_event(alert=alert, event=event)


def _close_stale(datastream: Datastream, *, now: datetime, result: EvaluationResult) -> None:
    """Close the station's stale alert as soon as a reading newer than the limit arrives."""
    alert = Alert.objects.filter(
        station_id=datastream.station_id, kind=Alert.Kind.STALE, closed_at__isnull=True
    ).first()
    if alert is None:
        return
    layer_config = getattr(datastream.station.layer, "sensor_config", None)
    if layer_config is None:
        return
    latest = Latest.objects.filter(datastream=datastream).first()
    if latest is None or latest.time < now - layer_config.stale_after:
        return
    _close(alert, at=latest.time, value=None)
    result.alerts_closed += 1
    notifications.alert_event(alert=alert, event=notifications.EVENT_CLOSED)


LATEST_FLAG_SQL = """
UPDATE sensors_latest l SET flag = o.flag
FROM sensors_observation o
WHERE l.datastream_id = %s AND o.datastream_id = l.datastream_id AND o.time = l.time
  AND l.flag IS DISTINCT FROM o.flag
"""


def latest_state_update(datastream: Datastream) -> str | None:
    """Set the datastream's Latest flag (from its observation) and state; return the state."""
    with connection.cursor() as cursor:
        cursor.execute(LATEST_FLAG_SQL, [datastream.pk])
    latest = Latest.objects.filter(datastream=datastream).first()
    if latest is None:
        return None
    open_alerts = list(
        Alert.objects.filter(
            datastream=datastream, kind=Alert.Kind.THRESHOLD, closed_at__isnull=True
        )
    )
    state, since = Latest.State.NORMAL, latest.time
    for severity in (Severity.ALARM, Severity.WARNING):
        opened = [a.opened_at for a in open_alerts if a.severity == severity]
        if opened:
            state, since = severity.value, min(opened)
            break
    else:
        if latest.flag != FLAG_GOOD:
            state = Latest.State.ANOMALOUS
        else:
            closed = (
                Alert.objects.filter(datastream=datastream, closed_at__isnull=False)
                .order_by("-closed_at")
                .values_list("closed_at", flat=True)
                .first()
            )
            if closed is not None and closed <= latest.time:
                since = closed
    if state != latest.state or latest.state_since is None:
        Latest.objects.filter(pk=latest.pk).update(state=state, state_since=since)
    return state


def stale_check(*, now: datetime | None = None) -> dict:
    """Open a stale alert for each station silent past its layer's limit; close returned ones.

    A station is silent when its newest reading (over its datastreams) is older than its layer's
    `stale_after`; one that never reported is not judged. The alert opens at the moment the
    station became stale (newest reading + limit) and closes at its next reading.
    """
    now = now or timezone.now()
    stations = (
        Station.objects.filter(active=True, layer__sensor_config__isnull=False)
        .select_related("layer__sensor_config")
        .annotate(newest=Max("datastreams__latest__time"))
        .filter(newest__isnull=False)
    )
    open_stale = {
        alert.station_id: alert
        for alert in Alert.objects.filter(kind=Alert.Kind.STALE, closed_at__isnull=True)
    }
    opened = closed = 0
    for station in stations:
        limit = station.layer.sensor_config.stale_after
        silent = station.newest < now - limit
        alert = open_stale.get(station.pk)
        with transaction.atomic():
            if silent and alert is None:
                alert = Alert.objects.create(
                    kind=Alert.Kind.STALE,
                    station=station,
                    level="stale",
                    severity=Severity.WARNING,
                    opened_at=station.newest + limit,
                )
                notifications.alert_event(alert=alert, event=notifications.EVENT_OPENED)
                opened += 1
            elif not silent and alert is not None:
                _close(alert, at=station.newest, value=None)
                notifications.alert_event(alert=alert, event=notifications.EVENT_CLOSED)
                closed += 1
    return {"opened": opened, "closed": closed}
