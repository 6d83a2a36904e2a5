"""A worker killed in the middle of an import (kill -9), and the sweeper that takes its job back.

Seen before: the layer stayed intact, but the job said `running` forever, no worker touched it
again, its upload and work folder stayed on disk, and the dead worker's database session went on
for 17 s holding the layer's lock.
"""

from __future__ import annotations

import json
import socket
import subprocess
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest
from django.core.files import File
from django.db import connection
from django.utils import timezone

from layers import imports, jobs
from layers.models import Feature, ImportJob, JobStatus, Layer
from tests.factories import FeatureFactory, LayerFactory, UserFactory
from tests.faults.conftest import wait_until

pytestmark = pytest.mark.django_db(transaction=True)

POINTS = 2000


def points_file(folder: Path, count: int = POINTS) -> Path:
    """Write a GeoJSON of `count` points in Huế."""
    features = [
        {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [107.55 + i * 1e-5, 16.45 + i * 1e-5]},
            "properties": {"ten": f"Điểm {i}"},
        }
        for i in range(count)
    ]
    path = folder / "diem.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    return path


def backends_of(application_name: str) -> list[tuple]:
    """Return (pid, state, wait_event_type) of the sessions a process opened."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid, state, wait_event_type FROM pg_stat_activity WHERE application_name = %s",
            [application_name],
        )
        return cursor.fetchall()


def hold_layer_lock(layer_id: int) -> psycopg.Connection:
    """Open a session that holds the layer's row lock until it rolls back.

    FOR NO KEY UPDATE: the job's insert (a foreign key to the layer) passes, the import's
    publish (`select_for_update`, FOR UPDATE) waits, so the worker is caught mid-import.
    """
    db = connection.settings_dict
    holder = psycopg.connect(
        host=db["HOST"] or "127.0.0.1",
        port=db["PORT"] or 5432,
        user=db["USER"],
        password=db["PASSWORD"],
        dbname=db["NAME"],
    )
    holder.execute("SELECT id FROM layers_layer WHERE id = %s FOR NO KEY UPDATE", [layer_id])
    return holder


def test_worker_killed_mid_import_is_swept_and_rerun(
    start_worker, private_redis, broker_at, fault_folders, tmp_path
):
    broker_at(private_redis.url)
    layer = LayerFactory(slug="diem-cu")
    before = {feature.pk for feature in FeatureFactory.create_batch(3, layer=layer)}
    version_before = Layer.objects.get(pk=layer.pk).version
    first = start_worker(broker_url=private_redis.url)
    first.wait_ready()

    holder = hold_layer_lock(layer.pk)
    try:
        with points_file(tmp_path).open("rb") as upload:
            job = imports.import_job_create(layer=layer, upload=File(upload, name="diem.geojson"))
        assert job.dispatch.sent is True
        upload_path = Path(ImportJob.objects.get(pk=job.pk).upload.path)

        # Mid-import: the file is staged and the worker waits to write the layer.
        wait_until(
            lambda: any(row[2] == "Lock" for row in backends_of(first.application_name)),
            timeout_s=60,
            what="the worker to reach the layer write",
        )
        running = ImportJob.objects.get(pk=job.pk)
        assert running.status == JobStatus.RUNNING
        assert running.progress_done > 0
        assert running.worker == f"{socket.gethostname()}:{first.pid}"
        assert running.heartbeat_at is not None
        assert running.attempts == 1
        work_folders = list(fault_folders["work"].glob(f"import-{job.pk}-*"))
        assert work_folders and upload_path.exists()

        first.kill()
        # client_connection_check_interval: the orphan session ends within seconds, although
        # the lock it waits for is still held (without it, it would wait, then write, for ever).
        wait_until(
            lambda: not backends_of(first.application_name),
            timeout_s=10,
            what="the killed worker's database session to end",
        )
    finally:
        holder.rollback()
        holder.close()

    # Nothing was changed, and nobody took the job back yet: it still says running.
    assert set(Feature.objects.filter(layer=layer).values_list("pk", flat=True)) == before
    assert Layer.objects.get(pk=layer.pk).version == version_before
    assert ImportJob.objects.get(pk=job.pk).status == JobStatus.RUNNING

    # A new worker's start sweeps: the job had an attempt left, so it runs again, to the end.
    second = start_worker(broker_url=private_redis.url)
    second.wait_ready()
    finished = [JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED]
    done = wait_until(
        lambda: ImportJob.objects.filter(pk=job.pk, status__in=finished).first(),
        timeout_s=60,
        what="the import to be rerun",
    )
    assert done.status == JobStatus.SUCCEEDED, done.messages
    assert done.attempts == 2
    # The job says what happened to its first attempt.
    assert "The worker stopped during attempt 1" in done.messages[0]["message"]
    assert done.worker == f"{socket.gethostname()}:{second.pid}"
    assert Feature.objects.filter(layer=layer).count() == POINTS
    # The worker removes the upload and its work folder just after the job's end commits.
    wait_until(
        lambda: (
            not upload_path.exists() and not list(fault_folders["work"].glob(f"import-{job.pk}-*"))
        ),
        timeout_s=10,
        what="the upload and the work folder to be removed",
    )


def dead_worker() -> str:
    """Return the `host:pid` of a process of this host that has exited."""
    process = subprocess.Popen(["true"])
    process.wait()
    return f"{socket.gethostname()}:{process.pid}"


def stored_job(layer: Layer, tmp_path: Path, **fields) -> tuple[ImportJob, Path, Path]:
    """Return a job as a worker left it (upload stored, work folder made) and their paths."""
    with points_file(tmp_path, 10).open("rb") as upload:
        job = imports.import_job_create(
            layer=layer, upload=File(upload, name="diem.geojson"), queue=False
        )
    ImportJob.objects.filter(pk=job.pk).update(**fields)
    work = Path(imports.settings.IMPORT_WORK_DIR) / f"import-{job.pk}-abc123"
    work.mkdir()
    (work / "upload.geojson").write_bytes(b"{}")
    return ImportJob.objects.get(pk=job.pk), Path(job.upload.path), work


def test_sweeper_fails_a_job_out_of_attempts_and_removes_its_files(
    fault_folders, settings, tmp_path
):
    layer = LayerFactory()
    job, upload, work = stored_job(
        layer,
        tmp_path,
        status=JobStatus.RUNNING,
        worker=dead_worker(),
        heartbeat_at=timezone.now(),
        attempts=settings.IMPORT_MAX_ATTEMPTS,
    )
    assert upload.exists() and work.exists()
    swept = jobs.jobs_sweep()
    assert swept["imports"] == {"requeued": [], "failed": [job.pk]}
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED
    assert job.messages[-1]["message"] == jobs.IMPORT_WORKER_LOST
    assert job.finished_at is not None
    assert not upload.exists() and not work.exists()
    assert Layer.objects.get(pk=layer.pk).status == Layer.Status.READY


def test_sweeper_leaves_live_workers_and_judges_other_hosts_by_heartbeat(
    fault_folders, settings, tmp_path, private_redis, broker_at, queue_prefix
):
    broker_at(private_redis.url)  # the requeued run waits there; no worker takes it
    layer = LayerFactory()
    stale = timezone.now() - timedelta(seconds=settings.JOB_STALE_S + 1)
    alive, *_ = stored_job(
        layer, tmp_path, status=JobStatus.RUNNING, worker=jobs.worker_id(),
        heartbeat_at=timezone.now(), attempts=1,
    )  # fmt: skip
    far_alive, *_ = stored_job(
        layer, tmp_path, status=JobStatus.RUNNING, worker="other-host:42",
        heartbeat_at=timezone.now(), attempts=1,
    )  # fmt: skip
    far_silent, upload, work = stored_job(
        layer, tmp_path, status=JobStatus.RUNNING, worker="other-host:43",
        heartbeat_at=stale, attempts=1,
    )  # fmt: skip
    swept = jobs.jobs_sweep()
    assert swept["imports"] == {"requeued": [far_silent.pk], "failed": []}
    statuses = dict(ImportJob.objects.values_list("pk", "status"))
    assert statuses[alive.pk] == statuses[far_alive.pk] == JobStatus.RUNNING
    assert statuses[far_silent.pk] == JobStatus.QUEUED
    # Requeued: the upload stays for the next attempt, the dead attempt's work folder goes.
    assert upload.exists() and not work.exists()


def test_cancel_records_who_and_why(fault_folders, tmp_path):
    layer = LayerFactory()
    user = UserFactory(username="nguyen.van.a")
    job, upload, _work = stored_job(layer, tmp_path)
    assert imports.import_cancel(job=job, user=user, reason="wrong file, uploading the 2024 one")
    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLED
    assert "nguyen.van.a" in job.messages[-1]["message"]
    assert "wrong file, uploading the 2024 one" in job.messages[-1]["message"]
    assert not upload.exists()  # a queued job's upload has no run left to delete it
    assert not imports.import_cancel(job=job, user=user)
