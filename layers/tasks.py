"""Celery tasks: each loads its rows and calls a service."""

from celery import shared_task

from . import exports, imports, jobs, queueing, services
from .models import ExportJob, ImportJob, Layer, TileJob
from .tiles import seed
from .tiles import services as tile_services
from .tiles.grid import TileCoord


@shared_task
def layer_refresh_stats(layer_id: int) -> int:
    """Recompute a layer's feature count and extent; return the count."""
    layer = Layer.objects.get(pk=layer_id)
    return services.layer_refresh_stats(layer=layer).feature_count


@shared_task
def tile_job_start(job_id: int) -> int:
    """Plan (or resume) a tile job and queue its chunks; return how many were queued."""
    chunk_ids = seed.tile_job_prepare(job=TileJob.objects.get(pk=job_id))
    for chunk_id in chunk_ids:
        tile_chunk_run.delay(chunk_id)
    return len(chunk_ids)


@shared_task
def tile_chunk_run(chunk_id: int) -> int:
    """Render one chunk of a tile job; return how many tiles were rendered."""
    return seed.tile_chunk_run(chunk_id=chunk_id)


@shared_task
def tiles_after_data_change(layer_id: int) -> int:
    """Drop the cached tiles that a layer's data changes touched; return how many went."""
    return len(tile_services.tiles_after_data_change(layer_id=layer_id))


@shared_task
def tiles_rebuild(layer_id: int, tiles: list[list[int]]) -> int:
    """Render again the cached tiles of a layer that a change dropped; return how many."""
    layer = Layer.objects.filter(pk=layer_id).first()
    if layer is None:
        return 0
    coords = [TileCoord(z, x, y) for z, x, y in tiles]
    return tile_services.tiles_rebuild(layer=layer, coords=coords)


@shared_task
def import_run(job_id: int) -> str:
    """Run an import job; return its final status."""
    job = ImportJob.objects.select_related("layer").filter(pk=job_id).first()
    if job is None:
        return "missing"
    return imports.import_run(job=job).status


@shared_task
def outbox_flush() -> int:
    """Send the tasks that waited in the outbox while the broker was down; return how many."""
    return queueing.outbox_flush()


@shared_task
def jobs_sweep() -> dict:
    """Requeue or fail the running jobs whose worker is gone; return their ids."""
    return jobs.jobs_sweep()


@shared_task
def export_run(job_id: int) -> str:
    """Write an export job's file; return its final status."""
    job = ExportJob.objects.select_related("layer").filter(pk=job_id).first()
    if job is None:
        return "missing"
    return exports.export_run(job=job).status


@shared_task
def exports_cleanup() -> int:
    """Delete the files of expired exports; return how many."""
    return exports.exports_cleanup()
