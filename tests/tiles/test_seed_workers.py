"""Seeds on real Celery workers started by the test (one for tiles, one for imports, as in
production): world and whole-country seeds stay within the budget and under 1 GB of worker memory
while an import queued after them finishes first; a worker killed mid-chunk loses nothing, since
the sweep queues its chunk again for the next worker."""

import gzip
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from django.core.files.base import ContentFile
from django.db import connection, transaction

from layers import jobs
from layers.imports import import_job_create
from layers.models import ImportJob, TileJob, TileJobChunk
from layers.tiles import seed
from layers.tiles.cache import SCOPES
from tests.factories import LayerFactory
from tests.tiles.test_seed_plan import PROVINCES, WORLD, load_layer, needs_data

pytestmark = [needs_data, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
ONE_GB_KB = 1024 * 1024


class Workers:
    """Celery workers of this test: queues `<prefix><kind>`, the test database, shared folders."""

    def __init__(self, tmp_path: Path, budget: int) -> None:
        self.prefix = f"test-seed-{uuid.uuid4().hex[:8]}-"
        self.media_root, self.tile_cache_dir = tmp_path / "media", tmp_path / "tiles"
        self.budget = budget
        self.started: list[subprocess.Popen] = []

    def start(self, name: str, kinds: list[str]) -> subprocess.Popen:
        from mapserver.celery import app

        db = connection.settings_dict
        env = {
            **os.environ,
            "DATABASE_URL": (
                f"postgis://{db['USER']}:{db['PASSWORD']}@{db['HOST'] or '127.0.0.1'}:"
                f"{db['PORT'] or 5432}/{db['NAME']}"
            ),
            "CELERY_QUEUE_PREFIX": self.prefix,
            "CELERY_TASK_ALWAYS_EAGER": "false",
            "MEDIA_ROOT": str(self.media_root),
            "TILE_CACHE_DIR": str(self.tile_cache_dir),
            "TILE_SEED_BUDGET": str(self.budget),
        }
        hostname = f"{self.prefix}{name}"
        queues = ",".join(self.prefix + kind for kind in kinds)
        process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "mapserver", "worker", "--pool=solo",
             f"--hostname={hostname}@%h", f"--queues={queues}", "--loglevel=WARNING",
             "--without-gossip", "--without-mingle", "--without-heartbeat"],
            cwd=ROOT, env=env,
        )  # fmt: skip
        self.started.append(process)
        destination = [f"{hostname}@{socket.gethostname()}"]
        deadline = time.monotonic() + 60
        while not app.control.inspect(timeout=0.5, destination=destination).ping():
            assert process.poll() is None, "the worker exited at start"
            assert time.monotonic() < deadline, "the worker never answered"
        return process

    def stop_all(self) -> None:
        for process in self.started:
            if process.poll() is None:
                process.terminate()
                process.wait(timeout=30)


@pytest.fixture
def workers(tmp_path, settings):
    from mapserver.celery import app

    pool = Workers(tmp_path, budget=500)
    settings.CELERY_QUEUE_PREFIX = pool.prefix
    settings.MEDIA_ROOT = pool.media_root
    settings.TILE_CACHE_DIR = pool.tile_cache_dir
    settings.TILE_ACCEL_REDIRECT_PREFIX = None
    settings.TILE_SEED_BUDGET = pool.budget
    app.conf.task_always_eager = False
    try:
        yield pool
    finally:
        app.conf.task_always_eager = True
        pool.stop_all()
        with app.connection_for_write() as broker:
            broker.default_channel.client.delete(
                *(pool.prefix + kind for kind in ("imports", "tiles", "exports", "default"))
            )


def wait_for(predicate, timeout_s: float, step_s: float = 0.05):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step_s)
    raise AssertionError(f"still waiting after {timeout_s} s")


def peak_rss_kb(pid: int) -> int:
    """Return the highest resident memory a live process has had (VmHWM), in KiB."""
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line for line in status.splitlines() if line.startswith("VmHWM")).split()[1])


def assert_cache_whole(root: Path) -> int:
    """Every cached tile is whole gzip, empty markers are empty, no temporary file is left."""
    # Only the scopes are served; a writer killed mid-write leaves its file in `.tmp/`.
    files = [path for scope in SCOPES for path in (root / scope).rglob("*") if path.is_file()]
    assert not [path for path in files if path.name.endswith(".tmp")]
    tiles = [path for path in files if path.name.endswith(".pbf.gz")]
    for path in tiles:
        gzip.decompress(path.read_bytes())
    assert all(path.stat().st_size == 0 for path in files if path.suffix == ".empty")
    return len(tiles)


def test_world_and_country_seeds_stay_in_budget_and_memory_while_a_later_import_ends_first(
    workers, category
):
    world = load_layer("world", WORLD, category, prebuild_zoom=14)
    vietnam = load_layer("vn-provinces", PROVINCES, category, prebuild_zoom=14)
    target = LayerFactory(slug="landmarks", category=category, geometry_type="point")
    tiles = workers.start("tiles", ["tiles"])
    workers.start("imports", ["imports", "exports", "default"])

    with transaction.atomic():
        jobs = [seed.tile_seed_start(layer=layer) for layer in (world, vietnam)]
    upload = ContentFile(
        b'{"type": "FeatureCollection", "features": [{"type": "Feature", "properties": '
        b'{"ten": "\xc4\x90\xe1\xba\xa1i N\xe1\xbb\x99i"}, "geometry": {"type": "Point", '
        b'"coordinates": [107.5775, 16.4698]}}]}',
        name="landmarks.geojson",
    )
    with transaction.atomic():
        imported = import_job_create(layer=target, upload=upload)

    imported = wait_for(
        lambda: ImportJob.objects.filter(pk=imported.pk, finished_at__isnull=False).first(), 60
    )
    done = wait_for(
        lambda: (
            [j for j in TileJob.objects.filter(pk__in=[j.pk for j in jobs]) if j.finished_at]
            if TileJob.objects.filter(pk__in=[j.pk for j in jobs], finished_at=None).count() == 0
            else None
        ),
        120,
    )
    assert imported.status == "succeeded", imported.messages
    for job in done:
        assert job.status == "succeeded", job.messages
        assert job.requested_max_zoom == 14 and job.max_zoom < 14
        assert 0 < job.progress_total == job.progress_done <= workers.budget
        # Queued after both seeds, the import did not wait behind them: on its own queue and
        # worker it started at once and finished before either of them.
        assert imported.finished_at < job.finished_at
    assert (imported.started_at - imported.created_at).total_seconds() < 2
    peak_kb = peak_rss_kb(tiles.pid)
    print(f"\ntile worker peak RSS {peak_kb / 1024:.0f} MiB; import {imported.report['timings']}")
    for job in done:
        print(f"  {job.layer.slug}: z{job.max_zoom} {job.report['tiles_per_zoom']}")
    assert peak_kb < ONE_GB_KB
    assert assert_cache_whole(workers.tile_cache_dir) >= sum(job.tiles_rendered for job in done)


def test_a_worker_killed_mid_chunk_has_its_chunk_queued_again_and_the_job_finishes(
    workers, category, settings
):
    workers.budget = settings.TILE_SEED_BUDGET = 2000
    vietnam = load_layer("vn-provinces", PROVINCES, category, prebuild_zoom=14)
    first = workers.start("tiles-a", ["tiles", "default"])
    with transaction.atomic():
        job = seed.tile_seed_start(layer=vietnam)
    me = f"{socket.gethostname()}:{first.pid}"

    def a_later_chunk_running():
        return TileJobChunk.objects.filter(
            job=job, status="running", worker=me, number__gte=2
        ).first()

    wait_for(a_later_chunk_running, 60, step_s=0.01)
    os.kill(first.pid, signal.SIGKILL)
    first.wait(timeout=10)
    [lost] = TileJobChunk.objects.filter(job=job, status="running")
    assert (lost.worker, lost.attempts) == (me, 1)
    job.refresh_from_db()
    assert job.status == "running" and job.progress_done < job.progress_total

    # Nothing comes back by itself before the broker's visibility timeout: the sweep that a
    # new worker runs at its start (layers.jobs) sees the pid is gone and queues the chunk again.
    workers.start("tiles-b", ["tiles", "default"])

    job = wait_for(lambda: TileJob.objects.filter(pk=job.pk, status="succeeded").first(), 90)
    assert job.progress_done == job.progress_total == job.report["tiles"]
    lost.refresh_from_db()
    assert (lost.status, lost.attempts) == ("done", 2)
    assert lost.worker != me
    assert not TileJobChunk.objects.filter(job=job).exclude(status="done").exists()
    assert assert_cache_whole(workers.tile_cache_dir) > 0


def test_a_chunk_that_keeps_losing_its_worker_fails_its_job(sites, settings):
    """No worker needed: a chunk whose recorded worker is gone, past its tries."""
    job = seed.tile_seed_create(layer=sites)
    seed.tile_job_prepare(job=job)
    chunk = TileJobChunk.objects.filter(job=job).first()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    TileJobChunk.objects.filter(pk=chunk.pk).update(
        status="running",
        worker=f"{socket.gethostname()}:{dead.pid}",
        started_at=job.started_at,
        attempts=settings.TILE_CHUNK_MAX_ATTEMPTS,
    )
    # The sweep of every kind of job (worker start, beat) covers the tile chunks.
    assert jobs.jobs_sweep()["tiles"] == {"requeued": [], "failed": [job.pk]}
    job.refresh_from_db()
    assert job.status == "failed"
    assert (
        f"chunk {chunk.number} lost its worker {settings.TILE_CHUNK_MAX_ATTEMPTS} times"
        in (job.messages[-1]["message"])
    )
    assert TileJobChunk.objects.get(pk=chunk.pk).status == "pending"
