"""Figures read when Prometheus asks: Celery queue depths from Redis, slow jobs from PostgreSQL.

Read at scrape time rather than counted by the workers: the broker and the job rows already
know, whatever process (or machine) did the work, and a worker that died cannot lose its counts.
Each source answers or is reported down (`mapserver_dependency_up`) without failing the scrape.

Jobs are every model of `JOB_KINDS`; a new kind of slow work (source syncs, say) that keeps its
state in a `layers.models.Job` subclass gets every job metric by adding one entry here.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import timedelta
from functools import cache

import redis
from django.conf import settings
from django.db.models import Count, DurationField, ExpressionWrapper, F, Min, Q, Sum
from django.utils import timezone
from kombu.transport.redis import PRIORITY_STEPS, Channel
from prometheus_client.core import GaugeHistogramMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from layers.middleware import DATABASE_ERRORS
from layers.models import ExportJob, ImportJob, JobStatus, QueuedTask, TileJob

logger = logging.getLogger(__name__)

JOB_KINDS = {"import": ImportJob, "tile": TileJob, "export": ExportJob}
ACTIVE = (JobStatus.QUEUED, JobStatus.RUNNING)
ENDED = (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED)
TIMED = (JobStatus.SUCCEEDED, JobStatus.FAILED)  # a job cancelled before it started has no time
# From a small export (seconds) to a city-wide import or a deep seed (hours).
JOB_BUCKETS_S = (1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600)
REDIS_TIMEOUT_S = 2


@cache
def _redis(url: str) -> redis.Redis:
    """Return a client of the broker (one connection pool per process)."""
    return redis.Redis.from_url(
        url, socket_timeout=REDIS_TIMEOUT_S, socket_connect_timeout=REDIS_TIMEOUT_S
    )


def _priority_lists(queue: str) -> list[str]:
    """Return the Redis lists of a queue: kombu keeps one per priority step besides the first."""
    return [queue] + [f"{queue}{Channel.sep}{step}" for step in PRIORITY_STEPS if step]


def queue_depths() -> dict[str, int]:
    """Return how many messages wait in each Celery queue, by kind (`imports`, `tiles`…)."""
    from mapserver.celery import QUEUES, queue_name

    client = _redis(settings.CELERY_BROKER_URL)
    lists = {kind: _priority_lists(queue_name(kind)) for kind in QUEUES}
    with client.pipeline(transaction=False) as pipe:
        for names in lists.values():
            for name in names:
                pipe.llen(name)
        sizes = iter(pipe.execute())
    return {kind: sum(next(sizes) for _ in names) for kind, names in lists.items()}


def _job_figures(model, *, since) -> dict:
    """Return one kind of job's figures in one query: active counts, recent ends and durations."""
    duration = ExpressionWrapper(F("finished_at") - F("started_at"), output_field=DurationField())
    recent = Q(finished_at__gte=since)
    figures = {f"active_{status}": Count("pk", filter=Q(status=status)) for status in ACTIVE}
    figures["oldest_queued"] = Min("created_at", filter=Q(status=JobStatus.QUEUED))
    for status in ENDED:
        figures[f"ended_{status}"] = Count("pk", filter=recent & Q(status=status))
    for status in TIMED:
        timed = recent & Q(status=status, started_at__isnull=False)
        figures[f"count_{status}"] = Count("pk", filter=timed)
        figures[f"sum_{status}"] = Sum("duration", filter=timed)
        for number, bound_s in enumerate(JOB_BUCKETS_S):
            within = Q(duration__lte=timedelta(seconds=bound_s))
            figures[f"le{number}_{status}"] = Count("pk", filter=timed & within)
    rows = model.objects.filter(Q(status__in=ACTIVE) | recent).annotate(duration=duration)
    return rows.aggregate(**figures)


class ScrapeTimeCollector(Collector):
    """Queue depths and job figures, read from Redis and PostgreSQL at each scrape."""

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily(
            "mapserver_dependency_up",
            "Whether a source of the scrape-time figures answered (1) or not (0).",
            labels=["dependency"],
        )
        yield from self._queues(up)
        yield from self._jobs(up)
        yield up

    def _queues(self, up: GaugeMetricFamily) -> Iterator[Metric]:
        if not settings.CELERY_BROKER_URL.startswith(("redis://", "rediss://", "unix://")):
            return  # lengths are read from Redis lists only
        try:
            depths = queue_depths()
        except redis.RedisError as error:
            logger.warning("Metrics: the broker did not answer (%s)", error)
            up.add_metric(["broker"], 0)
            return
        up.add_metric(["broker"], 1)
        family = GaugeMetricFamily(
            "mapserver_celery_queue_messages",
            "Messages waiting in a Celery queue (not yet taken by a worker), by kind of work.",
            labels=["queue"],
        )
        for kind, depth in depths.items():
            family.add_metric([kind], depth)
        yield family

    def _jobs(self, up: GaugeMetricFamily) -> Iterator[Metric]:
        now = timezone.now()
        window_s = settings.METRICS_JOB_WINDOW_S
        try:
            figures = {
                kind: _job_figures(model, since=now - timedelta(seconds=window_s))
                for kind, model in JOB_KINDS.items()
            }
            outbox = QueuedTask.objects.count()
        except DATABASE_ERRORS as error:  # the database is down: say so, give the rest
            logger.warning("Metrics: the database did not answer (%s)", error)
            up.add_metric(["database"], 0)
            return
        up.add_metric(["database"], 1)
        yield GaugeMetricFamily(
            "mapserver_outbox_tasks",
            "Tasks saved but not yet handed to the broker (layers/queueing.py; the broker was "
            "down, or they are being sent).",
            value=outbox,
        )
        active = GaugeMetricFamily(
            "mapserver_jobs_active",
            "Jobs queued or running now, by kind (import, tile, export) and status.",
            labels=["kind", "status"],
        )
        oldest = GaugeMetricFamily(
            "mapserver_job_oldest_queued_age_seconds",
            "How long the oldest queued job of a kind has waited (0 when none waits).",
            labels=["kind"],
        )
        ended = GaugeMetricFamily(
            "mapserver_jobs_ended",
            f"Jobs that ended in the last METRICS_JOB_WINDOW_S ({window_s} s), by kind and "
            "status (succeeded, failed, cancelled): failed imports are kind=import, status=failed.",
            labels=["kind", "status"],
        )
        durations = GaugeHistogramMetricFamily(
            "mapserver_job_duration_seconds",
            f"Run time (start to end) of the jobs that ended in the last METRICS_JOB_WINDOW_S "
            f"({window_s} s), by kind and status.",
            labels=["kind", "status"],
        )
        for kind, row in figures.items():
            for status in ACTIVE:
                active.add_metric([kind, status], row[f"active_{status}"])
            waited = (now - row["oldest_queued"]).total_seconds() if row["oldest_queued"] else 0
            oldest.add_metric([kind], max(0.0, waited))
            for status in ENDED:
                ended.add_metric([kind, status], row[f"ended_{status}"])
            for status in TIMED:
                buckets = [
                    (str(float(bound_s)), row[f"le{number}_{status}"])
                    for number, bound_s in enumerate(JOB_BUCKETS_S)
                ]
                buckets.append(("+Inf", row[f"count_{status}"]))
                total = row[f"sum_{status}"] or timedelta()
                durations.add_metric([kind, status], buckets, total.total_seconds())
        yield from (active, oldest, ended, durations)
