"""City-scale benchmark: 1,000,000 buildings over Huế's 4,947 km² beside the demo layers.

In a database of its own (`bench_city` on the configured server, dropped at the start and the end):
1. migrate and load the demo layers (`manage.py loaddemo`);
2. import the buildings (bench/city_data.py, a GeoPackage cached in var/bench/city/) through the
   real path: an ImportJob queued like the admin's and run by a Celery import worker;
3. seed the layer to its default depth with a Celery tile worker of one process per core (the
   seed the import itself queues); count the tiles, find the largest (raw and gzip, which z/x/y,
   how many features) and any over 500 KiB;
4. tippecanoe on the same data (GeoPackage -> GeoJSONSeq -> tippecanoe, same zooms and fields);
5. a burst of uncached tile requests over the city to gunicorn (deploy/gunicorn.conf.py);
6. peak memory (VmHWM) of the web workers and of the import and tile worker processes.

Run with `bash bench/city.sh [--buildings N]` (installs tippecanoe); writes its section of
bench/RESULTS.md unless `--no-write`. Every process it starts is stopped at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import heapq
import os
import platform
import random
import signal
import sqlite3
import statistics
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import environ

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "var" / "bench" / "city"
SEED_CACHE, WEB_CACHE = WORK / "tiles-seed", WORK / "tiles-web"
PREFIX = "bench-city-"
DB_NAME = "bench_city"
SLUG = "city-buildings"
WEB_PORT = 18791
VENV = ROOT / ".venv" / "bin"
RESULTS = ROOT / "bench" / "RESULTS.md"
SECTION_START, SECTION_END = "<!-- city-bench:start -->", "<!-- city-bench:end -->"
LIMIT_BYTES = 500 * 1024


def _bench_environment() -> dict[str, str]:
    """Point this process and every one it starts at the benchmark's database, queues and caches."""
    environ.Env.read_env(ROOT / ".env", overwrite=False)
    base = os.environ.get("DATABASE_URL", "postgis://mapserver:mapserver@127.0.0.1:5432/mapserver")
    parts = urlsplit(base)
    return {
        "BENCH_CITY_BASE_DATABASE_URL": base,
        "DATABASE_URL": urlunsplit(parts._replace(path=f"/{DB_NAME}")),
        "DJANGO_SETTINGS_MODULE": "mapserver.settings",
        "DEBUG": "false",
        "SECRET_KEY": os.environ.get("SECRET_KEY") or "bench-city-only",
        "CELERY_QUEUE_PREFIX": PREFIX,
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "TILE_CACHE_DIR": str(SEED_CACHE),
        "MEDIA_ROOT": str(WORK / "media"),
        "DB_APPLICATION_NAME": "bench-city",
    }


os.environ.update(_bench_environment())
sys.path.insert(0, str(ROOT))

import django  # noqa: E402

django.setup()

import mapbox_vector_tile  # noqa: E402
import psycopg  # noqa: E402
from city_data import buildings_file  # noqa: E402  (bench/ is on sys.path)
from django.core.files import File  # noqa: E402
from django.db import connection, connections  # noqa: E402
from psycopg import sql  # noqa: E402

from layers.demo.catalogue import catalogue_load  # noqa: E402
from layers.imports import import_job_create  # noqa: E402
from layers.models import Category, ImportJob, Layer, TileJob, TileJobChunk  # noqa: E402
from layers.tiles.cache import TileKey, tile_cache  # noqa: E402
from layers.tiles.grid import TileCoord  # noqa: E402
from layers.tiles.seed import tile_job_cancel  # noqa: E402
from layers.tiles.sql import TileSQL  # noqa: E402
from mapserver.celery import app  # noqa: E402

X = "\N{MULTIPLICATION SIGN}"


def say(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", flush=True)


def load() -> str:
    """Return the load averages (1, 5 min) and the busiest other processes' share, in words."""
    one, five, _ = os.getloadavg()
    return f"load {one:.1f}/{five:.1f}"


# --- processes -------------------------------------------------------------------------------


class Processes:
    """The servers this run started, stopped by their own pid (and their children) at the end."""

    def __init__(self) -> None:
        self.running: dict[str, subprocess.Popen] = {}

    def start(self, name: str, args: list, **kwargs) -> subprocess.Popen:
        log = (WORK / f"{name}.log").open("w")
        self.running[name] = subprocess.Popen(
            args, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, **kwargs
        )
        return self.running[name]

    def stop(self, name: str) -> None:
        process = self.running.pop(name, None)
        if process is None or process.poll() is not None:
            return
        children = descendants(process.pid)
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        for pid in children:  # a pool process its parent left behind
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def stop_all(self) -> None:
        for name in list(self.running):
            self.stop(name)


def descendants(pid: int) -> list[int]:
    """Return the pids of a process's children and their children (from /proc)."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        parents.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def peak_kib(pid: int) -> int:
    """Return a process's peak resident memory (VmHWM, KiB), 0 if it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


@dataclass
class Peaks:
    """Peak memory of a server's main process and of its worker processes, in MiB."""

    main_mib: float
    workers_mib: list[float] = field(default_factory=list)

    def __str__(self) -> str:
        workers = ", ".join(f"{w:.0f}" for w in self.workers_mib) or "none"
        return f"main {self.main_mib:.0f} MiB, workers {workers} MiB"


class PeakWatch:
    """Sample the VmHWM of a server and its children twice a second while it runs.

    A worker process may be replaced right after its task (CELERY_WORKER_MAX_MEMORY_PER_CHILD,
    gunicorn's max_requests): its peak is kept from the last sample before it went.
    """

    def __init__(self, process: subprocess.Popen) -> None:
        self.process = process
        self.peaks_kib: dict[int, int] = {}
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _sample(self) -> None:
        for pid in [self.process.pid, *descendants(self.process.pid)]:
            self.peaks_kib[pid] = max(self.peaks_kib.get(pid, 0), peak_kib(pid))

    def _run(self) -> None:
        while not self.done.wait(0.5):
            self._sample()

    def stop(self) -> Peaks:
        """Take a last sample and return the peaks."""
        self.done.set()
        self.thread.join()
        self._sample()
        main = self.peaks_kib.pop(self.process.pid, 0)
        workers = sorted(kib / 1024 for kib in self.peaks_kib.values() if kib)
        return Peaks(main / 1024, workers)


def celery_worker(processes: Processes, kind: str, concurrency: int) -> subprocess.Popen:
    worker = processes.start(
        kind,
        [VENV / "celery", "-A", "mapserver", "worker", "-Q", f"{PREFIX}{kind}",
         f"--concurrency={concurrency}", "--loglevel=INFO", "--without-gossip",
         "--without-mingle", "--hostname", f"{PREFIX}{kind}@%h"],
    )  # fmt: skip
    return worker


def purge_queues() -> None:
    """Empty this benchmark's queues (a run stopped halfway leaves messages in them)."""
    with app.connection_for_write() as conn:
        channel = conn.default_channel
        for kind in ("imports", "tiles", "exports", "default"):
            # A queue that was never declared cannot be purged: nothing to do then.
            with contextlib.suppress(Exception):
                channel.queue_purge(f"{PREFIX}{kind}")


# --- database --------------------------------------------------------------------------------


def admin_connection() -> psycopg.Connection:
    parts = urlsplit(os.environ["BENCH_CITY_BASE_DATABASE_URL"])
    return psycopg.connect(
        host=parts.hostname or "127.0.0.1", port=parts.port or 5432,
        user=parts.username, password=parts.password or None,
        dbname=parts.path.lstrip("/") or "postgres", autocommit=True,
    )  # fmt: skip


def drop_database() -> None:
    connections.close_all()
    with admin_connection() as admin:
        admin.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(DB_NAME))
        )


def create_database() -> float:
    """Create the benchmark's database, migrate it and load the demo layers; return seconds."""
    drop_database()
    with admin_connection() as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DB_NAME)))
    started = time.monotonic()
    for command in (["migrate", "--noinput", "-v0"], ["loaddemo", "-v0"]):
        subprocess.run([VENV / "python", "manage.py", *command], cwd=ROOT, check=True)
    seconds = time.monotonic() - started
    # loaddemo queued a seed of each demo layer: cancelled, so that the tile worker runs only the
    # buildings' seed (the demo layers' tiles are rendered on demand).
    for job in TileJob.objects.filter(status__in=["queued", "running"]):
        tile_job_cancel(job=job)
    purge_queues()
    return seconds


# --- steps -----------------------------------------------------------------------------------


def buildings_layer() -> Layer:
    """Create the empty buildings layer, styled like the demo's (its tiles carry those fields)."""
    demo = next(spec for spec in catalogue_load().layers if spec.slug == "toa-nha")
    category, _ = Category.objects.get_or_create(
        slug="bench", defaults={"name_vi": "Đo hiệu năng", "name_en": "Benchmarks"}
    )
    return Layer.objects.create(
        slug=SLUG,
        title_vi="Công trình (1 triệu, tổng hợp)",
        title_en="Buildings (1 million, synthetic)",
        category=category,
        status=Layer.Status.DRAFT,
        visibility="public",
        style=demo.fields["style"],
    )


@dataclass
class ImportResult:
    seconds: float
    job: ImportJob
    peaks: Peaks


def run_import(processes: Processes, path: Path) -> ImportResult:
    """Queue an import job of the file as the admin does and wait for the import worker."""
    worker = celery_worker(processes, "imports", 1)
    watch = PeakWatch(worker)
    layer = buildings_layer()
    with path.open("rb") as handle:
        job = import_job_create(
            layer=layer, upload=File(handle, name=path.name), mode=ImportJob.Mode.CREATE
        )
    connections.close_all()
    say(f"import job {job.pk} queued ({load()})")
    while job.status not in (ImportJob.Status.SUCCEEDED, ImportJob.Status.FAILED):
        if worker.poll() is not None:
            raise SystemExit(f"the import worker stopped (see {WORK / 'imports.log'})")
        time.sleep(1)
        job.refresh_from_db()
    peaks = watch.stop()
    processes.stop("imports")
    if job.status != ImportJob.Status.SUCCEEDED:
        raise SystemExit(f"the import failed: {job.messages[-3:]}")
    seconds = (job.finished_at - job.started_at).total_seconds()
    say(f"imported {job.imported_count:,} in {seconds:.1f} s {job.report.get('timings')}; {peaks}")
    return ImportResult(seconds, job, peaks)


@dataclass
class TileStats:
    """What a set of tiles holds: count and largest per zoom, the largest, those over the limit."""

    per_zoom: dict[int, int]
    largest_per_zoom: dict[int, int]  # raw bytes
    # (raw bytes, gzip bytes, (z, x, y), features), largest first
    largest: list[tuple[int, int, tuple[int, int, int], int]]
    over_limit: int
    over_limit_gzip: int  # tippecanoe's own 500K limit is on the compressed tile

    @property
    def total(self) -> int:
        return sum(self.per_zoom.values())

    def largest_text(self) -> str:
        raw, packed, (z, x, y), features = self.largest[0]
        return (
            f"{raw / 1024:.0f} KiB ({packed / 1024:.0f} KiB gzip) at {z}/{x}/{y}, "
            f"{features:,} features"
        )


def _feature_count(raw: bytes) -> int:
    return sum(len(layer["features"]) for layer in mapbox_vector_tile.decode(raw).values())


def _tile_stats(tiles, keep: int = 5) -> TileStats:
    """Return the stats of (z, x, y, gzip bytes) tiles; the largest are decoded and counted."""
    per_zoom: dict[int, int] = {}
    largest_per_zoom: dict[int, int] = {}
    top: list[tuple[int, int, tuple[int, int, int], bytes]] = []  # a min-heap of the largest
    over = over_gzip = 0
    for z, x, y, packed in tiles:
        raw = gzip.decompress(packed)
        per_zoom[z] = per_zoom.get(z, 0) + 1
        largest_per_zoom[z] = max(largest_per_zoom.get(z, 0), len(raw))
        over += len(raw) > LIMIT_BYTES
        over_gzip += len(packed) > LIMIT_BYTES
        heapq.heappush(top, (len(raw), len(packed), (z, x, y), raw))
        if len(top) > keep:
            heapq.heappop(top)
    largest = [
        (size, packed, coord, _feature_count(raw))
        for size, packed, coord, raw in sorted(top, reverse=True)
    ]
    return TileStats(
        dict(sorted(per_zoom.items())),
        dict(sorted(largest_per_zoom.items())),
        largest,
        over,
        over_gzip,
    )


def seeded_tiles(job: TileJob):
    """Yield (z, x, y, gzip bytes) of each tile the seed job planned that holds data."""
    cache = tile_cache()
    for tiles in TileJobChunk.objects.filter(job=job).values_list("tiles", flat=True):
        for z, x, y in tiles:
            data = cache.get(TileKey("public", SLUG, TileCoord(z, x, y)))
            if data:
                yield z, x, y, data


@dataclass
class SeedResult:
    seconds: float
    jobs: list[TileJob]  # every seed of the layer, the one that rendered most first
    stats: TileStats
    peaks: Peaks

    @property
    def job(self) -> TileJob:
        return self.jobs[0]


FINISHED = ("succeeded", "failed", "cancelled")


def run_seed(processes: Processes, cores: int) -> SeedResult:
    """Let a tile worker run the seeds the import queued, to the layer's default depth.

    The time runs from the first seed's start to the last one's end: every seed of the layer the
    import queued counts (a create import has queued two, one of which finds the tiles built).
    """
    worker = celery_worker(processes, "tiles", cores)
    watch = PeakWatch(worker)
    jobs = TileJob.objects.filter(layer__slug=SLUG)
    deadline, quiet_since, last = time.monotonic() + 120, None, -1
    while True:
        if worker.poll() is not None:
            raise SystemExit(f"the tile worker stopped (see {WORK / 'tiles.log'})")
        time.sleep(2)
        states = list(jobs.values_list("status", "progress_done", "progress_total"))
        if not states and time.monotonic() > deadline:
            raise SystemExit("the import queued no seed of the layer: see docs/tiles.md")
        done = sum(state[1] for state in states)
        if done // 2000 != last:
            last = done // 2000
            say(f"seed: {len(states)} job(s), {done:,}/{sum(s[2] for s in states):,} ({load()})")
        # Finished, and no further seed queued for a few seconds.
        if states and all(state[0] in FINISHED for state in states):
            quiet_since = quiet_since or time.monotonic()
            if time.monotonic() - quiet_since > 6:
                break
        else:
            quiet_since = None
    peaks = watch.stop()
    processes.stop("tiles")
    ordered = sorted(jobs, key=lambda job: -job.tiles_rendered)
    if any(job.status != "succeeded" for job in ordered):
        raise SystemExit(f"a seed did not succeed: {[(j.pk, j.status) for j in ordered]}")
    seconds = (
        max(job.finished_at for job in ordered) - min(job.started_at for job in ordered)
    ).total_seconds()
    stats = _tile_stats(seeded_tiles(ordered[0]))
    say(f"seeded {stats.total:,} tiles in {seconds:.1f} s; largest {stats.largest_text()}")
    return SeedResult(seconds, ordered, stats, peaks)


TIPPECANOE_COMMON = [
    "-q",
    "-f",
    "-P",
    "-Z0",
    "-l",
    SLUG,
    "-y",
    "ten",
    "-y",
    "use",
    "-y",
    "height_m",
]
TIPPECANOE_RUNS = {
    # Fits tippecanoe's own 500 KiB / 200,000-feature tile limits by dropping features where
    # they are densest: the counterpart of our "past 10,000 features drop the smallest".
    "drop densest": ["--drop-densest-as-needed"],
    # Everything kept, no size limit: what a tile holds when nothing is dropped.
    "keep all": ["--no-feature-limit", "--no-tile-size-limit"],
}


@dataclass
class TippecanoeResult:
    name: str
    options: list[str]  # those of this run, beside TIPPECANOE_COMMON and the zooms
    seconds: float
    stats: TileStats


def mbtiles_tiles(path: Path):
    """Yield (z, x, y, gzip bytes) of each tile of an MBTiles file (rows are TMS)."""
    with sqlite3.connect(path) as db:
        query = "SELECT zoom_level, tile_column, tile_row, tile_data FROM tiles"
        for z, x, row, data in db.execute(query):
            yield z, x, (1 << z) - 1 - row, data if data[:2] == b"\x1f\x8b" else gzip.compress(data)


def run_tippecanoe(path: Path, depth: int) -> tuple[float, list[TippecanoeResult]]:
    """Export the GeoPackage to GeoJSONSeq once, then tile it with each set of options."""
    seq = WORK / "buildings.geojsons"
    started = time.monotonic()
    subprocess.run(
        ["ogr2ogr", "-f", "GeoJSONSeq", str(seq), str(path), "-select", "ten,use,height_m"],
        check=True,
    )  # fmt: skip
    export = time.monotonic() - started
    results = []
    try:
        for name, options in TIPPECANOE_RUNS.items():
            out = WORK / "tippecanoe.mbtiles"
            args = [*TIPPECANOE_COMMON, f"-z{depth}", *options]
            say(f"tippecanoe {' '.join(args)} ({load()})")
            started = time.monotonic()
            subprocess.run([VENV / "tippecanoe", *args, "-o", str(out), str(seq)], check=True)
            seconds = time.monotonic() - started
            stats = _tile_stats(mbtiles_tiles(out))
            out.unlink()
            say(
                f"tippecanoe {name}: {seconds:.1f} s, {stats.total:,} tiles, {stats.largest_text()}"
            )
            results.append(TippecanoeResult(name, options, seconds, stats))
    finally:
        seq.unlink(missing_ok=True)
    return export, results


@dataclass
class BurstResult:
    requests: int
    seconds: float
    latencies_ms: list[float]
    statuses: dict[int, int]
    largest_bytes: int
    peaks: Peaks
    workers: int
    threads: int


def burst_tiles(seeded: dict[tuple[int, int, int], int], count: int) -> list[tuple[int, int, int]]:
    """Return tiles over the city: seeded tiles of z10-14, and z15-16 under the densest z14 ones.

    `seeded` maps each seeded tile to its size: the largest z14 tiles are the densest places.
    """
    rng = random.Random(7)
    low = sorted(t for t in seeded if 10 <= t[0] <= 14)
    densest = sorted((t for t in seeded if t[0] == 14), key=lambda t: -seeded[t])[:40]
    deep = []
    for _z, x, y in densest:
        deep += [(15, 2 * x + dx, 2 * y + dy) for dx in (0, 1) for dy in (0, 1)]
        deep.append((16, 4 * x + rng.randrange(4), 4 * y + rng.randrange(4)))
    tiles = rng.sample(low, min(len(low), count * 2 // 3)) + deep
    rng.shuffle(tiles)
    return tiles[:count]


def run_burst(processes: Processes, tiles: list[tuple[int, int, int]]) -> BurstResult:
    """Start gunicorn on an empty tile cache and request each tile once, all threads busy."""
    cores = os.cpu_count() or 2
    workers, threads = max(2, cores), 8
    env = {**os.environ, "TILE_CACHE_DIR": str(WEB_CACHE), "BIND": f"127.0.0.1:{WEB_PORT}",
           "WEB_WORKERS": str(workers), "WEB_THREADS": str(threads),
           "WEB_ACCESS_LOG": ""}  # fmt: skip
    web = processes.start(
        "web", [VENV / "gunicorn", "mapserver.wsgi", "-c", "deploy/gunicorn.conf.py"], env=env
    )
    base = f"http://127.0.0.1:{WEB_PORT}"
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(f"{base}/healthz", timeout=5)
            break
        except OSError as error:  # refused while it starts, or a timeout on a busy machine
            if time.monotonic() > deadline or web.poll() is not None:
                raise SystemExit(
                    f"gunicorn did not answer ({error}): see {WORK / 'web.log'}"
                ) from error
            time.sleep(0.5)
    watch = PeakWatch(web)
    latencies, statuses, largest = [], {}, 0
    lock = threading.Lock()

    def get(tile: tuple[int, int, int]) -> None:
        nonlocal largest
        z, x, y = tile
        request = urllib.request.Request(
            f"{base}/tiles/{SLUG}/{z}/{x}/{y}.pbf", headers={"Accept-Encoding": "gzip"}
        )
        started = time.perf_counter()
        try:
            with urllib.request.urlopen(request, timeout=120) as response:
                status, size = response.status, len(response.read())
        except urllib.error.HTTPError as error:
            status, size = error.code, 0
        with lock:
            latencies.append((time.perf_counter() - started) * 1000)
            statuses[status] = statuses.get(status, 0) + 1
            largest = max(largest, size)

    say(f"burst: {len(tiles)} uncached tiles, {workers * threads} at a time ({load()})")
    started = time.monotonic()
    with ThreadPoolExecutor(workers * threads) as pool:
        list(pool.map(get, tiles))
    seconds = time.monotonic() - started
    peaks = watch.stop()
    processes.stop("web")
    result = BurstResult(len(tiles), seconds, latencies, statuses, largest, peaks, workers, threads)
    say(f"burst done in {seconds:.1f} s, statuses {statuses}; {peaks}")
    return result


# --- report ----------------------------------------------------------------------------------


def git_commit() -> str:
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True).stdout

    commit = git("rev-parse", "--short", "HEAD").strip() or "unknown"
    return commit + ("+" if git("status", "--porcelain", "--untracked-files=no") else "")


def moved_note(started: str) -> str:
    """Return a note when server code (layers/, mapserver/, deploy/) changed during the run."""
    now = git_commit()
    if now.rstrip("+") == started.rstrip("+"):
        return ""
    changed = subprocess.run(
        ["git", "diff", "--name-only", started.rstrip("+"), now.rstrip("+"), "--",
         "layers", "mapserver", "deploy"],
        cwd=ROOT, capture_output=True, text=True,
    ).stdout.split()  # fmt: skip
    if not changed:
        return f" (moved to {now} during the run, no server code changed)"
    return f" (moved to {now} during the run; server code changed: {', '.join(changed)})"


def machine() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT version(), postgis_lib_version()")
        pg, postgis = cursor.fetchone()
    memory_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (
        f"{os.cpu_count()} cores, {memory_gib:.0f} GiB, {platform.platform()}; "
        f"{pg.split(' on ')[0]}, PostGIS {postgis}"
    )


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def report(
    *, args, setup_s: float, imported: ImportResult, seed: SeedResult, export_s: float,
    tippecanoe: list[TippecanoeResult], burst: BurstResult, conditions: list[str], commit: str,
) -> str:  # fmt: skip
    job, stats = seed.job, seed.stats
    timings = imported.job.report.get("timings", {})
    largest_rows = "\n".join(
        f"| {z}/{x}/{y} | {raw / 1024:.0f} | {packed / 1024:.0f} | {features:,} |"
        for raw, packed, (z, x, y), features in stats.largest
    )
    planned = job.report.get("tiles_per_zoom", {})
    seed_jobs = (
        ""
        if len(seed.jobs) == 1
        else f"The import queued {len(seed.jobs)} seeds of the layer (jobs "
        f"{', '.join(str(j.pk) for j in seed.jobs)}; rendered "
        f"{', '.join(f'{j.tiles_rendered:,}' for j in seed.jobs)}, skipped "
        f"{', '.join(f'{j.tiles_skipped:,}' for j in seed.jobs)}), run side by side; the time "
        "is from the first start to the last end."
    )
    zoom_rows = "\n".join(
        f"| z{z} | {planned.get(str(z), 0):,} | {stats.per_zoom.get(z, 0):,} "
        f"| {stats.largest_per_zoom.get(z, 0) / 1024:.0f} "
        f"| {tippecanoe[0].stats.per_zoom.get(z, 0):,} "
        f"| {tippecanoe[0].stats.largest_per_zoom.get(z, 0) / 1024:.0f} |"
        for z in range(job.min_zoom, (job.max_zoom or 0) + 1)
    )
    tippe_rows = "\n".join(
        f"| tippecanoe 2.72 {t.name}: `{' '.join(t.options)}` | {t.seconds:.1f} "
        f"| {seed.seconds / t.seconds:.2f}{X} | {t.stats.total:,} | {t.stats.largest_text()} "
        f"| {t.stats.over_limit} / {t.stats.over_limit_gzip} |"
        for t in tippecanoe
    )
    lat = burst.latencies_ms
    over = "none" if not stats.over_limit else f"**{stats.over_limit}** (raw)"
    raw, _packed, _coord, features = stats.largest[0]
    why = (
        ""
        if not stats.over_limit
        else f" Why: the tile SQL keeps up to {TileSQL.max_features:,} features a tile "
        f"(`layers/tiles/sql.py`, `max_features`, the smallest dropped past it) and this layer's "
        f"tile attributes (a name, a use, a height) cost {raw / features:.0f} bytes a feature "
        f"with its geometry, so only {LIMIT_BYTES * features // raw:,} features fit in 500 KiB."
    )
    command = "bash bench/city.sh" + (
        f" --buildings {args.buildings}" if args.buildings != 1_000_000 else ""
    )
    return f"""## City scale

**{date.today()}**, commit {commit} · {machine()} · `{command}` · {args.buildings:,}
synthetic buildings (30-300 m², floors, heights, Vietnamese names and addresses) on the dry land
of Huế's real boundary (the demo's, 4,947 km²): 35 % around the centre, 35 % around the district
towns, 30 % in 2,500 villages; in database `{DB_NAME}` beside the demo layers (migrate + loaddemo
{setup_s:.0f} s; the demo's own seeds are cancelled, their tiles render on demand). One run, not
best-of: conditions {"; ".join(conditions)}.

**Import** (an ImportJob queued as the admin does, run by a Celery import worker, mode create):
{imported.seconds:.1f} s, {args.buildings / imported.seconds:,.0f} features/s (read / check / write
{timings.get("read", 0):.1f} / {timings.get("check", 0):.1f} / {timings.get("write", 0):.1f} s).

**Seed** (the seed the import queued, to the layer's default depth
z{job.min_zoom}-{job.requested_max_zoom}, budget {job.report.get("budget", 0):,} tiles; one Celery
tile worker, {os.cpu_count()} processes): {seed.seconds:.1f} s for {job.progress_total:,} tiles
planned ({job.tiles_rendered:,} rendered, {stats.total:,} with data; planning
{job.report.get("plan_seconds", 0):.1f} s); depth reached z{job.max_zoom}. {seed_jobs} Largest tile:
{stats.largest_text()}; tiles over 500 KiB: {over}.{why}

| largest tiles (z/x/y) | raw KiB | gzip KiB | features |
|---|---|---|---|
{largest_rows}

Per zoom, ours beside tippecanoe ({tippecanoe[0].name}); ours plans a tile wherever a building
meets it, and a tile whose buildings are all under one screen pixel is stored empty:

| zoom | ours: planned | ours: with data | ours: largest raw KiB | tippecanoe: tiles \
| tippecanoe: largest raw KiB |
|---|---|---|---|---|---|
{zoom_rows}

**Beside tippecanoe** on the same GeoPackage (exported to GeoJSONSeq by ogr2ogr in
{export_s:.1f} s, not counted), the same zooms and fields: `tippecanoe {" ".join(TIPPECANOE_COMMON)}
-z{job.max_zoom}` plus the options of each row (tippecanoe uses every core):

| what | seconds | ours' time / this | tiles | largest tile | over 500 KiB raw / gzip |
|---|---|---|---|---|---|
| ours: seed, {os.cpu_count()} tile processes | {seed.seconds:.1f} | | {stats.total:,} \
| {stats.largest_text()} | {stats.over_limit} / {stats.over_limit_gzip} |
{tippe_rows}

**Peak memory (VmHWM)**:

| process | peak |
|---|---|
| Celery import worker (the pool process that ran the import) | \
{max(imported.peaks.workers_mib, default=0):.0f} MiB (main {imported.peaks.main_mib:.0f} MiB) |
| Celery tile worker processes | {", ".join(f"{w:.0f}" for w in seed.peaks.workers_mib)} MiB \
(main {seed.peaks.main_mib:.0f} MiB) |
| gunicorn web workers ({burst.workers} x {burst.threads} threads) after the burst \
| {", ".join(f"{w:.0f}" for w in burst.peaks.workers_mib)} MiB \
(master {burst.peaks.main_mib:.0f} MiB) |

The burst: {burst.requests} uncached tile requests over the city (z10-z14 tiles with data and
z15-z16 under the densest z14 tiles), {burst.workers * burst.threads} at a time, to gunicorn on an
empty cache: {burst.seconds:.1f} s, {burst.requests / burst.seconds:.1f} tiles/s, latency p50
{statistics.median(lat):.0f} ms, p95 {percentile(lat, 0.95):.0f} ms, max {max(lat):.0f} ms;
statuses {burst.statuses}; largest response {burst.largest_bytes / 1024:.0f} KiB gzip.
"""


def write_section(text: str) -> None:
    current = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n"
    block = f"{SECTION_START}\n{text.rstrip()}\n{SECTION_END}"
    if SECTION_START in current and SECTION_END in current:
        head, rest = current.split(SECTION_START, 1)
        current = head + block + rest.split(SECTION_END, 1)[1]
    else:
        current = current.rstrip() + "\n\n" + block + "\n"
    RESULTS.write_text(current)


# --- main ------------------------------------------------------------------------------------


def _stop_on_sigterm(signum, frame) -> None:
    raise SystemExit(f"stopped by signal {signum}")


def clear_caches() -> None:
    for folder in (SEED_CACHE, WEB_CACHE, WORK / "media"):
        subprocess.run(["rm", "-rf", str(folder)], check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--buildings", type=int, default=1_000_000)
    parser.add_argument("--burst", type=int, default=400, help="uncached tile requests")
    parser.add_argument("--no-write", action="store_true", help="do not touch bench/RESULTS.md")
    parser.add_argument("--keep-db", action="store_true", help=f"leave {DB_NAME} at the end")
    args = parser.parse_args()
    if args.buildings < 1000:
        parser.error("--buildings: at least 1,000 (an import of fewer queues no full seed)")
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    WORK.mkdir(parents=True, exist_ok=True)
    cores = os.cpu_count() or 2
    processes = Processes()
    conditions = [f"at start {load()}"]
    # The commit the servers started from: a checkout that moves during the run is said so.
    commit = git_commit()
    try:
        path = buildings_file(WORK, args.buildings)
        clear_caches()
        purge_queues()
        say(f"creating {DB_NAME}, migrate, loaddemo ({load()})")
        setup_s = create_database()
        imported = run_import(processes, path)
        conditions.append(f"after the import {load()}")
        seed = run_seed(processes, cores)
        conditions.append(f"after the seed {load()}")
        depth = seed.job.max_zoom
        export_s, tippecanoe = run_tippecanoe(path, depth)
        conditions.append(f"after tippecanoe {load()}")
        seeded = {(z, x, y): len(packed) for z, x, y, packed in seeded_tiles(seed.job)}
        burst = run_burst(processes, burst_tiles(seeded, args.burst))
        conditions.append(f"after the burst {load()}")
        conditions.append("the machine shared with other agents' tests and benchmarks")
        commit += moved_note(commit)
        text = report(
            args=args, setup_s=setup_s, imported=imported, seed=seed, export_s=export_s,
            tippecanoe=tippecanoe, burst=burst, conditions=conditions, commit=commit,
        )  # fmt: skip
        print(text, flush=True)
        if not args.no_write:
            write_section(text)
    finally:
        processes.stop_all()
        purge_queues()
        clear_caches()
        if not args.keep_db:
            drop_database()


if __name__ == "__main__":
    main()
