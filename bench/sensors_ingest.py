"""Sensor ingestion benchmark (issue 15): observations per second through the HTTP API and through
MQTT, and the latest-value query over a year of 1-minute data for 20 stations.

In a database of its own (`bench_sensors` on the server of DATABASE_URL, made and migrated at the
start, dropped at the end), with one public sensor layer of 20 stations, one source and one
property:

1. HTTP: N observations (default 1,000,000: 50,000 minutes of each station) posted as JSON batches
   of B records (default 5,000; each batch = 250 minutes of all 20 stations) to
   POST /api/v1/sensors/observations on gunicorn (2 processes x 4 threads, as serve.sh runs it),
   from C client threads (bodies encoded before the clock starts). Then the same batches again:
   the idempotent path (every record a duplicate).
2. MQTT: N more observations as SenML packs of P records (one station's P minutes) published
   at QoS 1 to a Mosquitto of the bench's own, read by `manage.py sensors_subscribe` in its own
   process; timed from the first publish until every row is in the table.
3. Latest value: 20 stations x 1 year of 1-minute data (10.5 million rows, made by
   generate_series in SQL); the map's latest-values read (the `Latest` table, what
   /latest answers from) beside the reference queries over the observations themselves
   (DISTINCT ON, and a LATERAL index probe per datastream, which is what `at=` replay runs),
   and the HTTP answer of /latest and /latest?at=.

The evaluation task each batch queues goes to an in-memory broker here (no worker runs it):
this measures ingestion, not thresholds and anomaly detection.

Run with `.venv/bin/python bench/sensors_ingest.py [--observations N] [--batch B]`; writes its
section of bench/RESULTS.md unless `--no-write`.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import environ

ROOT = Path(__file__).resolve().parent.parent
DB_NAME = "bench_sensors"
RESULTS = ROOT / "bench" / "RESULTS.md"
SECTION_START, SECTION_END = (
    "<!-- sensors-ingest-bench:start -->",
    "<!-- sensors-ingest-bench:end -->",
)
STATIONS = 20
SLUG = "bench-stations"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _bench_environment() -> dict[str, str]:
    environ.Env.read_env(ROOT / ".env", overwrite=False)
    base = os.environ.get("DATABASE_URL", "postgis://mapserver:mapserver@127.0.0.1:5432/mapserver")
    return {
        "BENCH_SENSORS_BASE_DATABASE_URL": base,
        "DATABASE_URL": urlunsplit(urlsplit(base)._replace(path=f"/{DB_NAME}")),
        "DJANGO_SETTINGS_MODULE": "mapserver.settings",
        "DEBUG": "false",
        "SECRET_KEY": os.environ.get("SECRET_KEY") or "bench-sensors-only",
        # The evaluation each batch queues is sent nowhere a worker would read it.
        "CELERY_BROKER_URL": "memory://",
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "TILE_CACHE_DIR": tempfile.mkdtemp(prefix="bench-sensors-tiles-"),
        "MEDIA_ROOT": tempfile.mkdtemp(prefix="bench-sensors-media-"),
        "DB_APPLICATION_NAME": "bench-sensors",
        "SENSORS_MQTT_URL": "",
    }


os.environ.update(_bench_environment())
sys.path.insert(0, str(ROOT))

import django  # noqa: E402

django.setup()

import paho.mqtt.client as mqtt  # noqa: E402
import psycopg  # noqa: E402
from django.db import connection, connections  # noqa: E402
from django.utils import timezone  # noqa: E402
from psycopg import sql  # noqa: E402

from layers.models import Category, Feature, Layer  # noqa: E402
from sensors import partitions, selectors  # noqa: E402
from sensors.models import ObservedProperty, SensorLayer, Station  # noqa: E402
from sensors.services import source_create  # noqa: E402


def say(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", flush=True)


def admin_connection() -> psycopg.Connection:
    parts = urlsplit(os.environ["BENCH_SENSORS_BASE_DATABASE_URL"])
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


def make_layer() -> tuple[list[str], str]:
    """Create the sensor layer, its 20 stations, the property and the source; return codes, key."""
    category = Category.objects.create(slug="bench", name_vi="Bench", name_en="Bench")
    layer = Layer.objects.create(
        slug=SLUG, title_vi="Trạm", title_en="Stations", category=category,
        status="ready", visibility="public", geometry_type="point",
    )  # fmt: skip
    SensorLayer.objects.create(layer=layer, retention_days=400)
    ObservedProperty.objects.create(
        code="water_level", name_vi="Mực nước", name_en="Water level", unit="m"
    )
    source, key = source_create(name="bench")
    codes = [f"ST{i:02d}" for i in range(STATIONS)]
    from django.contrib.gis.geos import Point

    for i, code in enumerate(codes):
        feature = Feature.objects.create(
            layer=layer, geom=Point(107.5 + i / 100, 16.4, srid=4326), name=code,
            attributes={"station": code},
        )  # fmt: skip
        Station.objects.create(
            layer=layer, feature_id=feature.pk, code=code, name=code, source=source
        )
    return codes, key


def wait_for(url: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            parts = urlsplit(url)
            conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=2)
            conn.request("GET", parts.path)
            conn.getresponse().read()
            return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"{url} did not answer within {seconds} s")


def start_gunicorn(port: int) -> subprocess.Popen:
    env = {**os.environ, "BIND": f"127.0.0.1:{port}", "WEB_WORKERS": "2", "WEB_THREADS": "4"}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    server = subprocess.Popen(
        [ROOT / ".venv" / "bin" / "gunicorn", "mapserver.wsgi", "-c", "deploy/gunicorn.conf.py",
         "--log-level", "warning", "--access-logfile", "/dev/null"],
        cwd=ROOT, env=env,
    )  # fmt: skip
    wait_for(f"http://127.0.0.1:{port}/healthz")
    return server


def http_batches(codes: list[str], total: int, batch: int, start: datetime) -> list[bytes]:
    """Return the JSON bodies: each batch holds consecutive minutes of every station."""
    minutes_per_batch = batch // len(codes)
    bodies = []
    minute = 0
    while minute * len(codes) < total:
        records = [
            {
                "station": code,
                "property": "water_level",
                "time": (start + timedelta(minutes=m)).isoformat(),
                "value": round(1.5 + (m % 600) / 1000 + s / 100, 3),
            }
            for m in range(minute, minute + minutes_per_batch)
            for s, code in enumerate(codes)
        ]
        bodies.append(json.dumps({"observations": records}).encode())
        minute += minutes_per_batch
    return bodies


def post_all(port: int, key: str, bodies: list[bytes], clients: int) -> tuple[float, dict]:
    """Post every body from `clients` threads; return seconds and the summed answers."""
    totals = {"accepted": 0, "duplicates": 0, "rejected": 0}
    lock = threading.Lock()
    queue = list(reversed(bodies))

    def client() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        while True:
            with lock:
                if not queue:
                    break
                body = queue.pop()
            conn.request(
                "POST", "/api/v1/sensors/observations", body=body,
                headers={"Content-Type": "application/json", "X-Sensor-Key": key},
            )  # fmt: skip
            response = conn.getresponse()
            answer = json.loads(response.read())
            if response.status != 200:
                raise RuntimeError(f"{response.status}: {answer}")
            with lock:
                totals["accepted"] += answer["accepted"]
                totals["duplicates"] += answer["duplicates"]
                totals["rejected"] += len(answer["rejected"])
        conn.close()

    threads = [threading.Thread(target=client) for _ in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started, totals


def count_rows() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM sensors_observation")
        return cursor.fetchone()[0]


def bench_mqtt(codes: list[str], total: int, pack: int, start: datetime, work: Path) -> dict:
    """Publish `total` readings as SenML packs; time until the subscriber has written them all."""
    port = _free_port()
    config = work / "mosquitto.conf"
    # No limits on what the broker queues for the subscriber: nothing may be dropped.
    config.write_text(
        f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
        "max_queued_messages 0\nmax_inflight_messages 0\n"
    )
    broker = subprocess.Popen(
        [shutil.which("mosquitto") or "/usr/sbin/mosquitto", "-c", str(config)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    subscriber = None
    try:
        time.sleep(0.5)
        subscriber = subprocess.Popen(
            [ROOT / ".venv" / "bin" / "python", "manage.py", "sensors_subscribe",
             "--url", f"mqtt://127.0.0.1:{port}"],
            cwd=ROOT, env=os.environ.copy(),
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )  # fmt: skip
        # Publish only once the subscription is granted (a clean session gets nothing sent
        # before it); its log is read to the end meanwhile, so the pipe never fills.
        granted = threading.Event()

        def read_log() -> None:
            for line in subscriber.stderr:
                if b"subscription to" in line and b"granted" in line:
                    granted.set()
                log_lines.append(line.decode(errors="replace").rstrip())

        log_lines: list[str] = []
        threading.Thread(target=read_log, daemon=True).start()
        if not granted.wait(120):
            raise RuntimeError(f"the subscriber never subscribed: {log_lines[-5:]}")
        before = count_rows()
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
        client.max_inflight_messages_set(1000)
        client.max_queued_messages_set(0)
        client.connect("127.0.0.1", port)
        client.loop_start()
        per_station = total // len(codes)
        started = time.perf_counter()
        pending: deque = deque()
        for first in range(0, per_station, pack):
            for code in codes:
                bt = (start + timedelta(minutes=first)).timestamp()
                body = [{"bn": f"{code}:", "bt": bt, "bu": "m", "n": "water_level",
                         "v": round(1.5 + (first % 600) / 1000, 3)}]  # fmt: skip
                body += [
                    {
                        "n": "water_level",
                        "t": 60 * m,
                        "v": round(1.5 + ((first + m) % 600) / 1000, 3),
                    }
                    for m in range(1, min(pack, per_station - first))
                ]
                pending.append(client.publish(f"hue/sensors/bench/{code}", json.dumps(body), qos=1))
                # Message ids wrap at 65,535: keep fewer than that on their way.
                while len(pending) > 10_000:
                    pending.popleft().wait_for_publish(timeout=600)
        while pending:
            pending.popleft().wait_for_publish(timeout=600)
        published = time.perf_counter() - started
        expected = before + per_station * len(codes)
        deadline = time.monotonic() + 900
        while count_rows() < expected and time.monotonic() < deadline:
            time.sleep(0.5)
        written = time.perf_counter() - started
        client.disconnect()
        client.loop_stop()
        got = count_rows() - before
        if got != expected - before:
            say(f"MQTT: {got} of {expected - before} written; subscriber says {log_lines[-3:]}")
        return {
            "readings": got,
            "messages": per_station * len(codes) // pack,
            "publish_s": published,
            "total_s": written,
            "rate": got / written,
        }
    finally:
        if subscriber is not None:
            subscriber.terminate()
            subscriber.wait(timeout=30)
        broker.terminate()
        broker.wait(timeout=10)


YEAR_SQL = """
INSERT INTO sensors_observation (datastream_id, time, value, flag)
SELECT d.id, t, 1.5 + 0.5 * sin(extract(epoch FROM t) / 86400.0 + d.id), 0
FROM sensors_datastream d,
     generate_series(%(start)s::timestamptz, %(end)s::timestamptz, interval '1 minute') AS t
WHERE d.id = %(datastream)s
"""


def make_year(end: datetime) -> int:
    """Fill every datastream with a year of 1-minute readings up to `end` (SQL only)."""
    start = end - timedelta(days=365)
    partitions.ensure_months(partitions.add_months(start, k) for k in range(14))
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE sensors_observation, sensors_latest")
        cursor.execute("SELECT id FROM sensors_datastream ORDER BY id")
        ids = [row[0] for row in cursor.fetchall()]
        for datastream_id in ids:
            cursor.execute(YEAR_SQL, {"start": start, "end": end, "datastream": datastream_id})
        cursor.execute(
            "INSERT INTO sensors_latest (datastream_id, time, value, flag, state, state_since) "
            "SELECT DISTINCT ON (datastream_id) datastream_id, time, value, flag, 'normal', time "
            "FROM sensors_observation ORDER BY datastream_id, time DESC"
        )
        cursor.execute("ANALYZE sensors_observation")
        cursor.execute("SELECT count(*) FROM sensors_observation")
        return cursor.fetchone()[0]


LATEST_SQL = """
SELECT s.code, l.time, l.value FROM sensors_latest l
JOIN sensors_datastream d ON d.id = l.datastream_id JOIN sensors_station s ON s.id = d.station_id
WHERE s.layer_id = %s
"""
DISTINCT_ON_SQL = """
SELECT DISTINCT ON (o.datastream_id) o.datastream_id, o.time, o.value
FROM sensors_observation o JOIN sensors_datastream d ON d.id = o.datastream_id
JOIN sensors_station s ON s.id = d.station_id
WHERE s.layer_id = %s ORDER BY o.datastream_id, o.time DESC
"""


def timed(function, repeat: int) -> float:
    """Return the median milliseconds of `repeat` calls (after one warm-up call)."""
    function()
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        function()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def bench_latest(layer: Layer, port: int, end: datetime) -> dict:
    def query(text: str, *params):
        def run():
            with connection.cursor() as cursor:
                cursor.execute(text, params)
                rows = cursor.fetchall()
            assert len(rows) == STATIONS, len(rows)

        return run

    at = end - timedelta(days=100)
    replay_sql = selectors.VALUES_AT_SQL
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def get(path: str):
        def run():
            conn.request("GET", path)
            response = conn.getresponse()
            body = response.read()
            assert response.status == 200, body[:200]

        return run

    return {
        "latest_table_ms": timed(query(LATEST_SQL, layer.pk), 50),
        "lateral_ms": timed(query(replay_sql, end, layer.pk), 50),
        "distinct_on_ms": timed(query(DISTINCT_ON_SQL, layer.pk), 3),
        "selector_ms": timed(lambda: selectors.latest(layer=layer), 50),
        "http_latest_ms": timed(get(f"/api/v1/sensors/layers/{SLUG}/latest"), 50),
        "http_replay_ms": timed(
            get(f"/api/v1/sensors/layers/{SLUG}/latest?at={at.isoformat().replace('+', '%2B')}"),
            50,
        ),
    }


def write_results(text: str) -> None:
    current = RESULTS.read_text(encoding="utf-8") if RESULTS.exists() else "# Benchmarks\n"
    block = f"{SECTION_START}\n{text.rstrip()}\n{SECTION_END}"
    if SECTION_START in current and SECTION_END in current:
        head, rest = current.split(SECTION_START, 1)
        current = head + block + rest.split(SECTION_END, 1)[1]
    else:
        current = current.rstrip() + "\n\n" + block + "\n"
    RESULTS.write_text(current, encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--observations", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=5_000)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--pack", type=int, default=10, help="SenML records per MQTT message")
    parser.add_argument("--skip-year", action="store_true", help="no latest-value part")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    # Stopped from outside: still clean up (servers, the bench database).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    load_before = os.getloadavg()
    say(f"Creating {DB_NAME}")
    create_database()
    server = None
    work = Path(tempfile.mkdtemp(prefix="bench-sensors-"))
    try:
        codes, key = make_layer()
        layer = Layer.objects.get(slug=SLUG)
        now = timezone.now().replace(second=0, microsecond=0)
        per_station = args.observations // STATIONS
        http_start = now - timedelta(minutes=2 * per_station + 10)
        mqtt_start = now - timedelta(minutes=per_station + 5)
        bodies = http_batches(codes, args.observations, args.batch, http_start)
        say(f"{len(bodies)} HTTP batches of {args.batch} records encoded")
        # Months made ahead, as the maintenance task would have (a first batch of a month would
        # make its partition otherwise, once).
        partitions.ensure_months([http_start, now])
        port = _free_port()
        server = start_gunicorn(port)
        seconds, totals = post_all(port, key, bodies, args.clients)
        say(f"HTTP: {totals} in {seconds:.1f} s = {totals['accepted'] / seconds:,.0f}/s")
        again_s, again = post_all(port, key, bodies, args.clients)
        say(f"HTTP again: {again} in {again_s:.1f} s")
        mqtt_result = bench_mqtt(codes, args.observations, args.pack, mqtt_start, work)
        say(f"MQTT: {mqtt_result}")
        year = None
        if not args.skip_year:
            say("Making a year of 1-minute data for 20 stations (generate_series)")
            started = time.perf_counter()
            rows = make_year(now)
            say(f"{rows:,} rows in {time.perf_counter() - started:.0f} s")
            year = {"rows": rows, **bench_latest(layer, port, now)}
            say(f"Latest: {year}")
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
        drop_database()
        shutil.rmtree(work, ignore_errors=True)
    load_after = os.getloadavg()
    lines = [
        "## Sensor ingestion and latest values (bench/sensors_ingest.py)",
        "",
        f"{datetime.now(UTC):%Y-%m-%d}, {platform.machine()}, {os.cpu_count()} cores shared with "
        f"the other work of the machine (load average {load_before[0]:.1f} before, "
        f"{load_after[0]:.1f} after), PostgreSQL {connection.pg_version // 10000} on the same "
        "machine, 20 stations of one public sensor layer, one source. The evaluation each batch "
        "queues goes to an in-memory broker (not run): ingestion alone.",
        "",
        "| path | observations | time | observations/s |",
        "|---|---:|---:|---:|",
        f"| HTTP, JSON batches of {args.batch:,}, {args.clients} clients, gunicorn 2x4 threads "
        f"| {totals['accepted']:,} new | {seconds:.1f} s "
        f"| **{totals['accepted'] / seconds:,.0f}** |",
        f"| HTTP, the same batches again (all duplicates, nothing written) "
        f"| {again['duplicates']:,} | {again_s:.1f} s | {again['duplicates'] / again_s:,.0f} |",
        f"| MQTT, SenML packs of {args.pack} at QoS 1, {mqtt_result['messages']:,} messages, "
        f"one subscriber | {mqtt_result['readings']:,} | {mqtt_result['total_s']:.1f} s "
        f"(published in {mqtt_result['publish_s']:.1f} s) | **{mqtt_result['rate']:,.0f}** |",
    ]
    if year:
        lines += [
            "",
            f"Latest value of 20 stations over {year['rows']:,} observations (a year of 1-minute "
            "readings each, made by generate_series), median of 50 runs (DISTINCT ON: 3):",
            "",
            "| query | ms |",
            "|---|---:|",
            f"| `Latest` table (what /latest reads) | {year['latest_table_ms']:.2f} |",
            f"| LATERAL index probe per datastream (what `at=` replay reads) "
            f"| {year['lateral_ms']:.2f} |",
            f"| reference: DISTINCT ON over the observations | {year['distinct_on_ms']:.0f} |",
            f"| selectors.latest (queries and JSON shape, in Python) | {year['selector_ms']:.2f} |",
            f"| GET /latest over HTTP | {year['http_latest_ms']:.1f} |",
            f"| GET /latest?at= (100 days back) over HTTP | {year['http_replay_ms']:.1f} |",
        ]
    text = "\n".join(lines) + "\n"
    print(text)
    if not args.no_write:
        write_results(text)


if __name__ == "__main__":
    main()
