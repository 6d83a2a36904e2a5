"""Tile benchmark: each figure beside its reference measured in the same run, as ratios.

(a) uncached tiles through our endpoint (gunicorn) vs the bare `ST_AsMVT` statement (no
    generalisation) and our own tile SQL run directly with psycopg, vs TiPg (FastAPI + asyncpg,
    under uvicorn) serving the same rows through a view, and vs MapServer 8 (CGI) on the same table;
(b) cached public tiles through nginx (deploy/nginx.conf.template) and through Django vs nginx
    serving the same files as plain static files (wrk on 127.0.0.1, bounded in time);
(c) seeding z0-z16 of 200,000 buildings with two Celery workers vs tippecanoe on the same data.

Run with `bash bench/tiles.sh` (installs the tools); `--only uncached` measures (a) alone and
`--only cached` (b) alone. Writes its section of bench/RESULTS.md; each (a) run moves the previous
one to the section's history.
"""

from __future__ import annotations

import argparse
import gzip
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORK = Path(tempfile.mkdtemp(prefix="bench-tiles-"))
WORK.chmod(0o755)  # nginx workers (www-data) read the cache below it
CACHE = WORK / "tiles"
os.environ["TILE_CACHE_DIR"] = str(CACHE)
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mapserver.settings")
sys.path.insert(0, str(ROOT))

import django  # noqa: E402
import mapbox_vector_tile  # noqa: E402

django.setup()

import psycopg  # noqa: E402
import psycopg.sql  # noqa: E402
from buildings import BUILDINGS, SLUG, buildings_layer  # noqa: E402  (bench/ is on sys.path)
from django.conf import settings  # noqa: E402
from django.db import connection  # noqa: E402

from layers.models import Layer, TileJob  # noqa: E402
from layers.tiles.cache import TileKey, tile_cache  # noqa: E402
from layers.tiles.grid import TileCoord  # noqa: E402
from layers.tiles.nginx import NginxSite, standalone_config  # noqa: E402
from layers.tiles.render import tile_spec  # noqa: E402
from layers.tiles.seed import seed_plan  # noqa: E402
from layers.tiles.sql import TileSQL  # noqa: E402

WEB_PORT, NGINX_PORT, TIPG_PORT = 18765, 18766, 18767
VENV = ROOT / ".venv" / "bin"
RESULTS = ROOT / "bench" / "RESULTS.md"
X = "\N{MULTIPLICATION SIGN}"


def say(text: str) -> None:
    print(text, flush=True)


def psycopg_dsn() -> str:
    db = settings.DATABASES["default"]
    return (
        f"host={db['HOST'] or '127.0.0.1'} port={db['PORT'] or 5432} dbname={db['NAME']} "
        f"user={db['USER']} password={db['PASSWORD']}"
    )


def sample_tiles(layer: Layer) -> dict[int, list[TileCoord]]:
    """Return, per zoom, tiles with data spread over the layer (every 7th of the plan)."""
    plan = seed_plan(layer=layer, min_zoom=12, max_zoom=16)
    by_zoom: dict[int, list[TileCoord]] = {}
    for z in (12, 14, 16):
        tiles = [t for t in plan if t.z == z]
        by_zoom[z] = tiles[:: max(1, len(tiles) // 15)][:15]
    return by_zoom


# Best of this many runs per tile: on a shared 2-core machine one run in three is often delayed.
REPEAT = 5


def timed(func, repeat: int = REPEAT) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return min(times)


def start_web() -> subprocess.Popen:
    env = {**os.environ, "DEBUG": "false", "TILE_CACHE_DIR": str(CACHE)}
    env.setdefault("SECRET_KEY", "bench-only")
    web = subprocess.Popen(
        [VENV / "gunicorn", "mapserver.wsgi", "--bind", f"127.0.0.1:{WEB_PORT}", "--workers", "2",
         "--log-level", "warning"],
        cwd=ROOT, env=env,
    )  # fmt: skip
    wait_until_up(f"http://127.0.0.1:{WEB_PORT}/healthz", tries=100)
    return web


def wait_until_up(url: str, *, tries: int) -> None:
    """Return once `url` answers (or after `tries` attempts 0.2 s apart)."""
    for _ in range(tries):
        try:
            urllib.request.urlopen(url, timeout=1)
            return
        except Exception:
            time.sleep(0.2)


def fetch(url: str) -> bytes:
    request = urllib.request.Request(url, headers={"Accept-Encoding": "gzip"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.read()


def fetch_uncached(url: str, key: TileKey, cache) -> float:
    """Time a request for a tile that is not cached, then wait for the server to cache it.

    The server writes the tile after sending it: the next request must not find it there early.
    """
    cache.delete(key)
    start = time.perf_counter()
    body = fetch(url)
    elapsed = time.perf_counter() - start
    deadline = time.monotonic() + 10
    while body and not cache.exists(key) and time.monotonic() < deadline:
        time.sleep(0.001)
    return elapsed


MAPFILE = """
MAP
  NAME "bench"
  EXTENT -20037508.34 -20037508.34 20037508.34 20037508.34
  SIZE 512 512
  PROJECTION "init=epsg:3857" END
  OUTPUTFORMAT
    NAME "mvt"
    DRIVER MVT
    FORMATOPTION "EXTENT=4096"
    FORMATOPTION "EDGE_BUFFER=64"
  END
  WEB METADATA "ows_enable_request" "*" END END
  LAYER
    NAME "{slug}"
    TYPE POLYGON
    STATUS ON
    CONNECTIONTYPE POSTGIS
    CONNECTION "{dsn}"
    DATA "geom_3857 from (select id, geom_3857, attributes->>'height' as height
          from layers_feature where layer_id = {layer_id}) as t using unique id using srid=3857"
    PROJECTION "init=epsg:3857" END
    METADATA "gml_include_items" "height" "gml_types" "auto" END
  END
END
"""


def mapserver_tile(mapfile: Path, config: Path, coord: TileCoord) -> bytes:
    env = {
        "MAPSERVER_CONFIG_FILE": str(config),
        "REQUEST_METHOD": "GET",
        "QUERY_STRING": f"map={mapfile}&mode=tile&tilemode=gmap&tile={coord.x}+{coord.y}+{coord.z}"
        f"&layers={SLUG}&map.imagetype=mvt",
    }
    output = subprocess.run(["mapserv"], env=env, capture_output=True, check=True).stdout
    return output.split(b"\r\n\r\n", 1)[-1]


# TiPg serves a table or view it finds in the catalogue: this view holds the benchmark layer's rows
# with the attributes our tiles carry (the feature id and `height`), its geometry in EPSG:3857.
TIPG_VIEW = "bench_tipg_buildings"


def tipg_view(layer: Layer | None) -> None:
    """Create the view TiPg serves (the layer's features: id, height, geometry), or drop it.

    It is dropped after the run: a view on `layers_feature` would stop a migration that
    rebuilds the table.
    """
    view = psycopg.sql.Identifier(TIPG_VIEW)
    query = psycopg.sql.SQL("DROP VIEW IF EXISTS {view}").format(view=view)
    if layer is not None:
        query = psycopg.sql.SQL(
            "CREATE OR REPLACE VIEW {view} AS SELECT id, (attributes ->> 'height')::int AS height,"
            " geom_3857 AS geom FROM layers_feature WHERE layer_id = {layer_id}"
        ).format(view=view, layer_id=psycopg.sql.Literal(layer.pk))
    with psycopg.connect(psycopg_dsn(), autocommit=True) as pg:
        pg.execute(query)


def start_tipg() -> subprocess.Popen:
    """Run TiPg under uvicorn on the benchmark view, with our tiles' buffer and feature limit."""
    db = settings.DATABASES["default"]
    env = {
        **os.environ,
        "DATABASE_URL": f"postgresql://{db['USER']}:{db['PASSWORD']}@{db['HOST'] or '127.0.0.1'}"
        f":{db['PORT'] or 5432}/{db['NAME']}",
        "TIPG_DB_TABLES": f'["public.{TIPG_VIEW}"]',
        "TIPG_DB_SPATIAL_EXTENT": "false",
        "TIPG_DB_DATETIME_EXTENT": "false",
        "TIPG_CATALOG_TTL": "0",  # no catalogue refresh in the middle of a timed request
        "TIPG_TILE_BUFFER": str(TileSQL.buffer),
        "TIPG_MAX_FEATURES_PER_TILE": str(TileSQL.max_features),
    }
    tipg = subprocess.Popen(
        [VENV / "uvicorn", "tipg.main:app", "--host", "127.0.0.1", "--port", str(TIPG_PORT),
         "--log-level", "warning", "--no-access-log"],
        cwd=WORK, env=env,  # not the repository: TiPg reads a .env of its working directory
    )  # fmt: skip
    wait_until_up(f"http://127.0.0.1:{TIPG_PORT}/healthz", tries=150)
    return tipg


def tipg_url(coord: TileCoord) -> str:
    return (
        f"http://127.0.0.1:{TIPG_PORT}/collections/public.{TIPG_VIEW}/tiles/WebMercatorQuad/"
        f"{coord.z}/{coord.x}/{coord.y}"
    )


def bare_query() -> str:
    """Return the bare tile statement: the features meeting the buffered tile, `ST_AsMVTGeom`.

    No size filter, no simplification, no size order: what a minimal tile server runs (TiPg's own
    statement, with the layer filter and the `(layer_id, geom_3857)` index of ours).
    """
    return """
        WITH t AS (
            SELECT f.id, ST_AsMVTGeom(f.geom_3857, ST_TileEnvelope(%(z)s, %(x)s, %(y)s),
                                      %(extent)s, %(buffer)s, true) AS geom,
                   jsonb_build_object('height', f.attributes -> 'height') AS attributes
            FROM layers_feature AS f
            WHERE f.layer_id = %(layer_id)s
              AND f.geom_3857 && ST_TileEnvelope(%(z)s, %(x)s, %(y)s, margin => %(margin)s)
            LIMIT %(max_features)s
        )
        SELECT ST_AsMVT(t.*, %(name)s, %(extent)s, 'geom', 'id') FROM t
    """


@dataclass
class Contender:
    """One way of serving the tiles: per-tile best times, and sizes and contents of the tiles."""

    name: str
    times_s: list[float] = field(default_factory=list)
    raw_bytes: list[int] = field(default_factory=list)
    gzip_bytes: list[int] = field(default_factory=list)
    features: int = 0
    keys: set[str] = field(default_factory=set)

    def measure(self, func, repeat: int = REPEAT) -> None:
        self.times_s.append(timed(func, repeat))

    def content(self, raw: bytes, gzipped: bytes | None = None) -> None:
        """Record a tile's size (raw and gzip at level 6 unless given) and what it holds."""
        self.raw_bytes.append(len(raw))
        self.gzip_bytes.append(len(gzipped if gzipped is not None else gzip.compress(raw, 6)))
        for layer in mapbox_vector_tile.decode(raw).values() if raw else ():
            self.features += len(layer["features"])
            for feature in layer["features"]:
                self.keys.update(feature["properties"])
                if feature.get("id"):  # 0 when the tile gives none (protobuf default)
                    self.keys.add("(feature id)")

    @property
    def median_s(self) -> float:
        return statistics.median(self.times_s)


def gunzipped(body: bytes) -> bytes:
    return gzip.decompress(body) if body[:2] == b"\x1f\x8b" else body


def bench_uncached(layer: Layer, tiles: dict[int, list[TileCoord]]) -> list[str]:
    """Time each tile by each contender in turn (interleaved), best of REPEAT per tile."""
    spec, tile_sql, cache = tile_spec(layer), TileSQL(), tile_cache()
    mapfile, config = WORK / "bench.map", WORK / "mapserver.conf"
    mapfile.write_text(MAPFILE.format(slug=SLUG, dsn=psycopg_dsn(), layer_id=layer.pk))
    config.write_text(f'CONFIG\n  ENV\n    MS_MAP_PATTERN "^{WORK}/"\n  END\nEND\n')
    times = [
        "| zoom | tiles | bare ST_AsMVT (ms) | our SQL (ms) | our endpoint (ms) | ours / bare "
        "| TiPg (ms) | TiPg / bare | ours / TiPg | MapServer 8 (ms) | MapServer / bare |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    sizes = [
        "| zoom | server | features (all tiles) | attributes | largest tile KiB raw / gzip "
        "| all tiles KiB gzip | gzip bytes per feature |",
        "|---|---|---|---|---|---|---|",
    ]
    with psycopg.connect(psycopg_dsn(), autocommit=True) as pg:
        for z, coords in tiles.items():
            names = ("bare ST_AsMVT", "our SQL", "ours", "TiPg", "MapServer")
            bare, ours_sql, ours, tipg, ms = (Contender(name) for name in names)
            for coord in coords:
                params = tile_sql.params(spec, coord)
                query = tile_sql.query(spec, coord)
                bare.content(pg.execute(bare_query(), params).fetchone()[0] or b"")
                bare.measure(lambda p=params: pg.execute(bare_query(), p).fetchone())
                ours_sql.measure(lambda q=query, p=params: pg.execute(q, p).fetchone())
                url = f"http://127.0.0.1:{WEB_PORT}/tiles/{SLUG}/{coord.z}/{coord.x}/{coord.y}.pbf"
                key = TileKey("public", SLUG, coord)
                ours.times_s.append(min(fetch_uncached(url, key, cache) for _ in range(REPEAT)))
                body = fetch(url)
                ours.content(gunzipped(body), body)
                tipg.measure(lambda c=coord: fetch(tipg_url(c)))
                body = fetch(tipg_url(coord))
                tipg.content(gunzipped(body), body)
                ms.measure(lambda c=coord: mapserver_tile(mapfile, config, c))
                ms.content(mapserver_tile(mapfile, config, coord))
            b = bare.median_s
            times.append(
                f"| z{z} | {len(coords)} | {b * 1000:.1f} | {ours_sql.median_s * 1000:.1f} "
                f"| {ours.median_s * 1000:.1f} | {ours.median_s / b:.2f}{X} "
                f"| {tipg.median_s * 1000:.1f} | {tipg.median_s / b:.2f}{X} "
                f"| {ours.median_s / tipg.median_s:.2f}{X} "
                f"| {ms.median_s * 1000:.1f} | {ms.median_s / b:.2f}{X} |"
            )
            say(times[-1])
            for who in (bare, ours, tipg, ms):
                largest = max(range(len(coords)), key=lambda i, w=who: w.raw_bytes[i])
                sizes.append(
                    f"| z{z} | {who.name} | {who.features:,} | {', '.join(sorted(who.keys))} "
                    f"| {who.raw_bytes[largest] / 1024:.0f} / {who.gzip_bytes[largest] / 1024:.0f} "
                    f"| {sum(who.gzip_bytes) / 1024:.0f} "
                    f"| {sum(who.gzip_bytes) / max(1, who.features):.1f} |"
                )
                say(sizes[-1])
    return [*times, "", *sizes]


# (b) cached public tiles. The reference is nginx at its plainest: a prefix location sending the
# same cache folder as static files (gzip_static, nothing else). The rounds are interleaved (the
# order flips each round) on a shared machine; each round's ratio is taken against the reference
# of the same round, and the reference is measured twice per round (A/A: the run's own noise).
# nginx's CPU time per request, read from its one worker process, is the steadier figure.
NGINX_EXTRA = """
    location /static-tiles/ {{
        alias {cache}/public/;
        gzip_static always;
        gunzip on;
        types {{ }}
        default_type application/vnd.mapbox-vector-tile;
    }}
"""
CACHED_ROUNDS = 7
WRK_SECONDS = 4


def nginx_conf() -> Path:
    """Write the shipped nginx site (deploy/nginx.conf.template) plus a plain static route."""
    site = NginxSite(listen=f"127.0.0.1:{NGINX_PORT}", upstream=f"127.0.0.1:{WEB_PORT}").render()
    extra = NGINX_EXTRA.format(cache=CACHE)
    site = site.replace("    location @django {", extra + "\n    location @django {")
    site_path = WORK / "site.conf"
    site_path.write_text(site)
    path = WORK / "nginx.conf"
    path.write_text(
        standalone_config(
            site=site_path, work_dir=WORK, http_extra="open_file_cache max=10000 inactive=60s;"
        )
    )
    return path


def wrk(url: str, seconds: int = WRK_SECONDS) -> tuple[float, int]:
    """Return requests per second and the number of requests of one wrk run."""
    output = subprocess.run(
        ["wrk", "-t2", "-c50", f"-d{seconds}s", "-H", "Accept-Encoding: gzip", url],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    return rate, int(re.search(r"(\d+) requests in", output).group(1))


def cpu_seconds(pids: list[int]) -> float:
    """Return the CPU time (user + system) the processes have used so far."""
    ticks = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def children(pid: int) -> list[int]:
    return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def bench_cached(layer: Layer, tiles: dict[int, list[TileCoord]]) -> list[str]:
    coord = tiles[14][len(tiles[14]) // 2]
    path = f"{SLUG}/{coord.z}/{coord.x}/{coord.y}.pbf"
    fetch(f"http://127.0.0.1:{WEB_PORT}/tiles/{path}?v={layer.version}")  # renders, caches it
    deadline = time.monotonic() + 10
    while not tile_cache().get(TileKey("public", SLUG, coord, layer.version)):
        assert time.monotonic() < deadline, "the tile was not cached and published"
        time.sleep(0.01)
    nginx = subprocess.Popen(
        ["nginx", "-p", str(WORK), "-c", str(nginx_conf()), "-e", str(WORK / "error.log")]
    )
    time.sleep(1)
    urls = {
        "static": f"http://127.0.0.1:{NGINX_PORT}/static-tiles/{path}",
        "nginx": f"http://127.0.0.1:{NGINX_PORT}/tiles/{path}?v={layer.version}",
        "static again": f"http://127.0.0.1:{NGINX_PORT}/static-tiles/{path}",
    }
    rates: dict[str, list[float]] = {name: [] for name in urls}
    cpu_us: dict[str, list[float]] = {name: [] for name in urls}
    try:
        via_nginx = fetch(urls["nginx"])
        static = fetch(f"http://127.0.0.1:{NGINX_PORT}/static-tiles/{path}.gz")
        assert via_nginx == static, "nginx must send the cached file"
        [worker] = children(nginx.pid)
        for round_ in range(CACHED_ROUNDS):
            for name in list(urls) if round_ % 2 == 0 else list(reversed(urls)):
                before = cpu_seconds([worker])
                rate, requests = wrk(urls[name])
                rates[name].append(rate)
                cpu_us[name].append((cpu_seconds([worker]) - before) * 1e6 / requests)
        # Django once, after: two gunicorn workers saturate both cores, which would weigh on
        # whichever nginx run follows.
        django, _ = wrk(f"http://127.0.0.1:{WEB_PORT}/tiles/{path}?v={layer.version}")
    finally:
        nginx.send_signal(signal.SIGQUIT)
        nginx.wait(timeout=10)

    def ratio(name: str) -> float:
        return statistics.median(a / b for a, b in zip(rates[name], rates["static"], strict=True))

    def cpu(name: str) -> float:
        return statistics.median(cpu_us[name])

    rows = [
        "<!-- tiles-b:start -->",
        f"**{date.today()}**, commit {git_commit()} · {machine()} · cached z{coord.z} tile "
        f"{coord.x}/{coord.y} ({len(static) / 1024:.0f} KiB gzip) · `wrk -t2 -c50 "
        f"-d{WRK_SECONDS}s`, Accept-Encoding: gzip, keep-alive, {CACHED_ROUNDS} interleaved "
        "rounds (order flipped each round) · nginx: one worker process, the reference and our "
        "route in the same server. Requests/s are medians; the ratio is the median of each "
        "round's ratio to that round's reference; CPU is nginx's worker CPU time per request "
        "(user + system), the steadier figure when other work shares the two cores.",
        "",
        "| path | requests/s | vs nginx static | nginx CPU µs/request | static CPU / ours |",
        "|---|---|---|---|---|",
        f"| nginx serving the cache folder as plain static files (reference) "
        f"| {statistics.median(rates['static']):.0f} | 1.00{X} | {cpu('static'):.1f} | 1.00{X} |",
        f"| the same reference again (A/A: this run's noise) "
        f"| {statistics.median(rates['static again']):.0f} | {ratio('static again'):.2f}{X} "
        f"| {cpu('static again'):.1f} | {cpu('static') / cpu('static again'):.2f}{X} |",
        f"| our nginx tile route (`deploy/nginx.conf.template`, `?v=` through the version link) "
        f"| {statistics.median(rates['nginx']):.0f} | {ratio('nginx'):.2f}{X} "
        f"| {cpu('nginx'):.1f} | {cpu('static') / cpu('nginx'):.2f}{X} |",
        f"| Django (gunicorn, 2 workers), cached, one run | {django:.0f} "
        f"| {django / statistics.median(rates['static']):.2f}{X} | | |",
        "",
        "Per round (static / ours / static again, requests/s): "
        + "; ".join(
            f"{a:.0f} / {b:.0f} / {c:.0f}"
            for a, b, c in zip(*(rates[name] for name in urls), strict=True)
        )
        + ".",
        "<!-- tiles-b:end -->",
    ]
    for row in rows[5:-1]:
        say(row)
    return rows


def write_cached_results(rows: list[str]) -> None:
    """Replace (b) alone in RESULTS.md (`--only cached`)."""
    text = RESULTS.read_text()
    part = re.compile(r"<!-- tiles-b:start -->.*<!-- tiles-b:end -->", flags=re.S)
    if not part.search(text):
        raise SystemExit("RESULTS.md has no (b) block to update: run the whole benchmark.")
    RESULTS.write_text(part.sub(lambda _: "\n".join(rows), text))


def bench_seed(layer: Layer) -> list[str]:
    # Ours: an empty cache, two Celery workers (one process each) on a queue of their own.
    shutil.rmtree(CACHE / "public" / SLUG, ignore_errors=True)
    prefix = "bench-"
    queue = f"{prefix}tiles"
    env = {**os.environ, "TILE_CACHE_DIR": str(CACHE), "CELERY_QUEUE_PREFIX": prefix,
           "CELERY_TASK_ALWAYS_EAGER": "false"}  # fmt: skip
    worker = subprocess.Popen(
        [VENV / "celery", "-A", "mapserver", "worker", "-Q", queue, "--concurrency=2",
         "--loglevel=WARNING", "--without-gossip", "--without-mingle", "--hostname", f"{queue}@%h"],
        cwd=ROOT, env=env,
    )  # fmt: skip
    from django.conf import settings

    from mapserver.celery import app

    settings.CELERY_QUEUE_PREFIX = prefix
    app.conf.task_always_eager = False
    time.sleep(5)
    try:
        from layers import tasks

        job = TileJob.objects.create(layer=layer, min_zoom=0, max_zoom=16)
        start = time.perf_counter()
        tasks.tile_job_start.delay(job.pk)
        while job.status not in ("succeeded", "failed"):
            time.sleep(0.2)
            job.refresh_from_db()
        ours = time.perf_counter() - start
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=60)
    say(f"our seed: {ours:.1f} s, {job.progress_total} tiles ({job.status})")

    seq = WORK / "buildings.geojsonseq"
    db = settings.DATABASES["default"]
    start = time.perf_counter()
    subprocess.run(
        ["ogr2ogr", "-f", "GeoJSONSeq", str(seq),
         f"PG:host={db['HOST'] or '127.0.0.1'} dbname={db['NAME']} user={db['USER']} "
         f"password={db['PASSWORD']}",
         "-sql", f"SELECT id, (attributes->>'height')::int AS height, geom FROM layers_feature "
                 f"WHERE layer_id = {layer.pk}"],
        check=True,
    )  # fmt: skip
    export = time.perf_counter() - start
    start = time.perf_counter()
    subprocess.run(
        [VENV / "tippecanoe", "-q", "-f", "-Z0", "-z16", "-l", SLUG, "-o", str(WORK / "t.mbtiles"),
         str(seq)],
        check=True,
    )  # fmt: skip
    tippecanoe = time.perf_counter() - start
    say(f"tippecanoe: {tippecanoe:.1f} s (+ {export:.1f} s GeoJSONSeq export)")
    return [
        "| what | seconds | vs tippecanoe |",
        "|---|---|---|",
        f"| tippecanoe 2.72 z0-z16 from GeoJSONSeq (reference) | {tippecanoe:.1f} | 1.00{X} |",
        f"| our seed z0-z16, two Celery workers, {job.progress_total} tiles "
        f"| {ours:.1f} | {ours / tippecanoe:.2f}{X} |",
        f"| (exporting the GeoJSONSeq tippecanoe reads, not counted) | {export:.1f} | |",
    ]


def machine() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT version(), postgis_lib_version()")
        pg, postgis = cursor.fetchone()
    return (
        f"{os.cpu_count()} cores, {platform.platform()}; {pg.split(' on ')[0]}, PostGIS {postgis}"
    )


def git_commit() -> str:
    """Return the checkout's commit, marked `+` when files differ from it."""

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True).stdout

    commit = git("rev-parse", "--short", "HEAD").strip() or "unknown"
    return commit + ("+" if git("status", "--porcelain", "--untracked-files=no") else "")


def uncached_block(rows: list[str]) -> str:
    """Return (a) as RESULTS.md keeps it: when, what was measured, and the table."""
    return "\n".join([
        "<!-- tiles-a:start -->",
        f"**{date.today()}**, commit {git_commit()} · {machine()} · best of {REPEAT} per tile, "
        "median over the tiles, each tile asked of each server in turn. Ours: HTTP to gunicorn "
        "(2 sync workers), the tile removed from the cache before each request, timed to the "
        "response's last byte (lookup + render + gzip; the cache write follows the response). "
        "TiPg 1.6.1 under uvicorn (1 worker) on a view of the same rows (id, height, geometry), "
        "our buffer (64) and feature limit (10,000); it has no cache. MapServer: `mapserv` as "
        "CGI (one process per tile), as Debian ships it. Bare ST_AsMVT: the features meeting "
        "the buffered tile through `ST_AsMVTGeom`, no size filter, simplification or size order "
        "(`bare_query`); our SQL: the statement our endpoint runs. Both on a psycopg connection, "
        "prepared. Sizes: every sampled tile's answer (gzip as sent, raw unpacked), decoded.",
        "",
        *rows,
        "<!-- tiles-a:end -->",
    ])  # fmt: skip


A_HEADING = "### (a) Uncached tiles: our endpoint, TiPg and MapServer 8 against the bare ST_AsMVT"
# Earlier runs of (a) kept below the latest one.
HISTORY_RUNS = 2


def with_history(block: str, text: str) -> str:
    """Return the (a) history: the (a) block now in text, then the older ones, newest first."""
    found = re.search(r"<!-- tiles-a:start -->\n(.*?)\n<!-- tiles-a:end -->", text, flags=re.S)
    older = re.search(
        r"<!-- tiles-a-history:start -->\n(.*?)<!-- tiles-a-history:end -->", text, flags=re.S
    )
    entries = [found.group(1).strip()] if found else []
    if older and older.group(1).strip():
        entries.extend(re.split(r"\n\n(?=\*\*\d{4}-\d\d-\d\d\*\*)", older.group(1).strip()))
    entries = entries[:HISTORY_RUNS]
    return "\n".join([
        block,
        "",
        "Earlier runs of (a), newest first:",
        "",
        "<!-- tiles-a-history:start -->",
        "\n\n".join(entries),
        "<!-- tiles-a-history:end -->",
    ])  # fmt: skip


def write_results(*, uncached: list[str], cached: list[str] | None, seeding: list[str] | None):
    """Write (a), and (b) and (c) when measured, into RESULTS.md's tile section."""
    text = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n"
    block = with_history(uncached_block(uncached), text)
    if cached is None or seeding is None:
        part = re.compile(r"<!-- tiles-a:start -->.*<!-- tiles-a-history:end -->", flags=re.S)
        if not part.search(text):
            raise SystemExit("RESULTS.md has no (a) block to update: run the whole benchmark.")
        text = re.sub(r"^### \(a\) .*$", lambda _: A_HEADING, text, count=1, flags=re.M)
        RESULTS.write_text(part.sub(lambda _: block, text))
        return
    section = "\n".join([
        "<!-- tiles:start -->",
        "## Tiles",
        "",
        f"{date.today()} · {machine()} · `bash bench/tiles.sh` · layer of {BUILDINGS:,} "
        "synthetic buildings (8-25 m) over ~15 x 15 km around Huế.",
        "",
        A_HEADING,
        block,
        "",
        "### (b) Cached public tiles",
        *cached,
        "",
        "### (c) Seeding the pyramid",
        *seeding,
        "<!-- tiles:end -->",
    ])  # fmt: skip
    if "<!-- tiles:start -->" in text:
        text = re.sub(
            r"<!-- tiles:start -->.*<!-- tiles:end -->", lambda _: section, text, flags=re.S
        )
    else:
        text = text.rstrip() + "\n\n" + section + "\n"
    RESULTS.write_text(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--only",
        choices=["uncached", "cached"],
        help="measure (a) or (b) alone and update it in RESULTS.md",
    )
    parser.add_argument(
        "--no-write", action="store_true", help="print the figures, leave RESULTS.md as it is"
    )
    options = parser.parse_args()
    layer = buildings_layer()
    tiles = sample_tiles(layer)
    cached = seeding = None
    try:
        if options.only == "cached":
            web = start_web()
            try:
                cached = bench_cached(layer, tiles)
            finally:
                web.terminate()
                web.wait(timeout=30)
            if not options.no_write:
                write_cached_results(cached)
            return
        web = start_web()
        try:
            tipg_view(layer)
            tipg = start_tipg()
            try:
                uncached = bench_uncached(layer, tiles)
            finally:
                tipg.terminate()
                tipg.wait(timeout=30)
                tipg_view(None)
            if options.only is None:
                cached = bench_cached(layer, tiles)
        finally:
            web.terminate()
            web.wait(timeout=30)
        if options.only is None:
            seeding = bench_seed(layer)
        if options.no_write:
            return
        write_results(uncached=uncached, cached=cached, seeding=seeding)
        say(f"Written to {RESULTS}")
    finally:
        shutil.rmtree(WORK, ignore_errors=True)


if __name__ == "__main__":
    main()
