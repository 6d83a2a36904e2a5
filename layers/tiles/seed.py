"""Seeding: plan a layer's pyramid where there is data, within a tile budget, split it into
chunks, render the chunks; cancel a job; give the chunks of dead workers to living ones.

The plan walks down from z0 in PostgreSQL and keeps a tile only when the layer's geometry (cut
into small pieces) intersects it grown by the render buffer, so the children of an empty tile are
never looked at and a zoom never costs more than four times the one above it. Zoom by zoom the
tiles are counted against the budget (`TILE_SEED_BUDGET`): the depth stops before the zoom that
would pass it, and deeper tiles are rendered on demand. The job records the depth it chose and why.

The planned tiles are cut into chunks (`TileJobChunk`) that any worker may take; a chunk skips
tiles already in the cache, which is kept current by the change-driven rebuild. A chunk records
the worker (host:pid) running it; `tile_chunks_requeue_stale` gives the chunks of a dead worker
back to the queue. A cancelled job's pending chunks never start and a running chunk stops at its
next batch. A stopped job is resumed by starting it again: finished chunks stay finished and the
tiles of a half-done chunk are found in the cache.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, JSONField, Q, Value
from django.db.models.expressions import CombinedExpression
from django.db.models.functions import Coalesce, Now
from django.utils import timezone

from layers.liveness import gone_from_this_host, worker_id
from layers.models import JobStatus, Layer, TileJob, TileJobChunk
from layers.queueing import Dispatch, enqueue

from .cache import TileKey, tile_cache
from .grid import TileCoord
from .render import render_tile, tile_spec
from .sql import (
    TileSQL,
    extent_query,
    plan_chunks_query,
    plan_setup_queries,
    plan_teardown_query,
    plan_tiles_query,
    plan_zoom_query,
)
from .store import store_if_current

logger = logging.getLogger(__name__)

CHUNK_TILES = 64
STORE_BATCH = 16
# Pieces of at most this many vertices: small enough that testing a tile against one is cheap,
# large enough that a province is a few hundred of them.
PLAN_PIECE_VERTICES = 256
# Advisory-lock namespace of seed planning (two-key form: namespace, job id): one planner per job.
PLAN_LOCK_NAMESPACE = 0x5EED
ACTIVE = (JobStatus.QUEUED, JobStatus.RUNNING)


def stale_chunk_after() -> timedelta:
    """Return how long a chunk may run before it counts as lost (the visibility timeout)."""
    return timedelta(seconds=settings.TILE_STALE_CHUNK_AFTER_S)


def layer_extent_3857(*, layer_id: int) -> tuple[float, float, float, float] | None:
    """Return the EPSG:3857 box of a layer's features, or None when it has none."""
    with connection.cursor() as cursor:
        cursor.execute(extent_query(), {"layer_id": layer_id})
        row = cursor.fetchone()
    return None if row is None or row[0] is None else tuple(row)


@dataclass
class SeedPlan:
    """How deep a seed prebuilds and why: tiles per zoom against the budget."""

    min_zoom: int
    requested_max_zoom: int
    budget: int
    tiles_per_zoom: dict[int, int] = field(default_factory=dict)
    # The first zoom left out and how many tiles it alone would have added (None: none left out).
    over_budget_zoom: int | None = None
    over_budget_tiles: int = 0
    seconds: float = 0.0

    @property
    def max_zoom(self) -> int | None:
        """Return the deepest zoom planned, or None when nothing is."""
        return max(self.tiles_per_zoom, default=None)

    @property
    def total(self) -> int:
        return sum(self.tiles_per_zoom.values())

    @property
    def reason(self) -> str:
        """Return why the plan stops where it does, in a sentence for staff."""
        asked = f"z{self.min_zoom}-{self.requested_max_zoom}"
        if self.over_budget_zoom is None:
            if not self.tiles_per_zoom:
                return f"The layer has no data under any tile of {asked}: nothing to prebuild."
            return f"All {self.total:,} tiles of {asked} fit the budget of {self.budget:,} tiles."
        if self.over_budget_zoom < self.min_zoom:
            return (
                f"{asked} was asked, but z{self.over_budget_zoom} alone has "
                f"{self.over_budget_tiles:,} tiles with data, over the budget of {self.budget:,} "
                f"tiles (TILE_SEED_BUDGET): nothing is prebuilt, every tile is rendered on demand."
            )
        held = (
            f"z{self.min_zoom}-{self.max_zoom} ({self.total:,} tiles) is prebuilt"
            if self.tiles_per_zoom
            else "nothing is prebuilt"
        )
        return (
            f"{asked} was asked, but z{self.over_budget_zoom} would add "
            f"{self.over_budget_tiles:,} tiles to the {self.total:,} above it, over the budget "
            f"of {self.budget:,} tiles (TILE_SEED_BUDGET): {held}, and deeper tiles are "
            f"rendered on demand."
        )

    def report(self) -> dict:
        """Return the plan as the job's report keeps it."""
        return {
            "budget": self.budget,
            "requested_max_zoom": self.requested_max_zoom,
            "max_zoom": self.max_zoom,
            "tiles_per_zoom": {str(z): n for z, n in sorted(self.tiles_per_zoom.items())},
            "tiles": self.total,
            "over_budget_zoom": self.over_budget_zoom,
            "over_budget_tiles": self.over_budget_tiles,
            "plan_seconds": round(self.seconds, 3),
            "reason": self.reason,
        }


class _PlanStopped(Exception):
    """The job was cancelled (or finished elsewhere) while it was being planned."""


def _plan_zooms(
    cursor, *, layer_id: int, plan: SeedPlan, still_wanted: Callable[[], bool] = lambda: True
) -> None:
    """Fill the plan's tile table from z0 down, counting each zoom against the budget.

    Zooms above `min_zoom` are walked (their tiles give the next zoom's candidates) but not
    counted. The walk stops at the first zoom that would pass the budget (its tiles stay in the
    table, past `plan.max_zoom`).
    """
    tile_sql = TileSQL()
    for statement in plan_setup_queries():
        cursor.execute(statement, {"layer_id": layer_id, "max_vertices": PLAN_PIECE_VERTICES})
    margin = tile_sql.buffer / tile_sql.extent
    for z in range(plan.requested_max_zoom + 1):
        if not still_wanted():
            raise _PlanStopped
        cursor.execute(plan_zoom_query(first=z == 0), {"z": z, "margin": margin})
        count = cursor.rowcount
        counted = z >= plan.min_zoom
        if (plan.total if counted else 0) + count > plan.budget:
            plan.over_budget_zoom, plan.over_budget_tiles = z, count
            break
        if not count:
            break
        if counted:
            plan.tiles_per_zoom[z] = count


def _new_plan(min_zoom: int, max_zoom: int, budget: int | None) -> SeedPlan:
    budget = settings.TILE_SEED_BUDGET if budget is None else budget
    return SeedPlan(min_zoom=min_zoom, requested_max_zoom=max_zoom, budget=budget)


def seed_plan(
    *, layer: Layer, min_zoom: int, max_zoom: int, budget: int | None = None
) -> list[TileCoord]:
    """Return the tiles from min_zoom to max_zoom with data under them (within the budget)."""
    plan = _new_plan(min_zoom, max_zoom, budget)
    with transaction.atomic(), connection.cursor() as cursor:
        _plan_zooms(cursor, layer_id=layer.pk, plan=plan)
        cursor.execute(
            plan_tiles_query(),
            {"min_zoom": min_zoom, "max_zoom": -1 if plan.max_zoom is None else plan.max_zoom},
        )
        tiles = [TileCoord(z, x, y) for z, x, y in cursor.fetchall()]
        cursor.execute(plan_teardown_query())
    return tiles


def seed_plan_measure(
    *, layer: Layer, min_zoom: int, max_zoom: int, budget: int | None = None
) -> SeedPlan:
    """Return how a seed of the layer would be planned (depth, tiles per zoom), writing nothing."""
    plan = _new_plan(min_zoom, max_zoom, budget)
    started = time.monotonic()
    with transaction.atomic(), connection.cursor() as cursor:
        _plan_zooms(cursor, layer_id=layer.pk, plan=plan)
        cursor.execute(plan_teardown_query())
    plan.seconds = time.monotonic() - started
    return plan


def _zoom_range(layer: Layer, min_zoom: int | None, max_zoom: int | None) -> tuple[int, int]:
    low = layer.min_zoom if min_zoom is None else max(min_zoom, layer.min_zoom)
    high = layer.prebuild_zoom if max_zoom is None else min(max_zoom, layer.max_zoom)
    return low, max(low, high)


def tile_seed_create(
    *, layer: Layer, min_zoom: int | None = None, max_zoom: int | None = None, user=None
) -> TileJob:
    """Return a queued tile job for the layer (an identical job still queued is reused)."""
    low, high = _zoom_range(layer, min_zoom, max_zoom)
    queued = TileJob.objects.filter(
        layer=layer, status=JobStatus.QUEUED, min_zoom=low, requested_max_zoom=high
    ).first()
    if queued is not None:
        return queued
    return TileJob.objects.create(
        layer=layer, min_zoom=low, max_zoom=high, requested_max_zoom=high, created_by=user
    )


def tile_seed_start(
    *, layer: Layer, min_zoom: int | None = None, max_zoom: int | None = None, user=None
) -> TileJob:
    """Create a tile job for the layer and have the workers run it once this transaction commits."""
    job = tile_seed_create(layer=layer, min_zoom=min_zoom, max_zoom=max_zoom, user=user)
    tile_job_start(job=job)
    return job


def tile_job_start(*, job: TileJob) -> Dispatch:
    """Have the workers run (or resume) a tile job once this transaction commits."""
    return enqueue("layers.tasks.tile_job_start", job.pk)


def _say(job_id: int, level: str, message: str) -> None:
    """Append a message to a job's messages in one statement (no read-modify-write race)."""
    entry = Value([{"level": level, "message": message}], output_field=JSONField())
    TileJob.objects.filter(pk=job_id).update(
        messages=CombinedExpression(F("messages"), "||", entry)
    )


def tile_job_prepare(*, job: TileJob) -> list[int]:
    """Plan a new job into chunks, or ready a stopped one to resume; return the chunks to run.

    The job is claimed with one short update and planned without holding its row: a cancel
    (or any status change) during a long plan goes through at once, and the plan sees it.
    """
    claimed = (
        TileJob.objects.filter(pk=job.pk, layer__isnull=False)
        .exclude(status__in=[JobStatus.SUCCEEDED, JobStatus.CANCELLED])
        .update(
            status=JobStatus.RUNNING,
            started_at=Coalesce("started_at", Now()),
            finished_at=None,
            worker=worker_id(),
            heartbeat_at=Now(),
            attempts=F("attempts") + 1,
        )
    )
    if not claimed:
        return []
    job = TileJob.objects.select_related("layer").get(pk=job.pk)
    if not job.chunks.exists():
        try:
            _plan_job(job)
        except _PlanStopped:
            return []
    else:
        # Resuming by hand: what a dead worker held goes back to the pool.
        job.chunks.filter(status=TileJobChunk.Status.RUNNING).update(
            status=TileJobChunk.Status.PENDING, started_at=None, worker=""
        )
    done = sum(
        len(tiles)
        for tiles in job.chunks.filter(status=TileJobChunk.Status.DONE).values_list(
            "tiles", flat=True
        )
    )
    TileJob.objects.filter(pk=job.pk).update(progress_done=done)
    pending = list(
        job.chunks.filter(status=TileJobChunk.Status.PENDING).values_list("pk", flat=True)
    )
    if not pending:
        _finish_if_done(job.pk)
    return pending


def _plan_job(job: TileJob) -> SeedPlan:
    """Plan the job into pending chunks within the budget and record the depth and why."""
    requested = job.requested_max_zoom if job.requested_max_zoom is not None else job.max_zoom
    plan = _new_plan(job.min_zoom, requested, None)
    started = time.monotonic()

    def still_wanted() -> bool:
        # A new statement, so it sees a cancel committed while this plan runs.
        return TileJob.objects.filter(pk=job.pk, status=JobStatus.RUNNING).exists()

    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_xact_lock(%s, %s)", [PLAN_LOCK_NAMESPACE, job.pk])
        if not cursor.fetchone()[0] or job.chunks.exists():
            raise _PlanStopped  # another worker plans (or planned) this job
        _plan_zooms(cursor, layer_id=job.layer_id, plan=plan, still_wanted=still_wanted)
        if plan.max_zoom is not None:
            cursor.execute(
                plan_chunks_query(),
                {
                    "job_id": job.pk,
                    "chunk_tiles": CHUNK_TILES,
                    "status": TileJobChunk.Status.PENDING,
                    "min_zoom": plan.min_zoom,
                    "max_zoom": plan.max_zoom,
                },
            )
        cursor.execute(plan_teardown_query())
        plan.seconds = time.monotonic() - started
        level = "info" if plan.over_budget_zoom is None else "warning"
        updated = TileJob.objects.filter(pk=job.pk, status=JobStatus.RUNNING).update(
            max_zoom=job.min_zoom if plan.max_zoom is None else plan.max_zoom,
            requested_max_zoom=requested,
            progress_total=plan.total,
            report=plan.report(),
        )
        if not updated:
            raise _PlanStopped  # cancelled between the last check and now: keep nothing
        _say(job.pk, level, plan.reason)
    logger.info("Tile job %s planned in %.1f s: %s", job.pk, plan.seconds, plan.reason)
    return plan


def _claim(chunk_id: int) -> bool:
    """Take a pending chunk of a running job (or one whose worker vanished) for this worker."""
    stale = timezone.now() - stale_chunk_after()
    return bool(
        TileJobChunk.objects.filter(pk=chunk_id, job__status=JobStatus.RUNNING)
        .filter(
            Q(status=TileJobChunk.Status.PENDING)
            | Q(status=TileJobChunk.Status.RUNNING, started_at__lt=stale)
        )
        .update(
            status=TileJobChunk.Status.RUNNING,
            started_at=timezone.now(),
            worker=worker_id(),
            attempts=F("attempts") + 1,
        )
    )


def _finish_if_done(job_id: int) -> None:
    if not TileJobChunk.objects.filter(job_id=job_id).exclude(status="done").exists():
        TileJob.objects.filter(pk=job_id, status=JobStatus.RUNNING).update(
            status=JobStatus.SUCCEEDED, finished_at=timezone.now(), worker=""
        )


def _release(chunk_id: int) -> None:
    TileJobChunk.objects.filter(pk=chunk_id, status=TileJobChunk.Status.RUNNING).update(
        status=TileJobChunk.Status.PENDING, started_at=None, worker=""
    )


def tile_chunk_run(*, chunk_id: int) -> int:
    """Render a chunk's tiles that the cache lacks; return how many were rendered.

    A chunk of a job that is no longer running (cancelled, failed) is not started, and a
    running one stops at its next batch, back to pending so that a resume redoes it.
    """
    if not _claim(chunk_id):
        return 0  # done, being done by another worker, or its job is not running
    chunk = TileJobChunk.objects.select_related("job__layer").get(pk=chunk_id)
    job, layer = chunk.job, chunk.job.layer
    if layer is None:
        _release(chunk_id)
        return 0
    try:
        rendered, skipped, finished = _render_chunk(job.pk, layer, chunk.tiles)
    except Exception as error:
        _release(chunk_id)
        TileJob.objects.filter(pk=job.pk, status=JobStatus.RUNNING).update(
            status=JobStatus.FAILED, finished_at=timezone.now()
        )
        _say(job.pk, "error", f"chunk {chunk.number}: {error}")
        raise
    if not finished:
        _release(chunk_id)
        return rendered
    with transaction.atomic():
        TileJobChunk.objects.filter(pk=chunk_id).update(
            status=TileJobChunk.Status.DONE, finished_at=timezone.now()
        )
        TileJob.objects.filter(pk=job.pk).update(
            progress_done=F("progress_done") + len(chunk.tiles),
            tiles_rendered=F("tiles_rendered") + rendered,
            tiles_skipped=F("tiles_skipped") + skipped,
        )
        _finish_if_done(job.pk)
    return rendered


def _job_goes_on(job_id: int) -> bool:
    """Return whether the job still runs, and say that this worker is alive (one statement)."""
    return bool(
        TileJob.objects.filter(pk=job_id, status=JobStatus.RUNNING).update(
            heartbeat_at=Now(), worker=worker_id()
        )
    )


def _render_chunk(job_id: int, layer: Layer, tiles: list[list[int]]) -> tuple[int, int, bool]:
    """Render and store the tiles in batches; return (rendered, skipped, finished)."""
    cache = tile_cache()
    spec = tile_spec(layer)
    rendered = skipped = 0
    batch = []
    for z, x, y in tiles:
        key = TileKey.of(layer, TileCoord(z, x, y))
        # Any cached copy, current or not: a stale one is the change worker's to drop and
        # rebuild, and a seed must skip what it built itself before its version was published.
        if cache.exists(replace(key, version=None)):
            skipped += 1
            continue
        batch.append((key, render_tile(spec, key.coord)))
        rendered += 1
        if len(batch) >= STORE_BATCH:
            store_if_current(layer_id=layer.pk, tiles=batch)
            batch = []
            if not _job_goes_on(job_id):
                return rendered, skipped, False
    store_if_current(layer_id=layer.pk, tiles=batch)
    return rendered, skipped, True


def tile_job_cancel(*, job: TileJob, user=None) -> bool:
    """Cancel a queued or running tile job; return False when it had already finished.

    Its pending chunks never start; a running chunk stops at its next batch of tiles.
    """
    cancelled = TileJob.objects.filter(pk=job.pk, status__in=ACTIVE).update(
        status=JobStatus.CANCELLED, finished_at=timezone.now()
    )
    if cancelled:
        who = f" by {user}" if user is not None and user.is_authenticated else ""
        _say(job.pk, "info", f"Cancelled{who}; tiles already built stay in the cache.")
    job.refresh_from_db()
    return bool(cancelled)


@dataclass
class ChunkSweep:
    """What a sweep of stale chunks did: chunks queued again, jobs failed after too many tries."""

    requeued: list[int] = field(default_factory=list)
    released: list[int] = field(default_factory=list)
    failed_jobs: list[int] = field(default_factory=list)


def _worker_gone(chunk: TileJobChunk, *, stale_before) -> bool:
    """Return whether a running chunk lost its worker.

    On this host a dead pid tells at once; a chunk of any host running past the stale time
    (the broker's visibility timeout) is taken as lost too.
    """
    if chunk.started_at is None or chunk.started_at < stale_before:
        return True
    return gone_from_this_host(chunk.worker)


def tile_chunks_requeue_stale(*, stale_after: timedelta | None = None) -> ChunkSweep:
    """Give the running chunks of dead workers back to the queue; fail a job past its tries.

    The job sweep (`layers.jobs.jobs_sweep`: worker start, beat) calls it. A chunk that
    lost its worker `TILE_CHUNK_MAX_ATTEMPTS` times fails its job with a message saying so, so a
    chunk that kills its worker (memory, a crash in a library) cannot loop forever.
    """
    sweep = ChunkSweep()
    stale_before = timezone.now() - (stale_after or stale_chunk_after())
    running = TileJobChunk.objects.filter(status=TileJobChunk.Status.RUNNING).select_related("job")
    for chunk in running.only("pk", "number", "worker", "started_at", "attempts", "job__status"):
        if not _worker_gone(chunk, stale_before=stale_before):
            continue
        with transaction.atomic():
            # Only if nobody took it meanwhile: the same worker and start as seen.
            taken_back = TileJobChunk.objects.filter(
                pk=chunk.pk,
                status=TileJobChunk.Status.RUNNING,
                worker=chunk.worker,
                started_at=chunk.started_at,
            ).update(status=TileJobChunk.Status.PENDING, started_at=None, worker="")
            if not taken_back:
                continue
            if chunk.job.status != JobStatus.RUNNING:
                sweep.released.append(chunk.pk)
            elif chunk.attempts >= settings.TILE_CHUNK_MAX_ATTEMPTS:
                _fail_lost_chunk(chunk)
                sweep.failed_jobs.append(chunk.job_id)
            else:
                enqueue("layers.tasks.tile_chunk_run", chunk.pk)
                sweep.requeued.append(chunk.pk)
    if sweep.requeued or sweep.failed_jobs:
        logger.warning(
            "Tile chunks of dead workers: %d queued again, jobs failed: %s",
            len(sweep.requeued),
            sweep.failed_jobs or "none",
        )
    return sweep


def _fail_lost_chunk(chunk: TileJobChunk) -> None:
    failed = TileJob.objects.filter(pk=chunk.job_id, status=JobStatus.RUNNING).update(
        status=JobStatus.FAILED, finished_at=timezone.now(), worker=""
    )
    if failed:
        _say(
            chunk.job_id,
            "error",
            f"chunk {chunk.number} lost its worker {chunk.attempts} times (last {chunk.worker}); "
            f"the job stops so that it cannot loop. Tiles built so far stay in the cache; "
            f"resume it once the cause is found.",
        )


def tile_job_run_here(
    *, job: TileJob, on_progress: Callable[[int, int], None] | None = None
) -> TileJob:
    """Run (or resume) a tile job in this process, reporting (done, total) after each chunk."""
    for chunk_id in tile_job_prepare(job=job):
        tile_chunk_run(chunk_id=chunk_id)
        if on_progress:
            job.refresh_from_db(fields=["progress_done", "progress_total"])
            on_progress(job.progress_done, job.progress_total)
    job.refresh_from_db()
    return job
