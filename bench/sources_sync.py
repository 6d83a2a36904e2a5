"""Layer sources benchmark: what a sync of a large source costs when 1 % of it changed, written by
upsert (only the changed features) beside replace (the whole layer swapped), issue 14.

In a database of its own (`bench_sources` on the server of DATABASE_URL, made and migrated at the
start, dropped at the end): a GeoJSON file of N points around Huế is served by Python's
http.server on loopback; two layers are fed from it, one per mode, by the real sync
(`sources.services.source_sync`, in this process: download through the guard proxy, GDAL, the
import's staging and preparation, the write). After a first sync of each, round by round, 1 % of
the points are changed at the source (half renamed, half moved) and 0.5 % replaced by new keys,
and both layers are synced again, in alternating order. Reported: the median time of a sync, the
rows written and the tile-change rows recorded (what the tile invalidation has to rebuild).

Run with `.venv/bin/python bench/sources_sync.py [--features N] [--rounds R]`; writes its section
of bench/RESULTS.md unless `--no-write`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import date
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import environ

ROOT = Path(__file__).resolve().parent.parent
DB_NAME = "bench_sources"
RESULTS = ROOT / "bench" / "RESULTS.md"
SECTION_START, SECTION_END = "<!-- sources-bench:start -->", "<!-- sources-bench:end -->"


def _bench_environment() -> dict[str, str]:
    environ.Env.read_env(ROOT / ".env", overwrite=False)
    base = os.environ.get("DATABASE_URL", "postgis://mapserver:mapserver@127.0.0.1:5432/mapserver")
    return {
        "BENCH_SOURCES_BASE_DATABASE_URL": base,
        "DATABASE_URL": urlunsplit(urlsplit(base)._replace(path=f"/{DB_NAME}")),
        "DJANGO_SETTINGS_MODULE": "mapserver.settings",
        "DEBUG": "false",
        "SECRET_KEY": os.environ.get("SECRET_KEY") or "bench-sources-only",
        "CELERY_BROKER_URL": "memory://",
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "TILE_CACHE_DIR": tempfile.mkdtemp(prefix="bench-sources-tiles-"),
        "MEDIA_ROOT": tempfile.mkdtemp(prefix="bench-sources-media-"),
        "SOURCES_ALLOWED_NETWORKS": "127.0.0.0/8",
        "EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend",
        "DB_APPLICATION_NAME": "bench-sources",
    }


os.environ.update(_bench_environment())
sys.path.insert(0, str(ROOT))

import django  # noqa: E402

django.setup()

import psycopg  # noqa: E402
from django.db import connections  # noqa: E402
from django.db.models import Sum  # noqa: E402
from psycopg import sql  # noqa: E402

from layers.models import Category, Layer, TileChange  # noqa: E402
from layers.tiles.services import FULL_REBUILD_FEATURES  # noqa: E402
from sources import services  # noqa: E402
from sources.models import LayerSource, SourceRun  # noqa: E402


def say(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", flush=True)


def admin_connection() -> psycopg.Connection:
    parts = urlsplit(os.environ["BENCH_SOURCES_BASE_DATABASE_URL"])
    return psycopg.connect(
        host=parts.hostname or "127.0.0.1", port=parts.port or 5432,
        user=parts.username, password=parts.password or None,
        dbname="postgres", autocommit=True,
    )  # fmt: skip


def drop_database() -> None:
    connections.close_all()
    with admin_connection() as admin:
        admin.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(DB_NAME))
        )


def create_database() -> None:
    drop_database()
    with admin_connection() as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DB_NAME)))
    subprocess.run(
        [ROOT / ".venv" / "bin" / "python", "manage.py", "migrate", "--noinput", "-v0"],
        cwd=ROOT,
        check=True,
    )


def points(n: int, rng: random.Random) -> dict[int, list]:
    """Return n points around Huế by key: [name, kind, lon, lat]."""
    return {
        key: [f"Điểm {key}", rng.choice(["chợ", "trường", "trạm y tế"]),
              round(107.4 + rng.random() * 0.5, 6), round(16.3 + rng.random() * 0.35, 6)]
        for key in range(n)
    }  # fmt: skip


def write(path: Path, data: dict[int, list]) -> None:
    features = [
        {
            "type": "Feature",
            "properties": {"ma": key, "ten": name, "loai": kind},
            "geometry": {"type": "Point", "coordinates": [lon, lat]},
        }
        for key, (name, kind, lon, lat) in data.items()
    ]
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))


def change(data: dict[int, list], rng: random.Random, next_key: int, share: float) -> int:
    """Change `share` of the points (half renamed, half moved) and replace half as many by new
    keys; return the next key."""
    keys = rng.sample(sorted(data), int(len(data) * share))
    for i, key in enumerate(keys):
        if i % 2:
            data[key][0] += " (mới)"
        else:
            data[key][2] = round(data[key][2] + 0.0003, 6)
    for key in rng.sample(sorted(data), int(len(data) * share / 2)):
        del data[key]
        data[next_key] = [f"Điểm {next_key}", "chợ", round(107.4 + rng.random() * 0.5, 6),
                          round(16.3 + rng.random() * 0.35, 6)]  # fmt: skip
        next_key += 1
    return next_key


def sync(source: LayerSource) -> tuple[float, SourceRun, int]:
    """Sync; return the time, the run and how many features the tile invalidation follows."""
    TileChange.objects.filter(layer_id=source.layer_id).delete()
    started = time.perf_counter()
    run = services.source_sync(source=source, trigger=SourceRun.Trigger.MANUAL)
    seconds = time.perf_counter() - started
    assert run.status == "succeeded", run.error
    followed = TileChange.objects.filter(layer_id=source.layer_id).aggregate(n=Sum("feature_count"))
    return seconds, run, followed["n"] or 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--features", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--changed", type=float, default=0.2, help="percent changed a round")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    rng = random.Random(14)
    say(f"creating {DB_NAME}")
    create_database()
    folder = Path(tempfile.mkdtemp(prefix="bench-sources-files-"))
    server = ThreadingHTTPServer(
        ("127.0.0.1", 0), partial(SimpleHTTPRequestHandler, directory=str(folder))
    )
    server.RequestHandlerClass.log_message = lambda *a: None
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/points.geojson"
    try:
        data = points(args.features, rng)
        next_key = args.features
        write(folder / "points.geojson", data)
        size = (folder / "points.geojson").stat().st_size
        category = Category.objects.create(slug="bench", name_vi="Bench", name_en="Bench")
        sources = {}
        for mode in ("upsert", "replace"):
            layer = Layer.objects.create(
                slug=f"bench-{mode}", title_vi=mode, category=category, status="ready"
            )
            source = LayerSource(layer=layer, kind="file", url=url, mode=mode)
            source.key_field = "ma" if mode == "upsert" else ""
            sources[mode] = services.source_save(source=source)
            seconds, run, _ = sync(sources[mode])
            say(f"first sync ({mode}): {seconds:.1f} s, {run.added:,} added")
        times = {"upsert": [], "replace": []}
        written = {"upsert": [], "replace": []}
        boxes = {"upsert": [], "replace": []}
        for round_ in range(args.rounds):
            next_key = change(data, rng, next_key, args.changed / 100)
            write(folder / "points.geojson", data)
            order = ("upsert", "replace") if round_ % 2 == 0 else ("replace", "upsert")
            for mode in order:
                seconds, run, box_count = sync(sources[mode])
                times[mode].append(seconds)
                written[mode].append(run.added + run.changed + run.removed)
                boxes[mode].append(box_count)
                say(
                    f"round {round_ + 1} {mode}: {seconds:.2f} s, +{run.added} ~{run.changed} "
                    f"-{run.removed} ={run.unchanged}, tiles follow {box_count} features"
                )
        up, rep = statistics.median(times["upsert"]), statistics.median(times["replace"])

        def tiles(mode: str) -> str:
            followed = statistics.median(boxes[mode])
            if followed > FULL_REBUILD_FEATURES:
                return f"{followed:,.0f} features: the whole layer reset"
            return f"{followed:,.0f} features: only their tiles"

        changed = statistics.median(written["upsert"])
        title = f"a sync with {args.changed:g} % changed, upsert beside replace (issue 14)"
        command = f"--features {args.features} --rounds {args.rounds} --changed {args.changed:g}"
        text = f"""## Layer sources: {title}

`bench/sources_sync.py {command}`, {date.today()}, {platform.machine()}, {os.cpu_count()} CPUs
(shared with other work: read ratios, not seconds). A GeoJSON file of {args.features:,} points
({size / 2**20:.1f} MiB) on http.server; each round changes {args.changed:g} % of the points at
the source (half renamed, half moved) and
replaces half as many by new keys; both layers are synced by the real sync (download through the
guard proxy, GDAL, staging, preparation, write), in alternating order. Median of {args.rounds}
rounds:

| mode | sync time | rows written | tile invalidation follows |
|---|---|---|---|
| upsert by key | {up:.2f} s | {changed:,.0f} | {tiles("upsert")} |
| replace | {rep:.2f} s | {statistics.median(written["replace"]):,.0f} | {tiles("replace")} |

Upsert takes {up / rep:.2f}{chr(0xD7)} the time of replace: both read, stage and prepare the whole
source, which is most of a sync, and upsert then compares every feature by key and content hash.
It writes {changed / max(statistics.median(written["replace"]), 1) * 100:.1f} % of the rows
replace writes (and of the history), and when fewer than {FULL_REBUILD_FEATURES:,} features
changed (the tile invalidation's limit, layers/tiles/services.py) only the tiles over them are
rebuilt, where replace resets the layer's whole tile cache.
"""
        print(text)
        if not args.no_write:
            current = RESULTS.read_text() if RESULTS.exists() else ""
            block = f"{SECTION_START}\n{text.rstrip()}\n{SECTION_END}"
            if SECTION_START in current and SECTION_END in current:
                head, rest = current.split(SECTION_START, 1)
                current = head + block + rest.split(SECTION_END, 1)[1]
            else:
                current = current.rstrip() + "\n\n" + block + "\n"
            RESULTS.write_text(current)
    finally:
        server.shutdown()
        drop_database()


if __name__ == "__main__":
    main()
