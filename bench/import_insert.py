"""Where the import's final `INSERT … SELECT` into `layers_feature` spends its time.

In a scratch schema, copies of `layers_feature` (same columns, generated columns, indexes, the
layer foreign key and the tile-change trigger) are filled from a prepared table shaped like the
import's (`n`, `name`, `attrs`, `geom` in 4326), each copy with one index, generated column, trigger
or constraint removed, so that the difference to the full copy is what that piece costs. The time
includes the commit (the deferred foreign-key checks run there) and the WAL written.

Run with `.venv/bin/python bench/import_insert.py [--points N] [--polygons N] [--only NAME …]`;
prints a Markdown table (docs/import.md keeps the last one). Everything it creates lives in the
schema `bench_import_insert`, dropped at the end; a bench layer holds the foreign key's target.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mapserver.settings")
sys.path.insert(0, str(ROOT))

import django  # noqa: E402

django.setup()

from django.db import connection  # noqa: E402
from psycopg import sql  # noqa: E402

from layers.models import Category, Layer  # noqa: E402

SCHEMA = sql.Identifier("bench_import_insert")
TABLE = sql.SQL("bench_import_insert.feature")
SLUG = "bench-import-insert"

# Names of today's pieces of layers_feature, as the copy names them (LIKE … INCLUDING ALL keeps the
# column names but names the copied indexes after their columns).
PIECES = {
    "gist_geom": "GiST (geom) — 4326, GeoDjango's spatial_index",
    "btree_layer": "b-tree (layer_id) — the FK's index",
    "gist_layer_geom3857": "GiST (layer_id, geom_3857)",
    "gin_search": "GIN trigram (search_text)",
    "btree_layer_id": "b-tree (layer_id, id)",
    "trigger": "tile-change trigger",
    "fk": "foreign key to layers_layer",
}
INDEXES = {
    "gist_geom": "CREATE INDEX ON {t} USING gist (geom)",
    "btree_layer": "CREATE INDEX ON {t} (layer_id)",
    "gist_layer_geom3857": "CREATE INDEX ON {t} USING gist (layer_id, geom_3857)",
    "gin_search": "CREATE INDEX ON {t} USING gin (search_text gin_trgm_ops)",
    "btree_layer_id": "CREATE INDEX ON {t} (layer_id, id)",
}


def say(text: str) -> None:
    print(text, flush=True)


def execute(statement: sql.Composable | str, params: list | None = None) -> list[tuple]:
    with connection.cursor() as cursor:
        if isinstance(statement, sql.Composable):
            statement = statement.as_string(connection.connection)
        cursor.execute(statement, params)
        return cursor.fetchall() if cursor.description else []


def make_sources(points: int, polygons: int) -> None:
    """Create the prepared tables: the benchmark's data (bench/import.py), built in SQL."""
    execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(SCHEMA))
    execute(sql.SQL("CREATE SCHEMA {}").format(SCHEMA))
    execute("SELECT setseed(0.3)")
    execute(
        """
        CREATE TABLE bench_import_insert.points AS
        SELECT n, 'Điểm số ' || n AS name,
               jsonb_build_object('ma', n, 'ten', 'Điểm số ' || n,
                                  'loai', (ARRAY['trường học', 'chợ', 'đình', 'chùa',
                                                 'bệnh viện', 'công viên'])[n %% 6 + 1],
                                  'gia_tri', random() * 1000) AS attrs,
               ST_SetSRID(ST_MakePoint(107.45 + random() * 0.30, 16.35 + random() * 0.25), 4326)
                   AS geom
        FROM generate_series(0, %s - 1) AS n
        """,
        [points],
    )
    execute(
        """
        CREATE TABLE bench_import_insert.polygons AS
        SELECT n, 'Nhà số ' || n AS name,
               jsonb_build_object('ma', n, 'ten', 'Nhà số ' || n,
                                  'so_tang', 1 + floor(random() * 11)::int,
                                  'dien_tich', 4 * w * h * 106000 * 110000) AS attrs,
               ST_Rotate(ST_MakeEnvelope(x - w, y - h, x + w, y + h, 4326), a, x, y) AS geom
        FROM (SELECT n, 107.52 + random() * 0.14 AS x, 16.40 + random() * 0.13 AS y,
                     (4 + random() * 8.5) / 106000 AS w, (4 + random() * 8.5) / 110000 AS h,
                     random() * pi() / 2 AS a
              FROM generate_series(0, %s - 1) AS n) AS s
        """,
        [polygons],
    )
    execute("ANALYZE bench_import_insert.points")
    execute("ANALYZE bench_import_insert.polygons")


def make_target(*, without: frozenset[str] = frozenset(), generated: bool = True) -> None:
    """Create the copy of layers_feature, minus the named pieces."""
    execute(sql.SQL("DROP TABLE IF EXISTS {}").format(TABLE))
    if generated:
        execute(
            sql.SQL(
                "CREATE TABLE {} (LIKE public.layers_feature INCLUDING DEFAULTS "
                "INCLUDING GENERATED INCLUDING IDENTITY, PRIMARY KEY (id))"
            ).format(TABLE)
        )
    else:
        # The generated columns as plain, unfilled columns: what computing them costs.
        execute(
            sql.SQL(
                "CREATE TABLE {} (LIKE public.layers_feature INCLUDING DEFAULTS "
                "INCLUDING IDENTITY, PRIMARY KEY (id))"
            ).format(TABLE)
        )
    for name, statement in INDEXES.items():
        if name not in without:
            execute(sql.SQL(statement).format(t=TABLE))
    if "fk" not in without:
        execute(
            sql.SQL(
                "ALTER TABLE {} ADD FOREIGN KEY (layer_id) REFERENCES public.layers_layer (id) "
                "DEFERRABLE INITIALLY DEFERRED"
            ).format(TABLE)
        )
    if "trigger" not in without:
        execute(
            sql.SQL(
                "CREATE TRIGGER tile_change_insert AFTER INSERT ON {} REFERENCING NEW TABLE AS "
                "new_rows FOR EACH STATEMENT EXECUTE FUNCTION layers_feature_record_tile_change()"
            ).format(TABLE)
        )


def insert(source: str, layer_id: int, *, order: str, settings: dict[str, str]) -> tuple:
    """Insert the source into the copy in one transaction; return seconds and WAL bytes."""
    execute("CHECKPOINT")  # every run starts without a pending checkpoint's full-page writes
    connection.set_autocommit(False)
    start_lsn = execute("SELECT pg_current_wal_insert_lsn()")[0][0]
    started = time.monotonic()
    for name, value in settings.items():
        execute("SELECT set_config(%s, %s, true)", [name, value])
    execute(
        sql.SQL(
            """
            INSERT INTO {} (layer_id, geom, attributes, name, created_at, updated_at)
            SELECT %s, geom, attrs, name, now(), now() FROM {} ORDER BY {}
            """
        ).format(TABLE, sql.Identifier("bench_import_insert", source), sql.SQL(order)),
        [layer_id],
    )
    connection.commit()
    seconds = time.monotonic() - started
    connection.set_autocommit(True)
    wal = execute("SELECT pg_wal_lsn_diff(pg_current_wal_insert_lsn(), %s)", [start_lsn])[0][0]
    return seconds, int(wal)


VARIANTS = {
    "all": ({}, "today: every index, generated columns, FK, trigger"),
    **{f"-{name}": ({"without": {name}}, f"without {label}") for name, label in PIECES.items()},
    "pk+generated": (
        {"without": set(PIECES)},
        "primary key only (generated columns computed)",
    ),
    "pk": ({"without": set(PIECES), "generated": False}, "primary key only, nothing generated"),
    "proposed": (
        {"without": {"gist_geom", "btree_layer"}},
        "without GiST (geom) and b-tree (layer_id)",
    ),
    "proposed+sync_off": (
        {"without": {"gist_geom", "btree_layer"}, "settings": {"synchronous_commit": "off"}},
        "the same, synchronous_commit off",
    ),
    "proposed+spatial": (
        {"without": {"gist_geom", "btree_layer"}, "order": "ST_GeoHash(geom, 12)"},
        "the same, inserted in geohash order",
    ),
    "proposed+gin_pending": (
        {
            "without": {"gist_geom", "btree_layer"},
            "settings": {"gin_pending_list_limit": "65536", "work_mem": "256MB"},
        },
        "the same, GIN pending list 64 MB, work_mem 256 MB",
    ),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--polygons", type=int, default=200_000)
    parser.add_argument("--only", nargs="*", help="variants to run (default: all)")
    args = parser.parse_args()

    Layer.objects.filter(slug=SLUG).delete()
    category, _ = Category.objects.get_or_create(
        slug="bench", defaults={"name_vi": "Đo hiệu năng", "name_en": "Benchmarks"}
    )
    layer = Layer.objects.create(slug=SLUG, title_vi=SLUG, category=category, status="draft")
    say("building the prepared tables…")
    make_sources(args.points, args.polygons)
    rows = []
    try:
        for name, (options, label) in VARIANTS.items():
            if args.only and name not in args.only:
                continue
            options = dict(options)
            order = options.pop("order", "n")
            settings = options.pop("settings", {})
            cells = []
            for source in ("points", "polygons"):
                make_target(**options)
                seconds, wal = insert(source, layer.pk, order=order, settings=settings)
                cells.append(f"{seconds:.1f} | {wal / 2**20:,.0f}")
                say(f"{name:22} {source:9} {seconds:6.1f} s {wal / 2**20:8,.0f} MiB WAL")
            rows.append(f"| {label} | {' | '.join(cells)} |")
    finally:
        execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(SCHEMA))
        execute("DELETE FROM layers_tilechange WHERE layer_id = %s", [layer.pk])
        layer.delete()
    say(
        f"\n| `layers_feature` copy | {args.points:,} points (s) | WAL (MiB) "
        f"| {args.polygons:,} polygons (s) | WAL (MiB) |\n|---|---|---|---|---|"
    )
    say("\n".join(rows))


if __name__ == "__main__":
    main()
