"""Features benchmark: every feature of the 200,000-building layer paged through our API, beside
the same pages' SQL run directly with psycopg (GeoJSON by ST_AsGeoJSON in PostgreSQL) and beside
pygeoapi (PyPI, its PostgreSQL provider) serving the same table, all in one run.

Each contender pages through all 200,000 buildings with the same page size (limit/offset, one
client, keep-alive, 127.0.0.1 only); we report features per second and ratios, and check that
every contender returned each feature exactly once.

Run with `bash bench/features.sh` (it installs pygeoapi into bench/.venv-pygeoapi, apart from the
project). Writes its section of bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import http.client
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mapserver.settings")
# Data writes below reach the tile hooks: keep them away from the developer's tile cache.
os.environ["TILE_CACHE_DIR"] = tempfile.mkdtemp(prefix="bench-features-tiles-")
sys.path.insert(0, str(ROOT))

import django  # noqa: E402

django.setup()

import psycopg  # noqa: E402
from buildings import SLUG, buildings_layer  # noqa: E402  (bench/ is on sys.path)
from django.conf import settings  # noqa: E402
from psycopg import sql  # noqa: E402

from layers.features import geojson as feature_sql  # noqa: E402
from layers.features.cql2 import compile_filter  # noqa: E402
from layers.features.query import FeatureQuery, layer_fields, where_sql  # noqa: E402
from layers.models import Layer  # noqa: E402

VIEW = "bench_pygeoapi_buildings"
# The filtered runs: an attribute range, about 11 of every 30 buildings, as CQL2 text (the same
# text to both servers; pygeoapi reads it with pygeofilter, we with cql2).
FILTER = "height BETWEEN 10 AND 20"
OUR_PORT, PYGEOAPI_PORT = 18780, 18781
PYGEOAPI_VENV = ROOT / "bench" / ".venv-pygeoapi" / "bin"
RESULTS = ROOT / "bench" / "RESULTS.md"
SECTION_START = "<!-- features-bench:start -->"
SECTION_END = "<!-- features-bench:end -->"


def say(text: str) -> None:
    print(text, flush=True)


def db_settings() -> dict:
    return settings.DATABASES["default"]


def psycopg_dsn() -> str:
    db = db_settings()
    return (
        f"host={db['HOST'] or '127.0.0.1'} port={db['PORT'] or 5432} dbname={db['NAME']} "
        f"user={db['USER']} password={db['PASSWORD']}"
    )


def wait_for(url: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=2).read()
            return
        except Exception:
            time.sleep(0.3)
    raise RuntimeError(f"{url} did not answer within {seconds} s")


def start_ours() -> subprocess.Popen:
    env = {**os.environ, "DEBUG": "false", "SECRET_KEY": os.environ.get("SECRET_KEY", "bench")}
    # One client paging fast is what the anonymous throttle stops; pygeoapi has none.
    env["THROTTLE_ANON_FEATURES"] = "1000000/min"
    server = subprocess.Popen(
        [ROOT / ".venv" / "bin" / "gunicorn", "mapserver.wsgi", "--bind",
         f"127.0.0.1:{OUR_PORT}", "--workers", "1", "--log-level", "warning"],
        cwd=ROOT, env=env,
    )  # fmt: skip
    wait_for(f"http://127.0.0.1:{OUR_PORT}/ogc/")
    return server


PYGEOAPI_CONFIG = """
server:
  bind: {{host: 127.0.0.1, port: {port}}}
  url: http://127.0.0.1:{port}
  mimetype: application/json; charset=UTF-8
  encoding: utf-8
  languages: [en-US]
  limits: {{default_items: 10, max_items: {max_items}}}
  map: {{url: "https://tile.openstreetmap.org/{{z}}/{{x}}/{{y}}.png", attribution: "OSM"}}
logging:
  level: ERROR
metadata:
  identification:
    title: bench
    description: bench
    keywords: [bench]
    keywords_type: theme
    terms_of_service: none
    url: http://127.0.0.1
  license: {{name: CC-BY 4.0, url: "https://creativecommons.org/licenses/by/4.0/"}}
  provider: {{name: bench, url: http://127.0.0.1}}
  contact: {{name: bench}}
resources:
  buildings:
    type: collection
    title: Buildings
    description: The same 200,000 buildings
    keywords: [buildings]
    extents:
      spatial: {{bbox: [106.9, 15.9, 108.3, 16.9], crs: "http://www.opengis.net/def/crs/OGC/1.3/CRS84"}}
    providers:
      - type: feature
        name: PostgreSQL
        data:
          host: {host}
          port: {db_port}
          dbname: {dbname}
          user: {user}
          password: {password}
          search_path: [public]
        id_field: id
        table: {view}
        geom_field: geom
"""


def start_pygeoapi(work: Path, *, page: int) -> subprocess.Popen:
    db = db_settings()
    config = work / "pygeoapi.yml"
    config.write_text(
        PYGEOAPI_CONFIG.format(
            port=PYGEOAPI_PORT, max_items=page, host=db["HOST"] or "127.0.0.1",
            db_port=db["PORT"] or 5432, dbname=db["NAME"], user=db["USER"],
            password=db["PASSWORD"], view=VIEW,
        )
    )  # fmt: skip
    openapi = work / "openapi.yml"
    env = {**os.environ, "PYGEOAPI_CONFIG": str(config), "PYGEOAPI_OPENAPI": str(openapi)}
    subprocess.run(
        [PYGEOAPI_VENV / "pygeoapi", "openapi", "generate", str(config), "--output-file",
         str(openapi)],
        check=True, env=env, capture_output=True,
    )  # fmt: skip
    server = subprocess.Popen(
        [PYGEOAPI_VENV / "gunicorn", "pygeoapi.flask_app:APP", "--bind",
         f"127.0.0.1:{PYGEOAPI_PORT}", "--workers", "1", "--log-level", "warning"],
        cwd=work, env=env,
    )  # fmt: skip
    wait_for(f"http://127.0.0.1:{PYGEOAPI_PORT}/collections/buildings?f=json")
    return server


def create_view(layer: Layer) -> None:
    """Give pygeoapi the layer's features as a table of its own shape: id, geom, ten, height."""
    with psycopg.connect(psycopg_dsn(), autocommit=True) as conn:
        conn.execute(
            sql.SQL(
                "CREATE OR REPLACE VIEW {view} AS SELECT id, geom, attributes ->> 'ten' AS ten,"
                " (attributes ->> 'height')::int AS height FROM layers_feature"
                " WHERE layer_id = {layer}"
            ).format(view=sql.Identifier(VIEW), layer=sql.Literal(layer.pk))
        )


def drop_view() -> None:
    with psycopg.connect(psycopg_dsn(), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP VIEW IF EXISTS {view}").format(view=sql.Identifier(VIEW)))


def page_through_http(port: int, path: str, *, total: int, page: int, extra: str = "") -> dict:
    """Fetch every page over one keep-alive connection; time the fetches, check the ids."""
    client = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    seen: set = set()
    returned = 0
    elapsed = 0.0
    body_bytes = 0
    for offset in range(0, total, page):
        start = time.perf_counter()
        client.request("GET", f"{path}?limit={page}&offset={offset}{extra}")
        response = client.getresponse()
        body = response.read()
        elapsed += time.perf_counter() - start
        assert response.status == 200, (response.status, body[:300])
        features = json.loads(body)["features"]
        returned += len(features)
        seen.update(feature["id"] for feature in features)
        body_bytes += len(body)
    client.close()
    return {"seconds": elapsed, "features": returned, "unique": len(seen), "bytes": body_bytes}


def page_through_sql(layer: Layer, *, total: int, page: int, cql: str | None = None) -> dict:
    """Run our pages' SQL directly with psycopg and join the text, as the views do.

    Like the views, the whole layer's count is the layer's own `feature_count` (read once); a
    filtered page counts its matches, as the views do.
    """
    query = FeatureQuery(layer_id=layer.pk)
    count_sql = sql.SQL("SELECT feature_count FROM layers_layer WHERE id = %s")
    count_params: list = [layer.pk]
    if cql:
        query = dataclasses.replace(query, cql=compile_filter(cql, fields=layer_fields(layer)))
        where, where_params = where_sql(query)
        count_sql = sql.SQL("SELECT count(*) FROM layers_feature AS f WHERE {}").format(where)
        count_params = where_params
    seen: set = set()
    returned = 0
    elapsed = 0.0
    with psycopg.connect(psycopg_dsn(), autocommit=True) as conn:
        for offset in range(0, total, page):
            statement, params = feature_sql.page_sql(query, limit=page, offset=offset)
            start = time.perf_counter()
            matched = conn.execute(count_sql, count_params).fetchone()[0]
            rows = conn.execute(statement, params).fetchall()
            body = (
                '{"type":"FeatureCollection","features":['
                + ",".join(row[0] for row in rows)
                + f'],"numberMatched":{matched},"numberReturned":{len(rows)}}}'
            )
            elapsed += time.perf_counter() - start
            features = json.loads(body)["features"]
            returned += len(features)
            seen.update(feature["id"] for feature in features)
    return {"seconds": elapsed, "features": returned, "unique": len(seen), "bytes": 0}


def count_matching(layer: Layer) -> int:
    query = FeatureQuery(layer_id=layer.pk, cql=compile_filter(FILTER, fields=layer_fields(layer)))
    where, params = where_sql(query)
    statement = sql.SQL("SELECT count(*) FROM layers_feature AS f WHERE {}").format(where)
    with psycopg.connect(psycopg_dsn()) as conn:
        return conn.execute(statement, params).fetchone()[0]


def table(lines: list[str], runs: dict[str, dict], total: int) -> None:
    pygeoapi = runs["pygeoapi /collections/…/items"]
    raw = runs["raw SQL (psycopg, ST_AsGeoJSON)"]
    lines += [
        "| contender | time (s) | features/s | vs pygeoapi | vs raw SQL |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, run in runs.items():
        assert run["features"] == total and run["unique"] == total, (name, run)
        rate = total / run["seconds"]
        lines.append(
            f"| {name} | {run['seconds']:.1f} | {rate:,.0f} | "
            f"{pygeoapi['seconds'] / run['seconds']:.1f}x | "
            f"{raw['seconds'] / run['seconds']:.2f}x |"
        )


def machine() -> str:
    with psycopg.connect(psycopg_dsn()) as conn:
        pg = conn.execute("SHOW server_version").fetchone()[0]
        postgis = conn.execute("SELECT postgis_lib_version()").fetchone()[0]
    pygeoapi = subprocess.run(
        [PYGEOAPI_VENV / "python", "-c", "import pygeoapi; print(pygeoapi.__version__)"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    return (
        f"{os.cpu_count()} cores ({platform.processor() or platform.machine()}), "
        f"PostgreSQL {pg.split()[0]}, PostGIS {postgis}, pygeoapi {pygeoapi}, "
        f"gunicorn 1 sync worker each"
    )


def write_results(lines: list[str]) -> None:
    section = "\n".join([SECTION_START, *lines, SECTION_END])
    text = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n"
    if SECTION_START in text:
        before, rest = text.split(SECTION_START, 1)
        after = rest.split(SECTION_END, 1)[1]
        text = before + section + after
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    RESULTS.write_text(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--page", type=int, default=1000, help="features per page (limit)")
    args = parser.parse_args()
    page = args.page
    layer = buildings_layer()
    total = layer.feature_count
    say(f"{total} features in '{SLUG}', {page} per page: {-(-total // page)} pages each")
    create_view(layer)
    work = Path(tempfile.mkdtemp(prefix="bench-features-"))
    servers = [start_ours(), start_pygeoapi(work, page=page)]
    filtered: dict[str, dict] = {}
    try:
        runs = {}
        runs["raw SQL (psycopg, ST_AsGeoJSON)"] = page_through_sql(layer, total=total, page=page)
        say(f"raw SQL: {runs['raw SQL (psycopg, ST_AsGeoJSON)']['seconds']:.1f} s")
        runs["our REST API /api/v1/…/features/"] = page_through_http(
            OUR_PORT, f"/api/v1/layers/{SLUG}/features/", total=total, page=page
        )
        say(f"REST: {runs['our REST API /api/v1/…/features/']['seconds']:.1f} s")
        runs["our OGC API /ogc/…/items"] = page_through_http(
            OUR_PORT, f"/ogc/collections/{SLUG}/items", total=total, page=page
        )
        say(f"OGC: {runs['our OGC API /ogc/…/items']['seconds']:.1f} s")
        runs["pygeoapi /collections/…/items"] = page_through_http(
            PYGEOAPI_PORT, "/collections/buildings/items", total=total, page=page, extra="&f=json"
        )
        say(f"pygeoapi: {runs['pygeoapi /collections/…/items']['seconds']:.1f} s")
        matching = count_matching(layer)
        quoted = "&filter=" + urllib.parse.quote(FILTER) + "&filter-lang=cql2-text"
        filtered["raw SQL (psycopg, ST_AsGeoJSON)"] = page_through_sql(
            layer, total=matching, page=page, cql=FILTER
        )
        filtered["our REST API /api/v1/…/features/"] = page_through_http(
            OUR_PORT, f"/api/v1/layers/{SLUG}/features/", total=matching, page=page, extra=quoted
        )
        filtered["our OGC API /ogc/…/items"] = page_through_http(
            OUR_PORT, f"/ogc/collections/{SLUG}/items", total=matching, page=page, extra=quoted
        )
        filtered["pygeoapi /collections/…/items"] = page_through_http(
            PYGEOAPI_PORT,
            "/collections/buildings/items",
            total=matching,
            page=page,
            # pygeoapi 0.21 knows only the draft's names (`cql-text`) and reads text by default.
            extra="&f=json&filter=" + urllib.parse.quote(FILTER),
        )
        say("filtered: " + ", ".join(f"{k} {v['seconds']:.1f} s" for k, v in filtered.items()))
    finally:
        for server in servers:
            server.terminate()
            server.wait(timeout=30)
        drop_view()
    lines = [
        f"## Features: paging all {total:,} buildings ({date.today().isoformat()})",
        "",
        f"Machine: {machine()}. Command: `bash bench/features.sh --page {page}`.",
        f"Each contender pages through every feature, {page} per page (limit/offset), one client",
        "with keep-alive on 127.0.0.1; the time is the sum of the page fetches (request to last",
        "byte). Every run returned each feature exactly once.",
        "",
    ]
    table(lines, runs, total)
    lines += [
        "",
        f"With a CQL2 filter, `filter={FILTER}` (`filter-lang=cql2-text`), which "
        f"{filtered['raw SQL (psycopg, ST_AsGeoJSON)']['features']:,} buildings match: each",
        "contender pages through the matches the same way, and every page also counts them",
        "(`numberMatched`). The raw SQL is our filtered page statement and count, run directly",
        "on every page; the APIs count once per version of the layer's data (then from the",
        "cache), as pygeoapi does not.",
        "",
        f"Load average at the end of the run: {', '.join(f'{n:.1f}' for n in os.getloadavg())}.",
        "",
    ]
    table(lines, filtered, filtered["raw SQL (psycopg, ST_AsGeoJSON)"]["features"])
    lines.append("")
    write_results(lines)
    say("\n".join(lines))


if __name__ == "__main__":
    main()
