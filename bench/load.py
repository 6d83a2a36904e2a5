"""Bounded loopback load test: mixed GETs against gunicorn, the old config beside the new one.

    .venv/bin/python bench/load.py [--seconds 30] [--connections 32] [--configs sync,gthread]

For each gunicorn configuration in turn it starts gunicorn (`mapserver.wsgi`, as scripts/serve.sh
does) and a Celery worker on queues of its own (a private `CELERY_QUEUE_PREFIX`, so it never takes
another process's tasks), with an empty private tile cache, on 127.0.0.1 only. It then sends
`--connections` keep-alive connections of mixed GETs for `--seconds` (and at most `--max-requests`):
cached and uncached tiles, feature pages, search, identify, TileJSON, OGC items and /healthz,
over the demo layers (`manage.py loaddemo`). It reports requests/s, p50/p95/p99 latency per kind
and overall, the errors (any status other than 200/204, or a broken connection: there must be
none) and the RSS of the web and worker processes before and after the load.

- `sync`: the old set-up, 2 sync workers (`gunicorn --workers 2`): one request at a time each.
- `gthread`: deploy/gunicorn.conf.py when it exists, else `--worker-class gthread --workers 2
  --threads 8`.

The client is the standard library (threads and http.client), so it runs here with nothing
installed; it shares the machine's two cores with the server, the same for both configurations,
which is why the figures are compared side by side in one run. Anonymous throttles are raised for
the run (THROTTLE_ANON_*): this measures capacity, not the throttles.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"  # loopback only
# Share of each kind of request in the mix (weights).
MIX = {
    "tile_cached": 30,
    "tile_uncached": 10,
    "features": 15,
    "search": 10,
    "identify": 10,
    "tilejson": 10,
    "ogc_items": 10,
    "healthz": 5,
}
OK_STATUSES = {200, 204}
# How often the web and worker memory is read during the run.
RSS_SAMPLE_S = 2
CENTER = (107.5905, 16.4637)
SEARCH_WORDS = ["hue", "dai noi", "cho", "truong", "benh vien", "cau", "chua", "song huong", "le"]


def tile_of(lon: float, lat: float, z: int) -> tuple[int, int]:
    """Return the x, y of the Web Mercator tile holding a point at zoom z."""
    import math

    n = 2**z
    x = int((lon + 180) / 360 * n)
    lat_r = math.radians(lat)
    y = int((1 - math.log(math.tan(lat_r) + 1 / math.cos(lat_r)) / math.pi) / 2 * n)
    return x, y


@dataclass
class Result:
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    examples: list[str] = field(default_factory=list)
    # Requests sent again once on a new connection because the server had closed the kept-alive
    # one (a worker replaced after max_requests): what browsers and HTTP libraries do too.
    resent: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


def rss_kib(pid: int) -> int:
    """Return the resident memory of a process and all its descendants, in KiB."""
    total = 0
    pids = [pid]
    while pids:
        current = pids.pop()
        try:
            for line in Path(f"/proc/{current}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        pids.extend(int(child) for child in children)
    return total


def get(port: int, path: str, timeout: float = 30) -> tuple[int, bytes]:
    with urllib.request.urlopen(f"http://{HOST}:{port}{path}", timeout=timeout) as answer:
        return answer.status, answer.read()


class Server:
    """gunicorn and a Celery worker of one configuration, on their own queues and tile cache."""

    def __init__(self, config: str, port: int, workdir: Path) -> None:
        self.config = config
        self.port = port
        self.workdir = workdir
        self.env = {
            **os.environ,
            "CELERY_QUEUE_PREFIX": f"bench-{uuid.uuid4().hex[:8]}-",
            "TILE_CACHE_DIR": str(workdir / "tiles"),
            "MEDIA_ROOT": str(workdir / "media"),
            "DEBUG": "false",
            "ALLOWED_HOSTS": HOST,
            "LOG_LEVEL": "WARNING",
            **{
                f"THROTTLE_ANON_{scope}": "100000000/min"
                for scope in ("FEATURES", "SEARCH", "IDENTIFY", "EXPORTS")
            },
        }
        self.web: subprocess.Popen | None = None
        self.worker: subprocess.Popen | None = None
        self.command: list[str] = []

    def gunicorn_args(self) -> list[str]:
        conf = ROOT / "deploy" / "gunicorn.conf.py"
        if self.config == "sync":
            return ["--workers", "2", "--worker-class", "sync"]
        if conf.exists():
            return ["-c", str(conf)]
        return ["--worker-class", "gthread", "--workers", "2", "--threads", "8"]

    def start(self) -> None:
        venv = ROOT / ".venv" / "bin"
        self.worker = subprocess.Popen(
            [str(venv / "celery"), "-A", "mapserver", "worker", "--loglevel=WARNING",
             "--concurrency=1", f"--hostname=bench-{self.config}@%h",
             "--without-gossip", "--without-mingle", "--without-heartbeat"],
            cwd=ROOT, env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        self.command = [
            str(venv / "gunicorn"), "mapserver.wsgi", "--bind", f"{HOST}:{self.port}",
            *self.gunicorn_args(),
        ]  # fmt: skip
        # The bind given here wins over a config file's (gunicorn: command line over file).
        self.web = subprocess.Popen(
            self.command, cwd=ROOT, env=self.env, stdout=subprocess.DEVNULL,
            stderr=open(self.workdir / "gunicorn.log", "w"),  # noqa: SIM115
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            # Ours must still run: on a port someone else took, another server would answer.
            if self.web.poll() is not None:
                raise RuntimeError(f"gunicorn ({self.config}) exited; see {self.workdir}")
            try:
                if get(self.port, "/healthz", timeout=5)[0] == 200:
                    return
            except OSError:
                time.sleep(0.3)
        raise RuntimeError(f"gunicorn ({self.config}) did not answer; see {self.workdir}")

    def stop(self) -> None:
        for process in (self.web, self.worker):
            if process is not None and process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in (self.web, self.worker):
            if process is not None:
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()


def build_urls(port: int) -> dict[str, list[str]]:
    """Return the URLs of each kind, from what the server lists (the demo layers)."""
    _status, body = get(port, "/api/v1/layers/")
    layers = json.loads(body)
    layers = layers["results"] if isinstance(layers, dict) else layers
    slugs = [layer["slug"] for layer in layers]
    counts = {layer["slug"]: layer.get("feature_count") or 0 for layer in layers}
    big = sorted(slugs, key=lambda slug: -counts[slug])[:6]
    templates = []  # (URL template, min zoom, max zoom)
    for slug in big:
        tilejson = json.loads(get(port, f"/tiles/{slug}.json")[1])
        template = tilejson["tiles"][0].split(f"{HOST}:{port}", 1)[-1]
        templates.append((template, tilejson["minzoom"], tilejson["maxzoom"]))

    def tile_url(template: str, z: int, x: int, y: int) -> str:
        return template.replace("{z}", str(z)).replace("{x}", str(x)).replace("{y}", str(y))

    cached = []
    for template, min_zoom, max_zoom in templates:
        zooms = [z for z in range(12, 18) if min_zoom <= z <= max_zoom][:3]
        for z in zooms:
            cx, cy = tile_of(*CENTER, z)
            cached += [
                tile_url(template, z, cx + dx, cy + dy) for dx in (-1, 0, 1) for dy in (-1, 0, 1)
            ]
    uncached = []
    for z, half in ((16, 20), (17, 40)):
        cx, cy = tile_of(*CENTER, z)
        fitting = [t for t in templates if t[1] <= z <= t[2]]
        for dx in range(-half, half):
            for dy in range(-half, half):
                template = fitting[(dx + dy) % len(fitting)][0]
                uncached.append(tile_url(template, z, cx + dx, cy + dy))
    random.Random(7).shuffle(uncached)
    features = [
        f"/api/v1/layers/{slug}/features/?limit=100&offset={offset}"
        for slug in big
        for offset in (0, 100, 200)
        if offset < max(counts[slug], 1)
    ]
    identify = [
        f"/api/v1/identify/?lon={CENTER[0] + dx / 200:.5f}&lat={CENTER[1] + dy / 200:.5f}&zoom=16"
        for dx in range(-3, 4)
        for dy in range(-3, 4)
    ]
    return {
        "tile_cached": cached,
        "tile_uncached": uncached,
        "features": features,
        "search": [f"/api/v1/search/?q={word.replace(' ', '+')}" for word in SEARCH_WORDS],
        "identify": identify,
        "tilejson": [f"/tiles/{slug}.json" for slug in slugs],
        "ogc_items": [f"/ogc/collections/{slug}/items?limit=50" for slug in big],
        "healthz": ["/healthz"],
    }


def warm(port: int, urls: dict[str, list[str]]) -> None:
    """Fetch every URL but the uncached tiles once, so the cached tiles are in the cache."""
    for kind, paths in urls.items():
        if kind == "tile_uncached":
            continue
        for path in paths:
            try:
                get(port, path)
            except urllib.error.HTTPError as error:
                raise RuntimeError(f"{path}: {error.code} {error.read()[:300]!r}") from None


class UncachedTiles:
    """Hand out each uncached tile once (the pool is larger than a 30 s run asks for)."""

    def __init__(self, paths: list[str]) -> None:
        self.paths = paths
        self.next = 0
        self.lock = threading.Lock()

    def take(self) -> str:
        with self.lock:
            path = self.paths[self.next % len(self.paths)]
            self.next += 1
            return path


def fetch(connection: http.client.HTTPConnection, path: str) -> int:
    """GET a path on a kept-alive connection; return the status (the body is read)."""
    connection.request("GET", path, headers={"Accept-Encoding": "gzip"})
    answer = connection.getresponse()
    answer.read()
    return answer.status


def client(
    port: int,
    urls: dict[str, list[str]],
    uncached: UncachedTiles,
    deadline: float,
    budget: list[int],
    result: Result,
    seed: int,
) -> None:
    rng = random.Random(seed)
    kinds, weights = list(MIX), list(MIX.values())
    connection = http.client.HTTPConnection(HOST, port, timeout=60)
    used, resent = False, 0
    latencies: dict[str, list[float]] = defaultdict(list)
    errors: dict[str, int] = defaultdict(int)
    examples = []
    while time.monotonic() < deadline:
        with result.lock:
            if budget[0] <= 0:
                break
            budget[0] -= 1
        kind = rng.choices(kinds, weights)[0]
        path = uncached.take() if kind == "tile_uncached" else rng.choice(urls[kind])
        started = time.perf_counter()
        try:
            try:
                status = fetch(connection, path)
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                if not used:
                    raise
                # The server closed this kept-alive connection between two requests: send it
                # again once on a fresh one, as a browser would. Counted, not hidden.
                resent += 1
                connection.close()
                connection = http.client.HTTPConnection(HOST, port, timeout=60)
                status = fetch(connection, path)
            used = True
        except (OSError, http.client.HTTPException) as error:
            status = 0
            connection.close()
            connection = http.client.HTTPConnection(HOST, port, timeout=60)
            used = False
            examples.append(f"{path}: {type(error).__name__}")
        elapsed = time.perf_counter() - started
        latencies[kind].append(elapsed)
        if status not in OK_STATUSES:
            errors[kind] += 1
            if len(examples) < 5:
                examples.append(f"{path}: {status}")
    connection.close()
    with result.lock:
        for kind, values in latencies.items():
            result.latencies[kind].extend(values)
        for kind, count in errors.items():
            result.errors[kind] += count
        result.examples.extend(examples[:5])
        result.resent += resent


def sample_memory(server, deadline: float, samples: list[tuple[float, int, int]]) -> None:
    """Record (seconds since start, web KiB, worker KiB) every RSS_SAMPLE_S until the deadline."""
    started = time.monotonic()
    while time.monotonic() < deadline:
        samples.append(
            (time.monotonic() - started, rss_kib(server.web.pid), rss_kib(server.worker.pid))
        )
        time.sleep(RSS_SAMPLE_S)


def quarters(samples: list[tuple[float, int, int]], index: int) -> list[int]:
    """Return the highest RSS (KiB) of each quarter of the run: a plateau shows as equal values."""
    if not samples:
        return []
    end = samples[-1][0] or 1
    peaks = [0, 0, 0, 0]
    for at, *values in samples:
        quarter = min(3, int(4 * at / end))
        peaks[quarter] = max(peaks[quarter], values[index - 1])
    return peaks


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def free_port() -> int:
    """Return a loopback port nobody listens on now."""
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def run(config: str, args) -> dict:
    port = free_port()
    workdir = Path(tempfile.mkdtemp(prefix=f"bench-load-{config}-"))
    server = Server(config, port, workdir)
    server.start()
    try:
        urls = build_urls(port)
        warm(port, urls)
        rss_before = {"web": rss_kib(server.web.pid), "worker": rss_kib(server.worker.pid)}
        result = Result()
        uncached = UncachedTiles(urls["tile_uncached"])
        budget = [args.max_requests]
        started = time.monotonic()
        deadline = started + args.seconds
        threads = [
            threading.Thread(
                target=client, args=(port, urls, uncached, deadline, budget, result, seed)
            )
            for seed in range(args.connections)
        ]
        samples: list[tuple[float, int, int]] = []
        sampler = threading.Thread(target=sample_memory, args=(server, deadline, samples))
        for thread in threads:
            thread.start()
        sampler.start()
        for thread in threads:
            thread.join(timeout=args.seconds + 120)
        sampler.join(timeout=RSS_SAMPLE_S + 5)
        wall_s = time.monotonic() - started
        time.sleep(1)
        rss_after = {"web": rss_kib(server.web.pid), "worker": rss_kib(server.worker.pid)}
        alive = server.web.poll() is None and server.worker.poll() is None
    finally:
        server.stop()
    if not alive:
        raise RuntimeError(f"a process of {config} died during the run; see {workdir}")
    shutil.rmtree(workdir, ignore_errors=True)
    everything = [value for values in result.latencies.values() for value in values]
    per_kind = {
        kind: {
            "requests": len(values),
            "p50_ms": 1000 * percentile(values, 0.50),
            "p95_ms": 1000 * percentile(values, 0.95),
            "p99_ms": 1000 * percentile(values, 0.99),
            "errors": result.errors.get(kind, 0),
        }
        for kind, values in sorted(result.latencies.items())
    }
    return {
        "config": config,
        "command": " ".join(Path(part).name if i == 0 else part for i, part in
                            enumerate(server.command)),
        "seconds": round(wall_s, 1),
        "requests": len(everything),
        "rps": len(everything) / wall_s,
        "p50_ms": 1000 * percentile(everything, 0.50),
        "p95_ms": 1000 * percentile(everything, 0.95),
        "p99_ms": 1000 * percentile(everything, 0.99),
        "mean_ms": 1000 * statistics.fmean(everything),
        "errors": sum(result.errors.values()),
        "error_examples": result.examples[:5],
        "resent_after_keepalive_close": result.resent,
        "uncached_tiles_used": uncached.next,
        "uncached_pool": len(urls["tile_uncached"]),
        "rss_kib_before": rss_before,
        "rss_kib_after": rss_after,
        "rss_kib_peak_by_quarter": {"web": quarters(samples, 1), "worker": quarters(samples, 2)},
        "per_kind": per_kind,
    }  # fmt: skip


def markdown(results: list[dict], args) -> str:
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    lines = [
        f"Run {time.strftime('%Y-%m-%d %H:%M')} at commit `{commit}`, {os.cpu_count()} cores "
        f"({platform.machine()}, Python {platform.python_version()}), "
        f"`bench/load.py --seconds {args.seconds} --connections {args.connections}`.",
        "",
        "| config | req/s | p50 ms | p95 ms | p99 ms | errors | resent | web RSS MiB before → "
        "after | worker RSS MiB before → after |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        b, a = r["rss_kib_before"], r["rss_kib_after"]
        lines.append(
            f"| {r['config']} | {r['rps']:.0f} | {r['p50_ms']:.0f} | {r['p95_ms']:.0f} "
            f"| {r['p99_ms']:.0f} | {r['errors']} | {r['resent_after_keepalive_close']} "
            f"| {b['web'] / 1024:.0f} → {a['web'] / 1024:.0f} "
            f"| {b['worker'] / 1024:.0f} → {a['worker'] / 1024:.0f} |"
        )
    lines += ["", "Highest RSS in each quarter of the run (MiB): a plateau is four equal figures."]
    lines += [""]
    lines += ["| config | web | worker |", "|---|---|---|"]
    for r in results:
        peaks = r["rss_kib_peak_by_quarter"]
        web = " / ".join(f"{kib / 1024:.0f}" for kib in peaks["web"])
        worker = " / ".join(f"{kib / 1024:.0f}" for kib in peaks["worker"])
        lines.append(f"| {r['config']} | {web} | {worker} |")
    lines += [
        "",
        "| kind | " + " | ".join(f"{r['config']} p50 / p95 ms (n)" for r in results) + " |",
    ]
    lines.append("|---|" + "---|" * len(results))
    for kind in MIX:
        cells = []
        for r in results:
            k = r["per_kind"].get(kind)
            cells.append(f"{k['p50_ms']:.0f} / {k['p95_ms']:.0f} ({k['requests']})" if k else "—")
        lines.append(f"| {kind} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--max-requests", type=int, default=200_000)
    parser.add_argument("--configs", default="sync,gthread")
    parser.add_argument("--json", type=Path, help="Also write the raw figures here.")
    args = parser.parse_args()
    if args.seconds > 120 or args.connections > 64:
        sys.exit("Bounded on purpose: at most 120 s and 64 connections.")
    results = []
    for config in args.configs.split(","):
        print(f"== {config}", file=sys.stderr)
        results.append(run(config, args))
        print(json.dumps(results[-1], indent=1), file=sys.stderr)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    print(markdown(results, args))


if __name__ == "__main__":
    main()
