"""Staff review of anomalies (confirm / dismiss) and acknowledgement of alerts.

Confirming an anomaly keeps its observations flagged suspect (flag 1); dismissing it clears the
flag of those not covered by another anomaly still standing, so a false alarm stops colouring the
station. Either way who and when are recorded; a decision can be changed later.
"""

from __future__ import annotations

from django.db import connection, transaction
from django.utils import timezone

from layers.errors import InvalidParameter

from .evaluation import latest_state_update, observations_flag
from .models_alerts import Alert, Anomaly

DECISIONS = {"confirm": Anomaly.Status.CONFIRMED, "dismiss": Anomaly.Status.DISMISSED}

# The suspect readings of a dismissed anomaly that no other standing anomaly covers.
UNFLAG_SQL = """
UPDATE sensors_observation o SET flag = 0
WHERE o.datastream_id = %(datastream)s AND o.time BETWEEN %(start)s AND %(end)s AND o.flag = 1
  AND NOT EXISTS (
    SELECT 1 FROM sensors_anomaly a
    WHERE a.datastream_id = o.datastream_id AND a.id <> %(anomaly)s AND a.kind <> 'gap'
      AND a.status <> 'dismissed' AND o.time BETWEEN a.time_start AND a.time_end
  )
"""


@transaction.atomic
def anomaly_review(*, anomaly: Anomaly, decision: str, user) -> Anomaly:
    """Confirm or dismiss an anomaly as `user`; set its observations' flags to match."""
    status = DECISIONS.get(decision)
    if status is None:
        raise InvalidParameter(
            f"decision must be one of {', '.join(DECISIONS)}, not {decision!r}.",
            parameter="decision",
        )
    anomaly.status = status
    anomaly.reviewed_by = user
    anomaly.reviewed_at = timezone.now()
    anomaly.save(update_fields=["status", "reviewed_by", "reviewed_at", "updated_at"])
    if anomaly.kind != Anomaly.Kind.GAP:
        if status == Anomaly.Status.CONFIRMED:
            observations_flag(
                datastream_id=anomaly.datastream_id,
                start=anomaly.time_start,
                end=anomaly.time_end,
            )
        else:
            with connection.cursor() as cursor:
                cursor.execute(
                    UNFLAG_SQL,
                    {
                        "datastream": anomaly.datastream_id,
                        "start": anomaly.time_start,
                        "end": anomaly.time_end,
                        "anomaly": anomaly.pk,
                    },
                )
    latest_state_update(anomaly.datastream)
    return anomaly


@transaction.atomic
def alert_acknowledge(*, alert: Alert, user) -> Alert:
    """Record that `user` has seen an alert (the first acknowledgement is kept)."""
    if alert.acknowledged_at is None:
        alert.acknowledged_by = user
        alert.acknowledged_at = timezone.now()
        alert.save(update_fields=["acknowledged_by", "acknowledged_at"])
    return alert
