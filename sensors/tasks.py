"""Celery tasks of the sensors app: each loads what it needs and calls a service.

Partition upkeep and retention run on the `sensors` queue from celery beat. The evaluation of new
observations (`evaluate_datastreams`: thresholds, alerts, anomalies) is queued by ingestion.
"""

from __future__ import annotations

from celery import shared_task


@shared_task(name="sensors.tasks.partitions_maintain")
def partitions_maintain() -> dict:
    """Make next months' observation partitions and apply every layer's retention."""
    from . import retention

    return retention.maintain()


@shared_task(name="sensors.tasks.evaluate_datastreams")
def evaluate_datastreams(datastream_ids: list[int], since: str) -> dict:
    """Check thresholds and run the anomaly detectors on these datastreams from `since` (ISO)."""
    from datetime import datetime

    from . import evaluation

    result = evaluation.evaluate_datastreams(
        datastream_ids=datastream_ids, since=datetime.fromisoformat(since)
    )
    return result.as_dict()


@shared_task(name="sensors.tasks.stale_check")
def stale_check() -> dict:
    """Open stale alerts for silent stations and close those of stations reporting again."""
    from . import evaluation

    return evaluation.stale_check()


@shared_task(name="sensors.tasks.alert_notify")
def alert_notify(notification_id: int) -> str:
    """Send one alert notification (e-mail or webhook); return its status."""
    from . import notifications

    return notifications.notification_send(notification_id=notification_id)


@shared_task(name="sensors.tasks.notifications_retry")
def notifications_retry() -> int:
    """Queue again the alert notifications whose retry is due; return how many."""
    from . import notifications

    return notifications.notifications_retry()
