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
