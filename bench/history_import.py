"""History benchmark: what keeping history costs a 200,000-feature replacing import, a look at the
layer as it was, and single edits (issue 13; aim: a replacing import with history under 1.3x the
time without).

In a database of its own (`bench_history` on the server of DATABASE_URL, made and migrated at the
start, dropped at the end):
1. two layers are made by importing the same buildings (bench/city_data.py, a GeoPackage cached in
   var/bench/history/); then, round by round, each is replaced by the same file through the real
   import (`import_run`, in this process): one with `HISTORY_ARCHIVE_IMPORTS = True` (the old
   partition becomes an archive, a child of `layers_featureversion`), one with False (the old
   partition is dropped, as before history). The order alternates each round, and the database
   is checkpointed and the new partition vacuumed and analyzed between imports (not timed), so
   neither side pays for the other's background work;
2. on the layer with history: a features page of the REST API now and `?as_of=` an instant before
   its last import (the archived features), in this process through Django's test client, and
   the archives' size on disk;
3. single edits of 1,000 features of that layer: `services.feature_update` (the application's
   write, history recorded by the triggers) beside a plain SQL `UPDATE` of the same rows with the
   triggers on, with the history trigger alone disabled, and with every trigger off
   (`session_replication_role = replica`), in blocks that take turns.

Run with `.venv/bin/python bench/history_import.py [--features N] [--rounds R] [--edits E]`;
writes its section of bench/RESULTS.md unless `--no-write`.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import environ

ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = ROOT / "var" / "bench" / "history"
DB_NAME = "bench_history"
RESULTS = ROOT / "bench" / "RESULTS.md"
SECTION_START, SECTION_END = "<!-- history-bench:start -->", "<!-- history-bench:end -->"
KEPT_SLUG, DROPPED_SLUG = "bench-history-kept", "bench-history-dropped"
PAGE_LIMIT = 1000
PAGE_REPEAT = 11
EDIT_BLOCK = 100
# One metre east at Huế's latitude, in degrees of longitude: a vertex dragged on the map.
MOVE_DEG = 1 / 106_700


def _bench_environment() -> dict[str, str]:
    """Point this process and `manage.py migrate` at the benchmark's database and caches."""
    environ.Env.read_env(ROOT / ".env", overwrite=False)
    base = os.environ.get("DATABASE_URL", "postgis://mapserver:mapserver@127.0.0.1:5432/mapserver")
    return {
        "BENCH_HISTORY_BASE_DATABASE_URL": base,
        "DATABASE_URL": urlunsplit(urlsplit(base)._replace(path=f"/{DB_NAME}")),
        "DJANGO_SETTINGS_MODULE": "mapserver.settings",
        "DEBUG": "false",
        "SECRET_KEY": os.environ.get("SECRET_KEY") or "bench-history-only",
        # The imports' and edits' tile hooks queue tasks: to memory, not the developer's broker.
        "CELERY_BROKER_URL": "memory://",
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "TILE_CACHE_DIR": tempfile.mkdtemp(prefix="bench-history-tiles-"),
        "MEDIA_ROOT": tempfile.mkdtemp(prefix="bench-history-media-"),
        # This measures the server's work, not the anonymous throttle.
        "THROTTLE_ANON_FEATURES": "100000000/min",
        "DB_APPLICATION_NAME": "bench-history",
    }


os.environ.update(_bench_environment())
sys.path.insert(0, str(ROOT))

import django  # noqa: E402

django.setup()

import psycopg  # noqa: E402
import shapely  # noqa: E402
import shapely.affinity  # noqa: E402
from city_data import buildings_file  # noqa: E402  (bench/ is on sys.path)
from django.conf import settings  # noqa: E402
from django.contrib.gis.geos import GEOSGeometry  # noqa: E402
from django.db import connection, connections  # noqa: E402
from django.test import Client  # noqa: E402
from psycopg import sql  # noqa: E402

from layers import services  # noqa: E402
from layers.imports import import_run  # noqa: E402
from layers.models import Category, ChangeEvent, Feature, ImportJob, Layer  # noqa: E402
from layers.partitions import HISTORY_TABLE, archive_name, partition_name  # noqa: E402

X = "\N{MULTIPLICATION SIGN}"


def say(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", flush=True)


# --- database --------------------------------------------------------------------------------


def admin_connection() -> psycopg.Connection:
    parts = urlsplit(os.environ["BENCH_HISTORY_BASE_DATABASE_URL"])
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


def create_database() -> None:
    """Create the benchmark's database and migrate it."""
    drop_database()
    with admin_connection() as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DB_NAME)))
    subprocess.run(
        [ROOT / ".venv" / "bin" / "python", "manage.py", "migrate", "--noinput", "-v0"],
        cwd=ROOT,
        check=True,
    )


def run_sql(statement: str | sql.Composable, params=None) -> list[tuple]:
    with connection.cursor() as cursor:
        if isinstance(statement, sql.Composable):
            statement = statement.as_string(connection.connection)
        cursor.execute(statement, params)
        return cursor.fetchall() if cursor.description else []


def settle(layer: Layer) -> None:
    """Vacuum and analyze the layer's new partition and checkpoint, so that the next timed import
    does not share the machine with autovacuum or a checkpoint caused by this one."""
    run_sql(sql.SQL("VACUUM (ANALYZE) {}").format(sql.Identifier(partition_name(layer.pk))))
    run_sql("CHECKPOINT")


# --- 1. replacing imports --------------------------------------------------------------------


@dataclass
class ImportTime:
    kept: bool
    seconds: float
    write_s: float
    event_id: int
    event_at: object


def bench_layer(slug: str) -> Layer:
    category, _ = Category.objects.get_or_create(
        slug="bench", defaults={"name_vi": "Đo hiệu năng", "name_en": "Benchmarks"}
    )
    return Layer.objects.create(
        slug=slug, title_vi=slug, category=category, status="draft", visibility="public"
    )


def timed_import(layer: Layer, path: Path, *, mode: str, kept: bool) -> ImportTime:
    """Import the file into the layer with history kept or not; return how long it took."""
    settings.HISTORY_ARCHIVE_IMPORTS = kept
    job = ImportJob.objects.create(layer=layer, mode=mode, source_name=path.name)
    started = time.monotonic()
    job = import_run(job=job, source_path=path)
    seconds = time.monotonic() - started
    if job.status != ImportJob.Status.SUCCEEDED:
        raise SystemExit(f"the import into {layer.slug} failed: {job.messages[-3:]}")
    event = ChangeEvent.objects.filter(job=job).get()
    settle(layer)
    return ImportTime(kept, seconds, job.report["timings"]["write"], event.pk, event.at)


def run_imports(path: Path, rounds: int) -> tuple[Layer, Layer, list[ImportTime]]:
    """Make both layers, then replace each `rounds` times, taking turns to go first."""
    kept_layer, dropped_layer = bench_layer(KEPT_SLUG), bench_layer(DROPPED_SLUG)
    for layer, kept in ((kept_layer, True), (dropped_layer, False)):
        first = timed_import(layer, path, mode=ImportJob.Mode.CREATE, kept=kept)
        say(f"{layer.slug}: created in {first.seconds:.1f} s")
    times = []
    for number in range(rounds):
        order = [(kept_layer, True), (dropped_layer, False)]
        for layer, kept in order if number % 2 == 0 else order[::-1]:
            result = timed_import(layer, path, mode=ImportJob.Mode.REPLACE, kept=kept)
            times.append(result)
            say(
                f"round {number + 1}: {'with' if kept else 'without'} history "
                f"{result.seconds:.2f} s (write {result.write_s:.2f} s)"
            )
    settings.HISTORY_ARCHIVE_IMPORTS = True
    return kept_layer, dropped_layer, times


# --- 2. the layer as it was, and the archives ------------------------------------------------


@dataclass
class Archives:
    count: int
    rows: int
    table_bytes: int
    index_bytes: int
    live_table_bytes: int
    live_index_bytes: int
    dropped_layer_archives: int


def archive_tables(layer: Layer) -> list[str]:
    rows = run_sql(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
        " WHERE i.inhparent = %s::regclass AND starts_with(c.relname, %s) ORDER BY c.relname",
        [HISTORY_TABLE, f"{HISTORY_TABLE}_p{layer.pk}_e"],
    )
    return [name for (name,) in rows]


def archive_sizes(kept_layer: Layer, dropped_layer: Layer) -> Archives:
    """Return the size on disk of the kept layer's archives beside its live partition."""
    rows = table_bytes = index_bytes = 0
    names = archive_tables(kept_layer)
    for name in names:
        table = sql.Identifier(name)
        [(count, heap, indexes)] = run_sql(
            sql.SQL(
                "SELECT (SELECT count(*) FROM {table}), pg_table_size({name}::regclass),"
                " pg_indexes_size({name}::regclass)"
            ).format(table=table, name=sql.Literal(name))
        )
        rows, table_bytes, index_bytes = rows + count, table_bytes + heap, index_bytes + indexes
    live = partition_name(kept_layer.pk)
    [(live_heap, live_indexes)] = run_sql(
        "SELECT pg_table_size(%s::regclass), pg_indexes_size(%s::regclass)", [live, live]
    )
    return Archives(
        len(names), rows, table_bytes, index_bytes, live_heap, live_indexes,
        len(archive_tables(dropped_layer)),
    )  # fmt: skip


@dataclass
class PageTime:
    what: str
    now_ms: float
    as_of_ms: float
    features: int


def page_ids(client: Client, url: str) -> tuple[float, list[int]]:
    started = time.perf_counter()
    response = client.get(url)
    body = response.content
    ms = (time.perf_counter() - started) * 1000
    if response.status_code != 200:
        raise RuntimeError(f"{url}: {response.status_code} {body[:300]!r}")
    return ms, [feature["id"] for feature in response.json()["features"]]


def as_of_available(client: Client, layer: Layer) -> str:
    """Return '' if the features API answers `as_of`, else why not (said in the results)."""
    response = client.get(f"/api/v1/layers/{layer.slug}/features/?limit=1&as_of=2000-01-01T00:00Z")
    if response.status_code == 200:
        return ""
    return f"`?as_of=` answered {response.status_code}: {response.content[:200].decode()}"


def run_pages(layer: Layer, times: list[ImportTime], features: int) -> tuple[str, list[PageTime]]:
    """Time features pages of the kept layer now and as it was before its last import."""
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    client = Client()
    missing = as_of_available(client, layer)
    if missing:
        return missing, []
    before, last = [t for t in times if t.kept][-2:]
    instant = before.event_at + (last.event_at - before.event_at) / 2
    instant = instant.isoformat().replace("+00:00", "Z")
    # The features the last import replaced (named after its event).
    archive = sql.Identifier(archive_name(layer.pk, last.event_id))
    live = sql.Identifier(partition_name(layer.pk))
    [(min_x, min_y, max_x, max_y)] = run_sql(
        # A box of ~1 km around the densest part of the layer (its median building).
        sql.SQL(
            "SELECT x - 0.005, y - 0.005, x + 0.005, y + 0.005 FROM ("
            " SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY ST_X(ST_Centroid(geom))) AS x,"
            " percentile_disc(0.5) WITHIN GROUP (ORDER BY ST_Y(ST_Centroid(geom))) AS y"
            " FROM {}) AS m"
        ).format(live)
    )
    base = f"/api/v1/layers/{layer.slug}/features/?limit={PAGE_LIMIT}"
    pages = {
        "first page": base,
        f"page at offset {features // 2:,}": f"{base}&offset={features // 2}",
        "bbox of ~1 km, first page": f"{base}&bbox={min_x},{min_y},{max_x},{max_y}",
    }
    results = []
    for what, url in pages.items():
        now_ms, as_of_ms = [], []
        for _ in range(PAGE_REPEAT):
            ms, now_ids = page_ids(client, url)
            now_ms.append(ms)
            ms, past_ids = page_ids(client, f"{url}&as_of={instant}")
            as_of_ms.append(ms)
        # The past page must come from the archive of the last import, the present from the live
        # partition (a replacing import gives every feature a new id).
        for ids, table in ((past_ids, archive), (now_ids, live)):
            [(found,)] = run_sql(
                sql.SQL("SELECT count(*) FROM {} WHERE id = ANY(%s)").format(table), [ids]
            )
            if not ids or found != len(ids):
                raise SystemExit(f"{what}: {found} of {len(ids)} ids found where expected")
        results.append(
            PageTime(what, statistics.median(now_ms), statistics.median(as_of_ms), len(now_ids))
        )
        say(f"{what}: now {results[-1].now_ms:.1f} ms, as_of {results[-1].as_of_ms:.1f} ms")
    return "", results


# --- 3. single edits -------------------------------------------------------------------------

EDIT_SQL = {
    "attributes": "UPDATE layers_feature SET attributes = jsonb_set(attributes, '{floors}',"
    " to_jsonb((attributes->>'floors')::int + 1)) WHERE layer_id = %s::bigint AND id = %s",
    "geometry": f"UPDATE layers_feature SET geom = ST_Translate(geom, {MOVE_DEG!r}, 0)"
    " WHERE layer_id = %s::bigint AND id = %s",
}
MODES = ("service", "sql", "sql, history trigger off", "sql, all triggers off")
EDIT_TABLE_HEAD = (
    "| edit | service (ms) | sql (ms) | sql, history trigger off (ms) "
    "| sql, all triggers off (ms) | history's cost per edit (ms) | service / bare UPDATE "
    "| bytes per recorded version |\n|---|---|---|---|---|---|---|---|"
)


def moved(geom: GEOSGeometry) -> GEOSGeometry:
    shape = shapely.affinity.translate(shapely.from_wkb(bytes(geom.wkb)), xoff=MOVE_DEG)
    return GEOSGeometry(memoryview(shapely.to_wkb(shape)), srid=4326)


def edit_by_service(layer: Layer, ids: list[int], kind: str) -> float:
    """Change each feature through `services.feature_update`; return the seconds of the writes."""
    by = services.WriteContext(channel="api")
    features = list(Feature.objects.filter(layer_id=layer.pk, id__in=ids))
    if kind == "attributes":
        changes = [
            {"attributes": {**f.attributes, "floors": f.attributes["floors"] + 1}} for f in features
        ]
    else:
        changes = [{"geom": moved(f.geom)} for f in features]
    started = time.perf_counter()
    for feature, change in zip(features, changes, strict=True):
        services.feature_update(feature=feature, by=by, **change)
    return time.perf_counter() - started


def edit_by_sql(layer: Layer, ids: list[int], kind: str) -> float:
    """Run the plain UPDATE of each feature, each in its own transaction; return the seconds."""
    started = time.perf_counter()
    with connection.cursor() as cursor:
        for feature_id in ids:
            cursor.execute(EDIT_SQL[kind], [layer.pk, feature_id])
    return time.perf_counter() - started


def with_history_trigger_off(edit: Callable[[], float]) -> float:
    # On the partitioned table: PostgreSQL disables the trigger on every partition too.
    run_sql("ALTER TABLE layers_feature DISABLE TRIGGER layers_feature_history_update")
    try:
        return edit()
    finally:
        run_sql("ALTER TABLE layers_feature ENABLE TRIGGER layers_feature_history_update")


def with_all_triggers_off(edit: Callable[[], float]) -> float:
    # `replica` skips every ordinary trigger of this session (history and tile changes); it needs
    # a superuser, which the benchmark's database role is.
    run_sql("SET session_replication_role = replica")
    try:
        return edit()
    finally:
        run_sql("RESET session_replication_role")


def history_trigger_state(layer: Layer) -> str:
    [(state,)] = run_sql(
        "SELECT tgenabled FROM pg_trigger WHERE tgrelid = %s::regclass"
        " AND tgname = 'layers_feature_history_update'",
        [partition_name(layer.pk)],
    )
    return state


@dataclass
class EditTimes:
    kind: str
    ms_per_edit: dict[str, float]  # per mode, median over blocks
    bytes_per_version: float


def run_edits(layer: Layer, count: int, kind: str) -> EditTimes:
    """Edit `count` features in each mode, by blocks that take turns; return ms per edit."""
    ids = [
        feature_id
        for (feature_id,) in run_sql(
            sql.SQL("SELECT id FROM {} ORDER BY hashint8(id) LIMIT %s").format(
                sql.Identifier(partition_name(layer.pk))
            ),
            [count],
        )
    ]
    run_sql("CHECKPOINT")
    [(versions_before, size_before)] = run_sql(
        "SELECT (SELECT count(*) FROM ONLY layers_featureversion),"
        " pg_total_relation_size('layers_featureversion')"
    )
    per_block: dict[str, list[float]] = {mode: [] for mode in MODES}
    for number, start in enumerate(range(0, len(ids), EDIT_BLOCK)):
        block = ids[start : start + EDIT_BLOCK]
        edits = {
            "service": lambda b=block: edit_by_service(layer, b, kind),
            "sql": lambda b=block: edit_by_sql(layer, b, kind),
            "sql, history trigger off": lambda b=block: with_history_trigger_off(
                lambda: edit_by_sql(layer, b, kind)
            ),
            "sql, all triggers off": lambda b=block: with_all_triggers_off(
                lambda: edit_by_sql(layer, b, kind)
            ),
        }
        turn = number % len(MODES)
        for mode in MODES[turn:] + MODES[:turn]:
            per_block[mode].append(edits[mode]() * 1000 / len(block))
    if history_trigger_state(layer) != "O":
        raise SystemExit("the history trigger was left disabled on the partition")
    [(versions_after, size_after)] = run_sql(
        "SELECT (SELECT count(*) FROM ONLY layers_featureversion),"
        " pg_total_relation_size('layers_featureversion')"
    )
    # Two modes record a version per edit (the service and the plain UPDATE with triggers).
    recorded = versions_after - versions_before
    if recorded != 2 * len(ids):
        raise SystemExit(f"{kind}: {recorded:,} versions recorded, {2 * len(ids):,} expected")
    times = EditTimes(
        kind,
        {mode: statistics.median(values) for mode, values in per_block.items()},
        (size_after - size_before) / recorded,
    )
    say(f"{kind} edits: " + ", ".join(f"{m} {ms:.2f} ms" for m, ms in times.ms_per_edit.items()))
    return times


def check_trigger_switch(layer: Layer) -> None:
    """Stop if disabling the trigger on the partitioned table does not reach the partitions."""
    run_sql("ALTER TABLE layers_feature DISABLE TRIGGER layers_feature_history_update")
    state = history_trigger_state(layer)
    run_sql("ALTER TABLE layers_feature ENABLE TRIGGER layers_feature_history_update")
    if state != "D":
        raise SystemExit(f"the history trigger on the partition stayed {state!r} when disabled")


# --- report ----------------------------------------------------------------------------------


def git_commit() -> str:
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True).stdout

    commit = git("rev-parse", "--short", "HEAD").strip() or "unknown"
    return commit + ("+" if git("status", "--porcelain", "--untracked-files=no") else "")


def machine() -> str:
    [(pg, postgis)] = run_sql("SELECT version(), postgis_lib_version()")
    memory_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (
        f"{os.cpu_count()} cores, {memory_gib:.0f} GiB, {platform.platform()}; "
        f"{pg.split(' on ')[0]}, PostGIS {postgis}"
    )


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"load {one:.1f}/{five:.1f}"


def mib(size: int) -> str:
    return f"{size / 2**20:,.0f} MiB"


def report(
    *, args, commit: str, conditions: list[str], times: list[ImportTime], archives: Archives,
    pages_missing: str, pages: list[PageTime], edits: list[EditTimes],
) -> str:  # fmt: skip
    kept = [t for t in times if t.kept]
    dropped = [t for t in times if not t.kept]
    kept_s, dropped_s = (statistics.median(t.seconds for t in side) for side in (kept, dropped))
    kept_w, dropped_w = (statistics.median(t.write_s for t in side) for side in (kept, dropped))
    best_k, best_d = (min(t.seconds for t in side) for side in (kept, dropped))
    pairs = [k.seconds / d.seconds for k, d in zip(kept, dropped, strict=True)]
    runs = " · ".join(
        f"{k.seconds:.2f} / {d.seconds:.2f}" for k, d in zip(kept, dropped, strict=True)
    )
    command = ".venv/bin/python bench/history_import.py" + "".join(
        f" --{name} {value}"
        for name, value, default in (
            ("features", args.features, 200_000),
            ("rounds", args.rounds, 7),
            ("edits", args.edits, 1000),
        )
        if value != default
    )
    if pages_missing:
        page_text = f"Not measured: the features API does not take `as_of` yet ({pages_missing})."
    else:
        rows = "\n".join(
            f"| {p.what} | {p.features:,} | {p.now_ms:.1f} | {p.as_of_ms:.1f} "
            f"| {p.as_of_ms / p.now_ms:.2f}{X} |"
            for p in pages
        )
        page_text = f"""`GET /api/v1/layers/…/features/?limit={PAGE_LIMIT}` on the layer with
history, now and `&as_of=` an instant between its last two imports (so every feature comes from
the last archive: checked by id), median of {PAGE_REPEAT}, in this process through Django's test
client (no HTTP), anonymous:

| page | features | now (ms) | as_of (ms) | as_of / now |
|---|---|---|---|---|
{rows}"""
    edit_rows = "\n".join(
        f"| {e.kind} | "
        + " | ".join(f"{e.ms_per_edit[mode]:.2f}" for mode in MODES)
        + f" | {e.ms_per_edit['sql'] - e.ms_per_edit['sql, history trigger off']:.2f}"
        f" | {e.ms_per_edit['service'] / e.ms_per_edit['sql, all triggers off']:.1f}{X}"
        f" | {e.bytes_per_version:,.0f} |"
        for e in edits
    )
    archive_total = archives.table_bytes + archives.index_bytes
    live_total = archives.live_table_bytes + archives.live_index_bytes
    # The first archive is the create's, empty: the replacing imports made the others.
    archive_share = archive_total / max(archives.count - 1, 1) / max(live_total, 1)
    return f"""## History: what it costs

**{date.today().isoformat()}**, commit {commit} · {machine()} · `{command}` · {args.features:,}
synthetic buildings (bench/city_data.py: rotated rectangles, 8 attributes, Vietnamese names) in
database `{DB_NAME}` (made, migrated and dropped by the run) · conditions: {"; ".join(conditions)}.

**Replacing import of {args.features:,} features** (`import_run` in the benchmark's process, the
same GeoPackage each time), with history (`HISTORY_ARCHIVE_IMPORTS = True`: the old partition
becomes an archive table of `layers_featureversion`, catalogue changes only) and without (False:
the old partition is dropped, as before history); two layers, {args.rounds} rounds, the side that
goes first alternating; between imports (not timed) the new partition is vacuumed and analyzed and
the database checkpointed.

| | with history | without | with / without |
|---|---|---|---|
| whole import, median (s) | {kept_s:.2f} | {dropped_s:.2f} | **{kept_s / dropped_s:.2f}{X}** |
| whole import, best (s) | {best_k:.2f} | {best_d:.2f} | {best_k / best_d:.2f}{X} |
| its write step (fill, indexes, swap), median (s) | {kept_w:.2f} | {dropped_w:.2f} \
| {kept_w / dropped_w:.2f}{X} |

Round by round, with / without (s): {runs}; ratios {min(pairs):.2f}-{max(pairs):.2f}{X}. Aim: under
1.3{X}.

**Archives** of the layer with history after {args.rounds + 1} imports: {archives.count} tables
({archives.rows:,} rows: every replaced feature), {mib(archives.table_bytes)} of rows and
{mib(archives.index_bytes)} of indexes, {mib(archive_total)} in all; the live partition is
{mib(archives.live_table_bytes)} + {mib(archives.live_index_bytes)} = {mib(live_total)}, so
each replacing import keeps about {archive_share:.2f}{X} the layer's size on disk (the first,
empty archive is the create's). The layer without history has {archives.dropped_layer_archives}
archives.

**The layer as it was.** {page_text}

**Single edits**: {args.edits:,} features of the layer with history, each edited in each mode
(blocks of {EDIT_BLOCK} taking turns; ms per edit, median over the blocks; each edit its own
transaction). *service*: `services.feature_update` (lock and read the row, schema and geometry
checks, the change event, the write, the layer's version and extent, the tile invalidation
queued); *sql*: one `UPDATE … WHERE layer_id = … AND id = …` with the triggers on (history: the
old row copied to `layers_featureversion`, a change event of channel `database`, the new version
number; tile changes); *history trigger off*: the same with `layers_feature_history_update`
disabled; *all triggers off*: the same under `session_replication_role = replica`. Attribute
edits add one to `floors`; geometry edits move the building 1 m east.

{EDIT_TABLE_HEAD}
{edit_rows}

History's cost per edit = *sql* minus *history trigger off*. Bytes per version: the growth of
`layers_featureversion` (rows and its three indexes) per row recorded.
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--features", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=7, help="replacing imports on each side")
    parser.add_argument("--edits", type=int, default=1000, help="features edited in each mode")
    parser.add_argument("--no-write", action="store_true", help="do not touch bench/RESULTS.md")
    parser.add_argument("--keep-db", action="store_true", help=f"leave {DB_NAME} at the end")
    args = parser.parse_args()
    if args.rounds < 3:
        parser.error("--rounds: at least 3 (the medians need them)")
    if not 0 < args.edits <= args.features:
        parser.error("--edits: between 1 and --features")
    commit = git_commit()
    conditions = [f"at start {load()}"]
    try:
        path = buildings_file(DATA_DIR, args.features)
        say(f"creating {DB_NAME} and migrating ({load()})")
        create_database()
        kept_layer, dropped_layer, times = run_imports(path, args.rounds)
        conditions.append(f"after the imports {load()}")
        archives = archive_sizes(kept_layer, dropped_layer)
        pages_missing, pages = run_pages(kept_layer, times, args.features)
        check_trigger_switch(kept_layer)
        edits = [run_edits(kept_layer, args.edits, kind) for kind in ("attributes", "geometry")]
        conditions.append(f"at the end {load()}")
        conditions.append("the machine shared with other agents' tests")
        now = git_commit()
        if now != commit:
            commit += f" (moved to {now} during the run)"
        text = report(
            args=args, commit=commit, conditions=conditions, times=times, archives=archives,
            pages_missing=pages_missing, pages=pages, edits=edits,
        )  # fmt: skip
        print(text, flush=True)
        if not args.no_write:
            write_section(text)
    finally:
        if not args.keep_db:
            drop_database()


if __name__ == "__main__":
    main()
