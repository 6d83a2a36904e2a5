"""The measurements taken while answering: requests per route family, tile cache, tile renders.

Labels are few and bounded, so the files and the scrape stay small: a route *family* (from the
URL pattern that answered, never the raw path), a known method, the status code, a zoom level.
What the database and the broker know (jobs, queues) is read when Prometheus asks instead
(`collectors.py`). Names and meanings: docs/operations.md, "Metrics".
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram, disable_created_metrics

from . import multiprocess

# Before the first metric exists: under gunicorn every process writes to the shared folder.
multiprocess.use_process_slots()
# No `_created` series: a start time per label set doubles the output and nothing reads it.
disable_created_metrics()

# The first segment of the URL pattern that answered; anything else (the web map, health,
# styles, static files, an unknown path) is "other".
FAMILIES = {"tiles": "tiles", "api": "api", "ogc": "ogc", "admin": "admin"}
OTHER = "other"
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

HTTP_REQUESTS = Counter(
    "mapserver_http_requests",
    "Requests answered by Django, by route family, method and status code.",
    ["family", "method", "status"],
)
# From a cached tile (~1 ms) to a slow export page.
HTTP_DURATION = Histogram(
    "mapserver_http_request_duration_seconds",
    "Time from a request's arrival in Django to its response, by route family.",
    ["family"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
TILE_CACHE_LOOKUPS = Counter(
    "mapserver_tile_cache_lookups",
    "Layer tiles Django looked for in the tile cache: found (hit) or rendered (miss). Tiles "
    "nginx sends from the cache itself never reach Django (docs/operations.md).",
    ["result"],
)
# A z16 tile renders in ~2 ms, a dense z12 one in ~120 ms (bench/RESULTS.md).
TILE_RENDER = Histogram(
    "mapserver_tile_render_seconds",
    "Time PostGIS took to render one layer's tile for a request, by zoom level.",
    ["zoom"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)

_families: dict[str | None, str] = {}


def route_family(route: str | None) -> str:
    """Return the family of a URL pattern (`tiles/<slugs:slugs>/…` is `tiles`)."""
    family = _families.get(route)
    if family is None:
        first = (route or "").lstrip("^").split("/", 1)[0]
        family = _families[route] = FAMILIES.get(first, OTHER)
    return family


def request_observed(*, family: str, method: str, status: int, duration_s: float) -> None:
    """Count one answered request and its duration."""
    method = method if method in METHODS else "other"
    HTTP_REQUESTS.labels(family, method, str(status)).inc()
    HTTP_DURATION.labels(family).observe(duration_s)


def tile_cache_looked_up(*, hits: int = 0, misses: int = 0) -> None:
    """Count layer tiles found in the tile cache (hits) and rendered instead (misses)."""
    if hits:
        TILE_CACHE_LOOKUPS.labels("hit").inc(hits)
    if misses:
        TILE_CACHE_LOOKUPS.labels("miss").inc(misses)


def tile_rendered(*, zoom: int, duration_s: float) -> None:
    """Record how long one tile took to render."""
    TILE_RENDER.labels(str(zoom)).observe(duration_s)
