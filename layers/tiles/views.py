"""HTTP for tiles: MVT tiles of one layer or several, and their TileJSON.

Who may see a layer is asked first (`selectors.layers_visible_to`): a layer the requester may not
see answers 404 exactly like a missing one. Cache headers follow visibility: public tiles may be
kept by any proxy and fetched from any origin; the others are private to the requester.

`?as_of=<ISO 8601 instant>` answers the tile as the layers were then: rendered from their history
each time, never read from the tile cache nor written to it (the cache holds the layers as they
are). `?datetime=` (OGC: an instant or an interval) draws only the features of time-enabled
layers whose time meets it, rendered each time as filtered tiles are (`filtered.py`); a request
whose time-enabled layers all have every feature meeting it (or none is time-enabled) is the
plain, cached tile.
"""

from __future__ import annotations

import datetime
import gzip
import hashlib
import logging
from collections.abc import Callable, Iterable
from typing import TypeVar

from django.conf import settings
from django.db import connections
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.cache import patch_vary_headers
from django.utils.http import parse_etags
from django.views.decorators.http import require_safe

from layers.api.errors import error_response
from layers.errors import InvalidParameter, LayerError, NotFound
from layers.features.query import parse_instant
from layers.middleware import DATABASE_ERRORS
from layers.models import Layer
from layers.selectors import layers_visible_to
from mapserver.db_router import read_alias
from mapserver.observability import metrics

from .ahead import visible_with_tile
from .cache import PUBLIC, TileKey, layer_scope, tile_cache
from .filtered import filtered_specs, filtered_tile, tile_filter
from .grid import TileCoord, TileOutsideGrid
from .render import gzip_tile
from .services import layer_tile, layer_tile_as_of
from .tilejson import tilejson as tilejson_document
from .writeguard import guard as write_guard

logger = logging.getLogger(__name__)

MVT_CONTENT_TYPE = "application/vnd.mapbox-vector-tile"
MAX_LAYERS_PER_REQUEST = 20
TILEJSON_MAX_AGE_S = 60
DB_DOWN_MAX_AGE_S = 10
# What a tile request reads of a layer: no extent to parse, no category to join.
TILE_LAYER_FIELDS = (
    "slug",
    "min_zoom",
    "max_zoom",
    "visibility",
    "status",
    "geometry_type",
    "tile_fields",
    "name_field",
    "style",
    "version",  # the cache is read as of it (a version not yet published is rendered)
    "time_start_field",  # `datetime=` filters only time-enabled layers
    "time_end_field",
)


def _as_of(request: HttpRequest) -> datetime.datetime | None:
    """Return the instant `?as_of=` names (None without it), or raise InvalidParameter."""
    value = request.GET.get("as_of", "")
    if not value.strip():
        return None
    return parse_instant(value, parameter="as_of")


class TileResponse(HttpResponse):
    """A tile response that does the work it was given once it has been sent.

    A WSGI server closes the response after its last byte went out (PEP 3333), so caching a
    freshly rendered tile (a version check under a lock, a file write) costs the client nothing.
    """

    def __init__(self, *args, after_sent: Iterable[Callable[[], object]] = (), **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.after_sent = list(after_sent)

    def close(self) -> None:
        """Run the deferred work, then close as usual (the database connection is still open)."""
        work, self.after_sent = self.after_sent, []
        for task in work:
            try:
                # A full disk pauses caching (one log line), and the client has its tile anyway.
                write_guard.run(task)
            except Exception:
                # The client has its tile; a tile that could not be cached is rendered again.
                logger.exception("Caching a rendered tile failed")
        super().close()


def _visible_layers(
    request: HttpRequest, slugs: str, fields: tuple[str, ...] | None = None
) -> list[Layer]:
    """Return the listed layers the requester may see, in the order asked; 404 if none.

    With `fields`, only those columns are read.
    """
    names = list(dict.fromkeys(slugs.split(",")))
    if len(names) > MAX_LAYERS_PER_REQUEST:
        raise InvalidParameter(f"At most {MAX_LAYERS_PER_REQUEST} layers per request.")
    visible = layers_visible_to(user=request.user).filter(slug__in=names)
    if fields is not None:
        # No category and no layer-tree order: the order asked is restored below.
        visible = visible.select_related(None).only(*fields).order_by()
    found = {layer.slug: layer for layer in visible}
    layers = [found[name] for name in names if name in found]
    if not layers:
        raise NotFound(f"No layer named {slugs!r}.")
    return layers


T = TypeVar("T")


def _checking_connection(query: Callable[[], T]) -> T:
    """Run a request's first query as the check of a reused database connection.

    With CONN_HEALTH_CHECKS, Django sends `SELECT 1` before the first query of each request on a
    reused connection: one more round trip, as long as the whole tile query at z16. Here the
    first query is the check: if it fails on a reused connection, that connection is closed and
    the query runs once more on a new one, as after a failed `SELECT 1`.
    """
    connection = connections[read_alias()]
    unchecked = (
        connection.health_check_enabled
        and not connection.health_check_done
        and connection.connection is not None
        and not connection.in_atomic_block
    )
    if not unchecked:
        return query()
    connection.health_check_done = True
    try:
        return query()
    except DATABASE_ERRORS:
        connection.close()
        return query()


def _cache_headers(response: HttpResponse, *, public: bool, max_age_s: int) -> HttpResponse:
    if public:
        response["Cache-Control"] = f"public, max-age={max_age_s}"
        response["Access-Control-Allow-Origin"] = "*"
    else:
        response["Cache-Control"] = "private, max-age=0, must-revalidate"
        patch_vary_headers(response, ["Cookie", "Authorization"])
    response["X-Content-Type-Options"] = "nosniff"
    return response


def _not_modified(request: HttpRequest, etag: str) -> bool:
    wanted = parse_etags(request.headers.get("If-None-Match", ""))
    return "*" in wanted or any(tag.removeprefix("W/") == etag for tag in wanted)


def _accepts_gzip(request: HttpRequest) -> bool:
    return "gzip" in request.headers.get("Accept-Encoding", "")


def _etag(data: bytes) -> str:
    return '"' + hashlib.blake2b(data, digest_size=12).hexdigest() + '"'


def _tile_body(parts: list[bytes]) -> bytes:
    """Return the gzip bytes of a tile made of per-layer tiles (an MVT tile is a list of layers)."""
    parts = [part for part in parts if part]
    if len(parts) <= 1:
        return parts[0] if parts else b""
    joined = b"".join(gzip.decompress(part) for part in parts)
    return gzip_tile(joined)


def _cached_public_tile(request: HttpRequest, slugs: str, coord: TileCoord) -> HttpResponse | None:
    """Answer a tile from the public part of the cache alone, without the database, if it can.

    A file under `public/` is a tile that anyone may see: it is stored there only after a
    version and scope check under the layer's lock, and removed under that lock when the layer
    stops being public, so nginx serves these same files without asking. Only complete answers
    are given (every layer's tile cached); anything else waits for the database.
    """
    cache = tile_cache()
    parts = []
    for slug in dict.fromkeys(slugs.split(",")):
        data = cache.get(TileKey(PUBLIC, slug, coord))
        if data is None:
            return None
        parts.append(data)
    metrics.tile_cache_looked_up(hits=len(parts))
    # Short-lived: the database decides again as soon as it is back.
    return _tile_answer(request, _tile_body(parts), public=True, max_age_s=DB_DOWN_MAX_AGE_S)


def _coord_or_none(z: int, x: int, y: int) -> TileCoord | None:
    try:
        return TileCoord.checked(z, x, y)
    except TileOutsideGrid:
        return None


@require_safe
def tile(request: HttpRequest, slugs: str, z: int, x: int, y: int) -> HttpResponse:
    """Answer one MVT tile of one layer or of several (`a,b,c`): 200, 204, 304, 400 or 404."""
    cache = tile_cache()
    try:
        as_of = _as_of(request)
        # `filter=`, `properties=`, `datetime=`: rendered, never cached
        wanted = tile_filter(request)
        layers, ahead = _checking_connection(
            lambda: visible_with_tile(
                lambda: _visible_layers(request, slugs, TILE_LAYER_FIELDS),
                slugs=slugs,
                # A tile of the past is not the one the statement sent ahead would render.
                coord=_coord_or_none(z, x, y) if as_of is None and wanted is None else None,
                cache=cache,
            )
        )
        coord = TileCoord.checked(z, x, y)
        specs = filtered_specs(layers=layers, wanted=wanted, as_of=as_of) if wanted else {}
    except TileOutsideGrid as error:
        return error_response(InvalidParameter(str(error)))
    except LayerError as error:
        return error_response(error)
    except DATABASE_ERRORS:
        if as_of is not None or wanted is not None:
            raise  # the cache holds no tile of the past, nor a filtered one
        # The database is down: a cached public tile is still an answer (else 503, middleware).
        try:
            cached = _cached_public_tile(request, slugs, TileCoord.checked(z, x, y))
        except TileOutsideGrid:
            cached = None
        if cached is None:
            raise
        logger.warning(
            "Database unavailable: tile %s/%s/%s/%s served from the public cache", slugs, z, x, y
        )
        return cached
    in_range = [layer for layer in layers if layer.min_zoom <= z <= layer.max_zoom]
    if not in_range:
        ranges = ", ".join(f"{layer.slug}: {layer.min_zoom}-{layer.max_zoom}" for layer in layers)
        return error_response(
            InvalidParameter(f"Zoom {z} is outside the layer's zooms ({ranges}).")
        )
    public = all(layer_scope(layer) == PUBLIC for layer in in_range)
    max_age_s = settings.TILE_PUBLIC_MAX_AGE_S
    if wanted is not None and not wanted.applies_to(in_range):
        wanted = None  # a `datetime` alone leaves the layers that are not time-enabled as they are

    if wanted is not None:
        body = _tile_body([filtered_tile(specs[layer.pk], coord).data for layer in in_range])
        return _tile_answer(request, body, public=public, max_age_s=max_age_s)

    if as_of is not None:
        answers = [layer_tile_as_of(layer=layer, coord=coord, as_of=as_of) for layer in in_range]
        body = _tile_body([answer.data for answer in answers])
        return _tile_answer(request, body, public=public, max_age_s=max_age_s)

    if len(in_range) == 1 and not public:
        # Behind nginx, a cached private tile is sent by nginx once Django said yes.
        key = TileKey.of(in_range[0], coord)
        redirect = cache.accel_redirect(key)
        if redirect and cache.get(key):
            metrics.tile_cache_looked_up(hits=1)
            response = HttpResponse(content_type=MVT_CONTENT_TYPE)
            response["X-Accel-Redirect"] = redirect
            return _cache_headers(response, public=False, max_age_s=max_age_s)

    answers = [
        layer_tile(layer=layer, coord=coord, cache=cache, store=False, rendered=ahead)
        for layer in in_range
    ]
    hits = sum(answer.from_cache for answer in answers)
    metrics.tile_cache_looked_up(hits=hits, misses=len(answers) - hits)
    # Tiles rendered now are cached once the response is out (see TileResponse).
    after_sent = [answer.store for answer in answers if answer.unstored]
    body = _tile_body([answer.data for answer in answers])
    return _tile_answer(request, body, public=public, max_age_s=max_age_s, after_sent=after_sent)


def _tile_answer(
    request: HttpRequest,
    body: bytes,
    *,
    public: bool,
    max_age_s: int,
    after_sent: Iterable[Callable[[], object]] = (),
) -> TileResponse:
    """Return a tile body (gzip) as the client asked for it: 304, 204, gzip or identity."""
    gzipped = _accepts_gzip(request)
    etag = _etag(body) if gzipped else _etag(body)[:-1] + '-identity"'
    if _not_modified(request, etag):
        response = TileResponse(status=304, after_sent=after_sent)
    elif not body:
        response = TileResponse(status=204, after_sent=after_sent)
    elif gzipped:
        response = TileResponse(body, content_type=MVT_CONTENT_TYPE, after_sent=after_sent)
        response["Content-Encoding"] = "gzip"
    else:
        response = TileResponse(
            gzip.decompress(body), content_type=MVT_CONTENT_TYPE, after_sent=after_sent
        )
    response["ETag"] = etag
    patch_vary_headers(response, ["Accept-Encoding"])
    return _cache_headers(response, public=public, max_age_s=max_age_s)


@require_safe
def tilejson(request: HttpRequest, slugs: str) -> HttpResponse:
    """Answer the TileJSON 3.0.0 of one layer or of several (`a,b,c`): 200, 304 or 404."""
    try:
        layers = _visible_layers(request, slugs)
    except LayerError as error:
        return error_response(error)
    document = tilejson_document(layers=layers, base_url=request.build_absolute_uri("/"))
    response = JsonResponse(document, json_dumps_params={"ensure_ascii": False})
    etag = _etag(response.content)
    if _not_modified(request, etag):
        response = HttpResponse(status=304)
    response["ETag"] = etag
    public = all(layer_scope(layer) == PUBLIC for layer in layers)
    return _cache_headers(response, public=public, max_age_s=TILEJSON_MAX_AGE_S)
