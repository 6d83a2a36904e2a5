"""Tiles drawn with a CQL2 `filter` (and `properties=` to pick their fields): only the features
that match, rendered for each request and never cached.

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

from layers.features.cql2 import compile_filter
from layers.features.query import layer_fields, parse_properties
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


def tile_filter(request: HttpRequest) -> TileFilter | None:
    """Return the filter a tile request asks for, None for the plain tile."""
    params = request.GET
    wanted = TileFilter(
        text=params.get("filter", ""),
        language=params.get("filter-lang"),
        crs=params.get("filter-crs"),
        properties=params.get("properties"),
    )
    if not wanted.text.strip() and wanted.properties is None:
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
    if wanted.text.strip():
        compiled = compile_filter(
            wanted.text, fields=fields, language=wanted.language, crs=wanted.crs
        )
        # The condition's positional placeholders become the tile statement's named ones.
        pieces = compiled.condition.as_string(None).split("%s")
        condition = pieces[0] + "".join(f"%(cql_{i})s{piece}" for i, piece in enumerate(pieces[1:]))
        spec = replace(spec, condition=condition, condition_params=compiled.params)
    return spec


def filtered_tile(spec: TileSpec, coord: TileCoord) -> TileAnswer:
    """Return a layer's tile holding only what its filtered spec asks for (never cached)."""
    return TileAnswer(render_tile(spec, coord).gzipped, from_cache=False)
