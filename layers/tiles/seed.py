"""Seeding: plan a layer's pyramid where there is data, split it into chunks, render the chunks.

The plan walks down from the min zoom and keeps a tile only when data lies under it (with the
tile buffer), so the children of an empty tile are never visited. The planned tiles are cut into
chunks (`TileJobChunk`) that any worker may take; a chunk skips tiles already in the cache, which
is kept current by the change-driven rebuild. A job whose worker died is resumed by starting it
again: finished chunks stay finished and the tiles of a half-done chunk are found in the cache.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta

from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from layers.models import JobStatus, Layer, TileJob, TileJobChunk
from layers.queueing import Dispatch, enqueue

from .cache import TileKey, tile_cache
from .grid import TileCoord, tiles_touching
from .render import render_tile, tile_spec
from .services import store_if_current
from .sql import TileSQL, extent_query, plan_query

logger = logging.getLogger(__name__)

CHUNK_TILES = 64
STORE_BATCH = 16
# A chunk "running" for longer than this lost its worker; a redelivered task may take it over.
STALE_CHUNK_AFTER = timedelta(minutes=15)


def layer_extent_3857(*, layer_id: int) -> tuple[float, float, float, float] | None:
    """Return the EPSG:3857 box of a layer's features, or None when it has none."""
    with connection.cursor() as cursor:
        cursor.execute(extent_query(), {"layer_id": layer_id})
        row = cursor.fetchone()
    return None if row is None or row[0] is None else tuple(row)


def seed_plan(*, layer: Layer, min_zoom: int, max_zoom: int) -> list[TileCoord]:
    """Return the tiles from min_zoom to max_zoom that have data under them, zoom by zoom."""
    box = layer_extent_3857(layer_id=layer.pk)
    if box is None:
        return []
    tile_sql = TileSQL()
    candidates = list(tiles_touching(min_zoom, box, tile_sql.margin_m(min_zoom)))
    plan: list[TileCoord] = []
    for z in range(min_zoom, max_zoom + 1):
        if not candidates:
            break
        with connection.cursor() as cursor:
            cursor.execute(
                plan_query(),
                {
                    "xs": [coord.x for coord in candidates],
                    "ys": [coord.y for coord in candidates],
                    "layer_id": layer.pk,
                    "z": z,
                    "margin": tile_sql.buffer / tile_sql.extent,
                },
            )
            kept = [TileCoord(z, x, y) for x, y in cursor.fetchall()]
        plan.extend(kept)
        candidates = [child for coord in kept for child in coord.children()]
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
        layer=layer, status=JobStatus.QUEUED, min_zoom=low, max_zoom=high
    ).first()
    if queued is not None:
        return queued
    return TileJob.objects.create(layer=layer, min_zoom=low, max_zoom=high, created_by=user)


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


def tile_job_prepare(*, job: TileJob) -> list[int]:
    """Plan a new job into chunks, or ready a stopped one to resume; return the chunks to run."""
    with transaction.atomic():
        job = TileJob.objects.select_for_update(of=("self",)).select_related("layer").get(pk=job.pk)
        if job.status in (JobStatus.SUCCEEDED, JobStatus.CANCELLED) or job.layer is None:
            return []
        if not job.chunks.exists():
            plan = seed_plan(layer=job.layer, min_zoom=job.min_zoom, max_zoom=job.max_zoom)
            TileJobChunk.objects.bulk_create(
                TileJobChunk(
                    job=job,
                    number=number,
                    tiles=[[c.z, c.x, c.y] for c in plan[start : start + CHUNK_TILES]],
                )
                for number, start in enumerate(range(0, len(plan), CHUNK_TILES))
            )
            job.progress_total = len(plan)
        else:
            # Resuming: what a dead worker held goes back to the pool.
            job.chunks.filter(status=TileJobChunk.Status.RUNNING).update(
                status=TileJobChunk.Status.PENDING, started_at=None
            )
        job.progress_done = sum(
            len(tiles)
            for tiles in job.chunks.filter(status=TileJobChunk.Status.DONE).values_list(
                "tiles", flat=True
            )
        )
        job.status = JobStatus.RUNNING
        job.started_at = job.started_at or timezone.now()
        job.finished_at = None
        job.save()
        pending = list(
            job.chunks.filter(status=TileJobChunk.Status.PENDING).values_list("pk", flat=True)
        )
    if not pending:
        _finish_if_done(job.pk)
    return pending


def _claim(chunk_id: int) -> bool:
    stale = timezone.now() - STALE_CHUNK_AFTER
    return bool(
        TileJobChunk.objects.filter(pk=chunk_id)
        .filter(
            Q(status=TileJobChunk.Status.PENDING)
            | Q(status=TileJobChunk.Status.RUNNING, started_at__lt=stale)
        )
        .update(status=TileJobChunk.Status.RUNNING, started_at=timezone.now())
    )


def _finish_if_done(job_id: int) -> None:
    if not TileJobChunk.objects.filter(job_id=job_id).exclude(status="done").exists():
        TileJob.objects.filter(pk=job_id, status=JobStatus.RUNNING).update(
            status=JobStatus.SUCCEEDED, finished_at=timezone.now()
        )


def tile_chunk_run(*, chunk_id: int) -> int:
    """Render a chunk's tiles that the cache lacks; return how many were rendered."""
    if not _claim(chunk_id):
        return 0  # done, or being done by another worker
    chunk = TileJobChunk.objects.select_related("job__layer").get(pk=chunk_id)
    job, layer = chunk.job, chunk.job.layer
    if job.status != JobStatus.RUNNING or layer is None:
        TileJobChunk.objects.filter(pk=chunk_id).update(status=TileJobChunk.Status.PENDING)
        return 0
    try:
        rendered, skipped = _render_chunk(layer, chunk.tiles)
    except Exception as error:
        TileJobChunk.objects.filter(pk=chunk_id).update(status=TileJobChunk.Status.PENDING)
        TileJob.objects.filter(pk=job.pk).update(
            status=JobStatus.FAILED,
            finished_at=timezone.now(),
            messages=[
                *job.messages,
                {"level": "error", "message": f"chunk {chunk.number}: {error}"},
            ],
        )
        raise
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


def _render_chunk(layer: Layer, tiles: list[list[int]]) -> tuple[int, int]:
    cache = tile_cache()
    spec = tile_spec(layer)
    rendered = skipped = 0
    batch = []
    for z, x, y in tiles:
        key = TileKey.of(layer, TileCoord(z, x, y))
        if cache.exists(key):
            skipped += 1
            continue
        batch.append((key, render_tile(spec, key.coord)))
        rendered += 1
        if len(batch) >= STORE_BATCH:
            store_if_current(layer_id=layer.pk, tiles=batch)
            batch = []
    store_if_current(layer_id=layer.pk, tiles=batch)
    return rendered, skipped


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
