"""GeoJSON answers: a FeatureCollection page (streamed when large) and a single Feature.

PostgreSQL writes each feature's JSON (`layers.features.geojson`); here it is framed. The counts
and links go after the features, so a streamed page can tell how many it really returned.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

from django.http import HttpResponse, StreamingHttpResponse
from django.utils import timezone

from layers.features import geojson
from layers.features.query import FeatureQuery
from layers.models import Layer

from .pagination import PageRequest

GEOJSON = "application/geo+json"
# Pages up to this many features are built in memory (and get a Content-Length); larger ones stream.
STREAM_ABOVE = 1000

Tail = Callable[[int, int], dict]  # (returned, matched) -> the members after "features"


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
    """Return a FeatureCollection of one page of the query's features."""
    if matched is None:
        matched = geojson.feature_count(query)
    head = '{"type":"FeatureCollection","features":['
    if page.limit <= STREAM_ABOVE:
        features = geojson.feature_page(query, limit=page.limit, offset=page.offset)
        body = head + ",".join(features) + "]," + _tail_text(tail, len(features), matched)
        return HttpResponse(body.encode(), content_type=content_type)
    chunks = geojson.feature_page_stream(query, limit=page.limit, offset=page.offset)
    return StreamingHttpResponse(_stream(head, chunks, tail, matched), content_type=content_type)


def whole_layer_count(layer: Layer, query: FeatureQuery) -> int | None:
    """Return the layer's feature count when the query wants all of it, else None (count them).

    `services.layer_data_changed` keeps `feature_count` true on every write, so paging through a
    whole layer need not count 200,000 rows for each page.
    """
    return layer.feature_count if query.is_whole_layer else None


def _tail_text(tail: Tail, returned: int, matched: int) -> str:
    members = {
        "numberMatched": matched,
        "numberReturned": returned,
        "timeStamp": timezone.now().isoformat(timespec="seconds"),
        **tail(returned, matched),
    }
    return _dumps(members)[1:]


def _stream(head: str, chunks: Iterator[list[str]], tail: Tail, matched: int) -> Iterator[bytes]:
    yield head.encode()
    returned = 0
    for batch in chunks:
        yield (("," if returned else "") + ",".join(batch)).encode()
        returned += len(batch)
    yield ("]," + _tail_text(tail, returned, matched)).encode()


def feature_response(text: str, *, extra: dict | None = None) -> HttpResponse:
    """Return one Feature (its JSON text from PostgreSQL, with extra members appended)."""
    if extra:
        text = text[:-1] + "," + _dumps(extra)[1:]
    return HttpResponse(text.encode(), content_type=GEOJSON)
