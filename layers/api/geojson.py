"""GeoJSON answers: a FeatureCollection page (streamed when large) and a single Feature.

PostgreSQL writes each feature's JSON (`layers.features.geojson`); here it is framed. The counts
and links go after the features, so a streamed page can tell how many it really returned.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import itertools
import json
import logging
from collections.abc import Callable, Iterator

from django.conf import settings
from django.core.cache import cache
from django.http import HttpResponse, StreamingHttpResponse
from django.utils import timezone

from layers.features import geojson
from layers.features.query import FeatureQuery
from layers.models import Layer

from .pagination import PageRequest

logger = logging.getLogger(__name__)

GEOJSON = "application/geo+json"
# Pages up to this many features are built in memory (and get a Content-Length); larger ones stream.
STREAM_ABOVE = 1000

# (returned, matched, cut_short) -> the members after "features"; `cut_short`: the page stopped
# early at the vertex budget, so a `next` link is due even though it is shorter than `limit`.
Tail = Callable[[int, int, bool], dict]


def _dumps(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def collection_response(
    *,
    query: FeatureQuery,
    page: PageRequest,
    tail: Tail,
    content_type: str = GEOJSON,
    matched: int | None = None,
) -> HttpResponse:
    """Return a FeatureCollection of one page of the query's features, within the vertex budget."""
    if matched is None:
        matched = geojson.feature_count(query)
    budget = geojson.VertexBudget(settings.API_MAX_VERTICES)
    head = '{"type":"FeatureCollection","features":['
    if page.limit <= STREAM_ABOVE:
        features = geojson.feature_page(query, limit=page.limit, offset=page.offset, budget=budget)
        tail_text = _tail_text(tail, len(features), matched, budget.cut_short)
        body = head + ",".join(features) + "]," + tail_text
        return HttpResponse(body.encode(), content_type=content_type)
    chunks = geojson.feature_page_stream(query, limit=page.limit, offset=page.offset, budget=budget)
    # The first batch is read here, so that a feature over the budget is a 413, not a cut stream.
    first = next(chunks, [])
    stream = _stream(head, itertools.chain([first], chunks), tail, matched, budget)
    return StreamingHttpResponse(stream, content_type=content_type)


def matched_count(layer: Layer, query: FeatureQuery) -> int:
    """Return how many features match the query: `numberMatched` of each page.

    A whole layer's is the layer's `feature_count`, which `services.layer_data_changed` keeps
    true on every write. Any other is counted once per version of the layer's data and kept in
    the cache under that version (every write makes a new one, in its own transaction), so
    paging through 70,000 filtered buildings does not count them again for each of 70 pages
    (bench/features.py). The cache is a help, not a need: if it fails, the count is made.
    """
    if query.is_whole_layer:
        return layer.feature_count
    digest = hashlib.sha256(repr(dataclasses.astuple(query)).encode()).hexdigest()
    key = f"matched:{layer.pk}:{layer.version}:{digest}"
    try:
        cached = cache.get(key)
    except Exception as error:  # the cache (Redis) is down: count as without it
        logger.warning("Feature count cache unavailable: %s", error)
        return geojson.feature_count(query)
    if cached is not None:
        return cached
    matched = geojson.feature_count(query)
    with contextlib.suppress(Exception):
        cache.set(key, matched, timeout=settings.FEATURE_COUNT_CACHE_S)
    return matched


def _tail_text(tail: Tail, returned: int, matched: int, cut_short: bool) -> str:
    members = {
        "numberMatched": matched,
        "numberReturned": returned,
        "timeStamp": timezone.now().isoformat(timespec="seconds"),
        **tail(returned, matched, cut_short),
    }
    return _dumps(members)[1:]


def _stream(
    head: str,
    chunks: Iterator[list[str]],
    tail: Tail,
    matched: int,
    budget: geojson.VertexBudget,
) -> Iterator[bytes]:
    yield head.encode()
    returned = 0
    for batch in chunks:
        if not batch:
            continue
        yield (("," if returned else "") + ",".join(batch)).encode()
        returned += len(batch)
    yield ("]," + _tail_text(tail, returned, matched, budget.cut_short)).encode()


def feature_response(text: str, *, extra: dict | None = None) -> HttpResponse:
    """Return one Feature (its JSON text from PostgreSQL, with extra members appended)."""
    if extra:
        text = text[:-1] + "," + _dumps(extra)[1:]
    return HttpResponse(text.encode(), content_type=GEOJSON)
