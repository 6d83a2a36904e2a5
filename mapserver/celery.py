"""The Celery app; workers run every slow job (imports, tile seeding, exports).

Each kind of work has its own queue, so a long seed never delays an import: `imports`, `tiles`,
`exports` and `default` (housekeeping). Tasks are routed by name (`TASK_QUEUES`); queue names carry
`CELERY_QUEUE_PREFIX`, so test runs and several deployments can share one broker.
"""

import logging
import os

from celery import Celery
from celery.signals import worker_ready

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mapserver.settings")

QUEUES = ("imports", "tiles", "exports", "sensors", "default")
# Which queue each task goes to; a task not named here goes to `default`.
TASK_QUEUES = {
    "layers.tasks.import_run": "imports",
    "layers.tasks.tile_job_start": "tiles",
    "layers.tasks.tile_chunk_run": "tiles",
    "layers.tasks.tiles_rebuild": "tiles",
    "layers.tasks.tiles_after_data_change": "tiles",
    "layers.tasks.layer_refresh_stats": "tiles",
    "layers.tasks.export_run": "exports",
    # Evaluation of new observations (thresholds, alerts, anomalies) and partition upkeep.
    "sensors.tasks.evaluate_datastreams": "sensors",
    "sensors.tasks.partitions_maintain": "sensors",
    "sensors.tasks.stale_check": "sensors",
    # Alert messages (e-mail, webhook) go on `default`: a slow mail server never delays evaluation.
    # A layer source's sync reads and writes like an import: on the imports worker.
    "sources.tasks.source_sync": "imports",
}

logger = logging.getLogger(__name__)

app = Celery("mapserver")
app.config_from_object("django.conf:settings", namespace="CELERY")


def queue_name(kind: str) -> str:
    """Return the broker's name of a queue of this kind (`imports`, `tiles`…), with the prefix."""
    from django.conf import settings

    return f"{settings.CELERY_QUEUE_PREFIX}{kind}"


def route_task(name, args, kwargs, options, task=None, **kw) -> dict:
    """Send each task to the queue of its kind (read at send time: tests change the prefix)."""
    return {"queue": queue_name(TASK_QUEUES.get(name, "default"))}


app.conf.task_routes = (route_task,)
app.autodiscover_tasks()

# Request ids in tasks, one log line per task, and Celery's log handlers scrubbed of secrets.
from mapserver.observability import task_signals  # noqa: E402, F401


@worker_ready.connect
def _sweep_at_worker_start(sender=None, **kwargs) -> None:
    """Take back the jobs of a worker that died, and send what waited in the outbox.

    A worker that starts is often the one that replaces a killed one: its jobs are found here
    rather than at the next beat. Failures are logged, never raised: the worker must start.
    """
    from django.db import connections

    from layers import jobs, queueing

    try:
        swept = jobs.jobs_sweep()
        sent = queueing.outbox_flush()
        logger.info("At worker start: swept %s, sent %s outbox task(s)", swept, sent)
    except Exception:
        logger.exception("Sweeping jobs at worker start failed")
    finally:
        connections.close_all()
