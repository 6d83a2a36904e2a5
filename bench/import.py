"""Import benchmark: 1,000,000 points and 200,000 polygons loaded by our import and, in the same run
into the same database, by `ogr2ogr -f PostgreSQL` with PG_USE_COPY=YES (the floor: GDAL writing a
fresh table with COPY and building one GiST index afterwards).

Ours does more per feature: it reads with pyogrio, stages with COPY into an unlogged table,
transforms, checks validity (and repairs), builds JSONB attributes, then fills a fresh table like
the layer's partition (generated 3857 copy and search text), builds its three indexes in bulk and
swaps it in (layers/partitions.py). bench/import_insert.py measured what the row-by-row insert into
the shared table cost before the partitioning.
We report features per second for both and the ratio; the issue aims at half of ogr2ogr's rate or
better.

Run with `bash bench/import.sh [--points N] [--polygons N] [--repeat R]`; writes its section of
bench/RESULTS.md. The synthetic files (GeoPackage, around Huế, Vietnamese names) are cached in
var/bench/import/.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mapserver.settings")
# The import's data change reaches the tile hooks: keep them off the developer's cache and broker.
os.environ["TILE_CACHE_DIR"] = tempfile.mkdtemp(prefix="bench-import-tiles-")
os.environ["CELERY_BROKER_URL"] = "memory://"
os.environ["CELERY_TASK_ALWAYS_EAGER"] = "false"
sys.path.insert(0, str(ROOT))

import django  # noqa: E402

django.setup()

import numpy as np  # noqa: E402
import shapely  # noqa: E402
from django.conf import settings  # noqa: E402
from django.db import connection  # noqa: E402
from pyogrio.raw import write  # noqa: E402

from layers.imports import import_run  # noqa: E402
from layers.models import Category, ImportJob, Layer  # noqa: E402

DATA_DIR = ROOT / "var" / "bench" / "import"
RESULTS = ROOT / "bench" / "RESULTS.md"
SECTION_START = "<!-- import-bench:start -->"
SECTION_END = "<!-- import-bench:end -->"
FLOOR_TABLE = "bench_import_ogr2ogr"
TABLE_HEAD = (
    "| data | ogr2ogr (s) | ogr2ogr features/s | ours (s) | ours features/s | ours / ogr2ogr "
    "| ours: read / check / write (s) |"
)
KINDS = ["trường học", "chợ", "đình", "chùa", "bệnh viện", "công viên"]


def say(text: str) -> None:
    print(text, flush=True)


def make_points(path: Path, count: int) -> None:
    rng = np.random.default_rng(3)
    x, y = rng.uniform(107.45, 107.75, count), rng.uniform(16.35, 16.60, count)
    ids = np.arange(count, dtype=np.int64)
    write(
        str(path),
        shapely.to_wkb(shapely.points(x, y)),
        [
            ids,
            np.array([f"Điểm số {i}" for i in range(count)], dtype=object),
            np.array(KINDS, dtype=object)[ids % len(KINDS)],
            rng.uniform(0, 1000, count),
        ],
        ["ma", "ten", "loai", "gia_tri"],
        driver="GPKG",
        layer="points",
        geometry_type="Point",
        crs="EPSG:4326",
    )


def make_polygons(path: Path, count: int) -> None:
    """Write building-like rectangles (8-25 m, slightly rotated) over ~15 x 15 km around Huế."""
    rng = np.random.default_rng(4)
    cx, cy = rng.uniform(107.52, 107.66, count), rng.uniform(16.40, 16.53, count)
    half_w = rng.uniform(4, 12.5, count) / 106_000
    half_h = rng.uniform(4, 12.5, count) / 110_000
    angle = rng.uniform(0, np.pi / 2, count)
    corners = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1], [-1, -1]], dtype=float)
    cos, sin = np.cos(angle)[:, None], np.sin(angle)[:, None]
    dx, dy = corners[None, :, 0] * half_w[:, None], corners[None, :, 1] * half_h[:, None]
    ring_x, ring_y = cx[:, None] + dx * cos - dy * sin, cy[:, None] + dx * sin + dy * cos
    rings = np.stack([ring_x, ring_y], axis=-1)
    polygons = shapely.polygons(rings)
    ids = np.arange(count, dtype=np.int64)
    write(
        str(path),
        shapely.to_wkb(polygons),
        [
            ids,
            np.array([f"Nhà số {i}" for i in range(count)], dtype=object),
            rng.integers(1, 12, count),
            shapely.area(polygons) * 106_000 * 110_000,
        ],
        ["ma", "ten", "so_tang", "dien_tich"],
        driver="GPKG",
        layer="polygons",
        geometry_type="Polygon",
        crs="EPSG:4326",
    )


def dataset(name: str, count: int, maker) -> Path:
    path = DATA_DIR / f"{name}-{count}.gpkg"
    if not path.exists():
        DATA_DIR.mkdir(parents=True, exist_ok=True)
        say(f"writing {path.relative_to(ROOT)}")
        maker(path.with_suffix(".tmp.gpkg"), count)
        path.with_suffix(".tmp.gpkg").rename(path)
    return path


def pg_connection_string() -> str:
    db = settings.DATABASES["default"]
    return (
        f"PG:dbname={db['NAME']} host={db['HOST'] or '127.0.0.1'} port={db['PORT'] or 5432} "
        f"user={db['USER']} password={db['PASSWORD']}"
    )


def drop_floor_table() -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {FLOOR_TABLE}")  # a constant name, no input


def run_ogr2ogr(path: Path) -> float:
    drop_floor_table()
    started = time.monotonic()
    subprocess.run(
        ["ogr2ogr", "--config", "PG_USE_COPY", "YES", "-f", "PostgreSQL", pg_connection_string(),
         str(path), "-nln", FLOOR_TABLE, "-lco", "GEOMETRY_NAME=geom", "-overwrite"],
        check=True,
    )  # fmt: skip
    seconds = time.monotonic() - started
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {FLOOR_TABLE}")
        loaded = cursor.fetchone()[0]
    drop_floor_table()
    return seconds, loaded


def bench_layer(slug: str) -> Layer:
    Layer.objects.filter(slug=slug).delete()
    category, _ = Category.objects.get_or_create(
        slug="bench", defaults={"name_vi": "Đo hiệu năng", "name_en": "Benchmarks"}
    )
    return Layer.objects.create(slug=slug, title_vi=slug, category=category, status="draft")


def run_ours(path: Path, slug: str) -> tuple[float, ImportJob]:
    layer = bench_layer(slug)
    job = ImportJob.objects.create(layer=layer, mode=ImportJob.Mode.REPLACE, source_name=path.name)
    started = time.monotonic()
    job = import_run(job=job, source_path=path)
    seconds = time.monotonic() - started
    if job.status != ImportJob.Status.SUCCEEDED:
        raise SystemExit(f"our import failed: {job.messages}")
    layer.delete()  # its features go with it
    return seconds, job


def versions() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT split_part(version(), ',', 1), postgis_lib_version()")
        pg, postgis = cursor.fetchone()
    gdal = subprocess.run(["ogr2ogr", "--version"], capture_output=True, text=True).stdout.strip()
    import pyogrio

    return (
        f"{os.cpu_count()} cores, {platform.platform()}; {pg}, PostGIS {postgis}; ogr2ogr: "
        f"{gdal.split(',')[0]}; ours: pyogrio {pyogrio.__version__} "
        f"(GDAL {pyogrio.__gdal_version_string__})"
    )


def write_section(text: str) -> None:
    current = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n"
    block = f"{SECTION_START}\n{text.rstrip()}\n{SECTION_END}"
    if SECTION_START in current and SECTION_END in current:
        head, rest = current.split(SECTION_START, 1)
        tail = rest.split(SECTION_END, 1)[1]
        current = head + block + tail
    else:
        current = current.rstrip() + "\n\n" + block + "\n"
    RESULTS.write_text(current)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--polygons", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=1, help="best of this many runs each")
    parser.add_argument("--no-write", action="store_true", help="do not touch bench/RESULTS.md")
    args = parser.parse_args()

    rows = []
    for name, count, maker in (
        ("points", args.points, make_points),
        ("polygons", args.polygons, make_polygons),
    ):
        path = dataset(name, count, maker)
        floor_best, ours_best, best_job = None, None, None
        for attempt in range(1, args.repeat + 1):
            floor_s, loaded = run_ogr2ogr(path)
            say(f"{name} #{attempt}: ogr2ogr {floor_s:.1f} s ({loaded:,} rows)")
            ours_s, job = run_ours(path, f"bench-import-{name}")
            say(f"{name} #{attempt}: ours {ours_s:.1f} s ({job.imported_count:,}) {job.report}")
            assert loaded == job.imported_count == count, (loaded, job.imported_count, count)
            floor_best = min(floor_best or floor_s, floor_s)
            if ours_best is None or ours_s < ours_best:
                ours_best, best_job = ours_s, job
        timings = best_job.report["timings"]
        rows.append(
            f"| {count:,} {name} | {floor_best:.1f} | {count / floor_best:,.0f} | {ours_best:.1f} "
            f"| {count / ours_best:,.0f} | {floor_best / ours_best:.2f} | {timings['read']:.1f} "
            f"/ {timings['check']:.1f} / {timings['write']:.1f} |"
        )

    command = "bash bench/import.sh" + (
        f" --points {args.points} --polygons {args.polygons}"
        if (args.points, args.polygons) != (1_000_000, 200_000)
        else ""
    )
    text = f"""## Import

{date.today().isoformat()} · {versions()} · `{command}` (best of {args.repeat}) · synthetic
GeoPackages around Huế (Vietnamese names, 4 attributes), EPSG:4326.

Both load the same file into the same database in the same run. ogr2ogr (`-f PostgreSQL`,
`PG_USE_COPY=YES`) writes a fresh table and builds its one GiST index at the end. Ours reads with
pyogrio, stages with COPY into an unlogged table, checks and repairs in SQL, fills a fresh table
like the layer's partition (with the generated 3857 copy and search text), builds its primary key,
GiST and trigram indexes in bulk, analyzes it and swaps it in for the layer's partition; the checks,
the fill and the index builds of a large file run on two database sessions at once
(`IMPORT_SESSIONS`; docs/import.md).

{TABLE_HEAD}
|---|---|---|---|---|---|---|
{chr(10).join(rows)}
"""
    say(text)
    if not args.no_write:
        write_section(text)


if __name__ == "__main__":
    main()
