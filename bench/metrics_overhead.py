"""What the request middleware and the tile metrics cost on the cheapest path: a cached tile.

1000 requests of the same cached public tile through Django (the test client, in-process: no
network, so the difference is not lost in it), in four set-ups interleaved round by round:

- bare: no RequestObservationMiddleware, the tile metrics calls made no-ops;
- tile metrics: the tile view's and renderer's counters only;
- middleware: the full MIDDLEWARE (request id, X-Request-ID, request counter and histogram);
- middleware + JSON line: as above with LOG_FORMAT=json, the line written to /dev/null.

Run twice by itself: with the metrics in process memory, then in shared files
(PROMETHEUS_MULTIPROC_DIR, as under gunicorn). Uses a database of its own (TEST_DATABASE_NAME,
default bench_mapserver_metrics), created and migrated on the first run and kept.

    .venv/bin/python bench/metrics_overhead.py [--rounds 7] [--requests 1000]

Prints a Markdown table; bench/RESULTS.md keeps the figures of a run.
"""

from __future__ import annotations

import argparse
import logging
import logging.config
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mapserver.settings")
os.environ.setdefault("TEST_DATABASE_NAME", "bench_mapserver_metrics")
sys.path.insert(0, str(ROOT))

MODES = ("bare", "tile metrics", "middleware", "middleware + JSON line")
BLOCK = 50
MIDDLEWARE_PATH = "mapserver.observability.middleware.RequestObservationMiddleware"


def measure(rounds: int, requests: int) -> dict[str, list[float]]:
    """Return, per set-up, the microseconds per request of each round."""
    import django

    django.setup()
    from django.conf import settings
    from django.db import connection
    from django.test import Client
    from django.test.utils import override_settings

    from layers.tiles import views
    from layers.tiles.ahead import forget_layers
    from mapserver.observability.logs import logging_config
    from tests.factories import CategoryFactory, FeatureFactory, LayerFactory
    from tests.tiles.conftest import DAI_NOI, point, tile_and_pixel

    connection.creation.create_test_db(verbosity=0, keepdb=True)
    cache_dir = tempfile.mkdtemp(prefix="bench-metrics-tiles-")
    settings.TILE_CACHE_DIR = Path(cache_dir)
    settings.TILE_ACCEL_REDIRECT_PREFIX = None
    settings.ALLOWED_HOSTS = ["*"]
    category = CategoryFactory()
    layer = LayerFactory(slug=f"bench-{os.getpid()}", category=category, geometry_type="point")
    FeatureFactory(layer=layer, geom=point(DAI_NOI))
    forget_layers()
    x, y, _, _ = tile_and_pixel(*DAI_NOI, 15)
    url = f"/tiles/{layer.slug}/15/{x}/{y}.pbf"

    without = [name for name in settings.MIDDLEWARE if name != MIDDLEWARE_PATH]
    with override_settings(MIDDLEWARE=without):
        bare_client, tile_client = Client(), Client()
        bare_client.get(url), tile_client.get(url)  # loads each one's middleware chain
    full_client, json_client = Client(), Client()
    assert full_client.get(url).status_code == 200
    json_client.get(url)
    assert "X-Request-ID" not in bare_client.get(url)
    assert full_client.get(url)["X-Request-ID"]

    real_lookup = views.metrics.tile_cache_looked_up
    devnull = open(os.devnull, "w")  # noqa: SIM115 (kept open for the whole run)

    def configure(mode: str) -> None:
        noop = mode == "bare"
        views.metrics.tile_cache_looked_up = (lambda **kw: None) if noop else real_lookup
        if mode == "middleware + JSON line":
            logging.config.dictConfig(logging_config(log_format="json"))
            logging.getLogger().handlers[0].setStream(devnull)
        else:
            logging.config.dictConfig(settings.LOGGING)

    # Each round is `requests` requests per set-up, taken in blocks of BLOCK that alternate
    # between the set-ups, so a slow moment of the machine falls on all of them alike.
    clients = dict(zip(MODES, (bare_client, tile_client, full_client, json_client), strict=True))
    results: dict[str, list[float]] = {mode: [] for mode in MODES}
    for _ in range(rounds):
        spent = dict.fromkeys(MODES, 0.0)
        for _block in range(requests // BLOCK):
            for mode, client in clients.items():
                configure(mode)
                started = time.perf_counter()
                for _ in range(BLOCK):
                    response = client.get(url)
                spent[mode] += time.perf_counter() - started
                assert response.status_code == 200
        for mode in MODES:
            results[mode].append(spent[mode] / requests * 1e6)
    configure("tile metrics")
    results.update(_middleware_alone(url, devnull))
    layer.delete()
    category.delete()
    return results


def _middleware_alone(url: str, devnull) -> dict[str, list[float]]:
    """Return the microseconds the middleware and one tile counter add to a request, measured
    around a view that answers at once (no database, no client): many calls, best of 7."""
    from django.conf import settings
    from django.http import HttpResponse
    from django.test import RequestFactory
    from django.urls import resolve

    from mapserver.observability import metrics
    from mapserver.observability.logs import logging_config
    from mapserver.observability.middleware import RequestObservationMiddleware

    match = resolve(url)
    canned = HttpResponse(b"tile", content_type="application/vnd.mapbox-vector-tile")

    def view(request):
        request.resolver_match = match
        return canned

    request = RequestFactory().get(url)
    wrapped = RequestObservationMiddleware(view)
    calls = 20_000

    def per_call(function) -> list[float]:
        times = []
        for _ in range(7):
            started = time.perf_counter()
            for _ in range(calls):
                function(request)
            times.append((time.perf_counter() - started) / calls * 1e6)
        return times

    def tile_counter(request):
        metrics.tile_cache_looked_up(hits=1)
        return view(request)

    alone = {"(alone) view only": per_call(view), "(alone) + tile counter": per_call(tile_counter)}
    logging.config.dictConfig(settings.LOGGING)
    alone["(alone) + middleware"] = per_call(wrapped)
    logging.config.dictConfig(logging_config(log_format="json"))
    logging.getLogger().handlers[0].setStream(devnull)
    alone["(alone) + middleware + JSON line"] = per_call(wrapped)
    logging.config.dictConfig(settings.LOGGING)
    return alone


def report(label: str, results: dict[str, list[float]]) -> None:
    print(f"\n{label}\n")
    print("| set-up | µs per request (median of rounds) | best round | median over its base |")
    print("|---|---|---|---|")
    bases = {"": statistics.median(results["bare"])}
    bases["(alone)"] = statistics.median(results["(alone) view only"])
    for mode, values in results.items():
        median = statistics.median(values)
        base = bases["(alone)" if mode.startswith("(alone)") else ""]
        print(f"| {mode} | {median:.1f} | {min(values):.1f} | {median - base:+.1f} µs |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.inner:
        results = measure(args.rounds, args.requests)
        for mode, values in results.items():
            print(mode, *values, sep="\t")
        return
    for label, extra in (
        ("Metrics in process memory", {}),
        ("Metrics in shared files (PROMETHEUS_MULTIPROC_DIR)", {"shared": True}),
    ):
        env = dict(os.environ)
        env.pop("PROMETHEUS_MULTIPROC_DIR", None)
        with tempfile.TemporaryDirectory(prefix="bench-metrics-") as directory:
            if extra:
                env["PROMETHEUS_MULTIPROC_DIR"] = directory
            command = [sys.executable, __file__, "--inner", f"--rounds={args.rounds}"]
            command.append(f"--requests={args.requests}")
            out = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True)
        if out.returncode:
            sys.exit(out.stderr)
        results = {}
        for line in out.stdout.splitlines():
            mode, *values = line.split("\t")
            results[mode] = [float(value) for value in values]
        report(label, results)


if __name__ == "__main__":
    main()
