"""Tiles drawn with a CQL2 `filter` (and `properties=` to pick their fields) or, on time-enabled
layers, a `datetime` (layers/features/temporal.py): only the features that match, rendered for
each request and never cached. A `datetime` that every feature of a layer meets (today, on the
current boundaries) is answered by the layer's plain, cached tile.

Why never cached on the server: the tile cache's correctness (version links, the boxes a change
touched, moving tiles when a layer's visibility changes) is kept per layer and tile; each filter
would multiply that by a number of variants anyone can choose, and fill the disk with them. The
answer still carries the layer's cache headers, so a browser or a proxy keeps it under its own
URL (the query string included), and ETags give 304s. nginx never sends a cached file for a URL
with a query string other than `v=` (deploy/nginx.conf.template).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from django.http import HttpRequest
from psycopg import sql

from layers.features.cql2 import compile_filter
from layers.features.query import layer_fields, parse_properties
from layers.features.temporal import (
    parse_datetime,
    time_condition_sql,
    time_filter,
    time_selects_all,
)
from layers.models import Layer

from .grid import TileCoord
from .render import render_tile, tile_spec
from .services import TileAnswer
from .sql import TileSpec


@dataclass(frozen=True)
class TileFilter:
    """What a tile request asks beyond the plain tile: a filter, its language and CRS, fields."""

    text: str = ""
    language: str | None = None
    crs: str | None = None
    properties: str | None = None
    datetime: str = ""  # OGC `datetime`: an instant or interval (time-enabled layers only)

    def applies_to(self, layers: list[Layer]) -> bool:
        """Return whether these layers' tiles differ from the plain ones under this filter: a
        `datetime` alone changes only time-enabled layers, and not those whose every feature
        meets it (today on the current boundaries: their cached tiles are the answer)."""
        if self.text.strip() or self.properties is not None:
            return True
        for layer in layers:
            time = time_filter(layer, self.datetime)
            if time is not None and not time_selects_all(layer, time):
                return True
        return False


def tile_filter(request: HttpRequest) -> TileFilter | None:
    """Return the filter a tile request asks for, None for the plain tile.

    Raises InvalidParameter for a `datetime` that is not an instant or an interval (checked
    even when no layer of the request is time-enabled).
    """
    params = request.GET
    wanted = TileFilter(
        text=params.get("filter", ""),
        language=params.get("filter-lang"),
        crs=params.get("filter-crs"),
        properties=params.get("properties"),
        datetime=params.get("datetime", "").strip(),
    )
    if wanted.datetime:
        parse_datetime(wanted.datetime)
    if not wanted.text.strip() and wanted.properties is None and not wanted.datetime:
        return None
    return wanted


def filtered_specs(
    *, layers: list[Layer], wanted: TileFilter, as_of: datetime | None = None
) -> dict[int, TileSpec]:
    """Return each layer's tile query with the filter and fields asked (by layer id).

    Raises InvalidParameter for a bad filter or a property a layer does not have.
    """
    return {layer.pk: _filtered_spec(layer, wanted, as_of) for layer in layers}


def _filtered_spec(layer: Layer, wanted: TileFilter, as_of: datetime | None) -> TileSpec:
    fields = layer_fields(layer)
    spec = replace(tile_spec(layer), as_of=as_of)
    if wanted.properties is not None:
        spec = replace(spec, fields=parse_properties(wanted.properties, fields=fields))
    conditions: list[sql.Composable] = []
    params: list = []
    if wanted.text.strip():
        compiled = compile_filter(
            wanted.text, fields=fields, language=wanted.language, crs=wanted.crs
        )
        conditions.append(sql.SQL("({})").format(compiled.condition))
        params.extend(compiled.params)
    if wanted.datetime and (time := time_filter(layer, wanted.datetime)):
        condition, values = time_condition_sql(time)
        conditions.append(condition)
        params.extend(values)
    if conditions:
        text = sql.SQL(" AND ").join(conditions).as_string(None)
        # The condition's positional placeholders become the tile statement's named ones.
        pieces = text.split("%s")
        condition = pieces[0] + "".join(f"%(cql_{i})s{piece}" for i, piece in enumerate(pieces[1:]))
        spec = replace(spec, condition=condition, condition_params=tuple(params))
    return spec


def filtered_tile(spec: TileSpec, coord: TileCoord) -> TileAnswer:
    """Return a layer's tile holding only what its filtered spec asks for (never cached)."""
    return TileAnswer(render_tile(spec, coord).gzipped, from_cache=False)
