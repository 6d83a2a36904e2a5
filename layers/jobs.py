"""Liveness of slow jobs (imports, tile jobs, exports): who runs them, and what if they die.

A worker that takes a job writes its id (`host:pid`) on the row and keeps a heartbeat fresh
from a thread while the work runs (`Heartbeat`), so the heartbeat goes on through long SQL
statements. The sweeper (`jobs_sweep`: at worker start and on celery beat's schedule) finds
running jobs whose worker is gone and requeues them while they have attempts left, or fails them
with a reason and deletes what they left behind (the upload and the work folder of an import).

A worker is gone when its process no longer exists on this host, or when it has been silent for
`JOB_STALE_S` (a worker on another host, or a process that hangs).
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import threading
from datetime import datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.db import close_old_connections, connections, transaction
from django.utils import timezone

from . import queueing
from .importers.staging import drop_tables as import_tables_drop
from .liveness import gone_from_this_host, worker_id
from .models import ExportJob, ImportJob, JobStatus, Layer
from .tiles.cache import tile_cache
from .tiles.seed import tile_chunks_requeue_stale
from .tiles.services import tiles_changes_requeue

logger = logging.getLogger(__name__)

# A tile is written in milliseconds: a temporary file this old lost its writer.
TILE_LEFTOVER_AGE_S = 600
# A data change's boxes are claimed by a worker within seconds; older ones lost their message.
TILE_CHANGE_REQUEUE_AFTER_S = 120
IMPORT_WORKER_LOST = "The worker stopped during the import; nothing was changed."
EXPORT_WORKER_LOST = "The worker stopped during the export; no file was made."


def worker_alive(
    worker: str, heartbeat_at: datetime | None, *, now: datetime | None = None
) -> bool:
    """Return whether the worker `host:pid` that last beat at `heartbeat_at` still runs its job."""
    now = now or timezone.now()
    if gone_from_this_host(worker):
        return False
    # A live pid may be a reused one, and another host's worker cannot be asked: the heartbeat says.
    if heartbeat_at is None:
        return False
    return now - heartbeat_at < timedelta(seconds=settings.JOB_STALE_S)


class Heartbeat:
    """Refresh a job's `heartbeat_at` every `JOB_HEARTBEAT_S` from a thread until stopped."""

    def __init__(self, model, pk: int, *, interval_s: float | None = None) -> None:
        self.model = model
        self.pk = pk
        self.worker = worker_id()
        self.interval_s = interval_s or settings.JOB_HEARTBEAT_S
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"heartbeat-{pk}", daemon=True)

    def start(self) -> Heartbeat:
        """Start beating; return self."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop beating and wait for the thread."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=self.interval_s + 5)

    def _beat(self) -> None:
        try:
            while not self._stop.wait(self.interval_s):
                try:
                    # Only while the job is still ours: a sweeper may have taken it back.
                    self.model.objects.filter(pk=self.pk, worker=self.worker).update(
                        heartbeat_at=timezone.now()
                    )
                except Exception:  # a missed beat is retried; the work itself reports errors
                    logger.warning("Heartbeat of %s %s failed", self.model.__name__, self.pk)
                    close_old_connections()
        finally:
            connections.close_all()  # this thread's own connections


def import_files_remove(job: ImportJob, *, upload: bool = True) -> None:
    """Delete an import's stored upload, its staging tables and its work folder on this machine."""
    import_tables_drop(str(job.pk))
    if upload and job.upload and not settings.IMPORT_KEEP_UPLOADS:
        job.upload.storage.delete(job.upload.name)
    work_root = Path(settings.IMPORT_WORK_DIR or tempfile.gettempdir())
    for folder in work_root.glob(f"import-{job.pk}-*"):
        shutil.rmtree(folder, ignore_errors=True)


def import_worker_lost(*, job: ImportJob, reason: str = IMPORT_WORKER_LOST) -> bool:
    """Fail a running import whose worker is gone and delete its files; return False if it ended.

    Nothing of the layer changed: the import writes the layer in one transaction at its end,
    which a lost worker's session never committed.
    """
    with transaction.atomic():
        row = ImportJob.objects.select_for_update().filter(pk=job.pk).first()
        if row is None or row.status not in (JobStatus.QUEUED, JobStatus.RUNNING):
            return False
        messages = [*row.messages, {"level": "error", "feature": None, "message": reason}]
        fields = {"status": JobStatus.FAILED, "finished_at": timezone.now(), "messages": messages}
        if not settings.IMPORT_KEEP_UPLOADS:
            fields["upload"] = ""
        ImportJob.objects.filter(pk=row.pk).update(**fields)
        if row.mode == ImportJob.Mode.CREATE:
            Layer.objects.filter(pk=row.layer_id, status=Layer.Status.DRAFT).update(
                status=Layer.Status.FAILED
            )
    import_files_remove(row)
    logger.warning("import %s failed: %s (worker %s)", row.pk, reason, row.worker or "?")
    return True


def _import_requeue(job: ImportJob) -> bool:
    with transaction.atomic():
        row = (
            ImportJob.objects.select_for_update()
            .filter(pk=job.pk, status=JobStatus.RUNNING, worker=job.worker)
            .first()
        )
        if row is None:
            return False
        note = {
            "level": "info",
            "feature": None,
            "message": f"The worker stopped during attempt {row.attempts}; the import runs again.",
        }
        ImportJob.objects.filter(pk=row.pk).update(
            status=JobStatus.QUEUED, worker="", heartbeat_at=None, messages=[*row.messages, note]
        )
        queueing.enqueue("layers.tasks.import_run", row.pk)
    # The dead attempt's work folder goes; the upload stays for the next attempt.
    import_files_remove(row, upload=False)
    logger.warning("import %s requeued: worker %s is gone", row.pk, row.worker or "?")
    return True


def _imports_sweep(now: datetime) -> dict[str, list[int]]:
    requeued, failed = [], []
    for job in ImportJob.objects.filter(status=JobStatus.RUNNING):
        if worker_alive(job.worker, job.heartbeat_at or job.started_at, now=now):
            continue
        if job.attempts < settings.IMPORT_MAX_ATTEMPTS:
            if _import_requeue(job):
                requeued.append(job.pk)
        elif import_worker_lost(job=job):
            failed.append(job.pk)
    return {"requeued": requeued, "failed": failed}


def _exports_sweep(now: datetime) -> dict[str, list[int]]:
    """Fail running exports whose worker is gone: the client asks again for a fresh file."""
    failed = []
    for job in ExportJob.objects.filter(status=JobStatus.RUNNING):
        if worker_alive(job.worker, job.heartbeat_at or job.started_at, now=now):
            continue
        note = {"level": "error", "feature": None, "message": EXPORT_WORKER_LOST}
        done = ExportJob.objects.filter(pk=job.pk, status=JobStatus.RUNNING, worker=job.worker)
        if done.update(status=JobStatus.FAILED, finished_at=now, messages=[*job.messages, note]):
            failed.append(job.pk)
    return {"requeued": [], "failed": failed}


def _tiles_sweep(now: datetime) -> dict[str, list[int]]:
    """Give dead workers' seed chunks back to the queue (a job resumes chunk by chunk), queue
    again the invalidation of data changes whose message was lost, and remove the half-written
    files of tile writers that died."""
    sweep = tile_chunks_requeue_stale()
    if layer_ids := tiles_changes_requeue(older_than_s=TILE_CHANGE_REQUEUE_AFTER_S):
        logger.warning("tile invalidation queued again for layers %s", layer_ids)
    tile_cache().remove_leftovers(older_than_s=TILE_LEFTOVER_AGE_S)
    return {"requeued": sweep.requeued, "failed": sweep.failed_jobs}


SWEEPS = {"imports": _imports_sweep, "exports": _exports_sweep, "tiles": _tiles_sweep}


def jobs_sweep() -> dict[str, dict[str, list[int]]]:
    """Requeue or fail running jobs whose worker is gone; return their ids by kind and outcome."""
    now = timezone.now()
    return {kind: sweep(now) for kind, sweep in SWEEPS.items()}
