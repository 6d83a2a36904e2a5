"""How long observations are kept: each sensor layer's `retention_days`.

Whole monthly partitions are dropped once they are older than the longest retention of all
sensor layers (a DROP frees the space at once, with no dead rows to vacuum). A layer with a
shorter retention has its own older rows deleted, row by row, from the partitions still kept.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from . import partitions
from .models import SensorLayer

logger = logging.getLogger(__name__)

DELETE_LAYER_SQL = """
DELETE FROM sensors_observation o
USING sensors_datastream d, sensors_station s
WHERE o.datastream_id = d.id AND d.station_id = s.id AND s.layer_id = %s AND o.time < %s
"""


def maintain(*, now: datetime | None = None) -> dict:
    """Make the partitions ahead, drop those past every retention, trim shorter retentions."""
    now = now or timezone.now()
    made = partitions.ensure_ahead(months_ahead=settings.SENSORS_PARTITIONS_AHEAD_MONTHS, now=now)
    retentions = dict(SensorLayer.objects.values_list("layer_id", "retention_days"))
    dropped: list[str] = []
    deleted = 0
    if retentions:
        longest = max(retentions.values())
        dropped = partitions.drop_before(now - timedelta(days=longest))
        for layer_id, days in sorted(retentions.items()):
            if days == longest:
                continue
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(DELETE_LAYER_SQL, [layer_id, now - timedelta(days=days)])
                deleted += cursor.rowcount
    summary = {"made": made, "dropped": dropped, "deleted": deleted}
    if made or dropped or deleted:
        logger.info("Observation partitions: %s", summary)
    return summary
