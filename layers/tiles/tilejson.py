"""TileJSON 3.0.0 documents for one layer or several served together."""

from __future__ import annotations

import math

from layers.features.temporal import temporal_extent
from layers.models import Layer
from layers.rich_text import clean_attribution

from .render import layer_tile_fields

TILEJSON_VERSION = "3.0.0"
WORLD_BOUNDS = (-180.0, -85.05112877980659, 180.0, 85.05112877980659)
FIELD_TYPES = {"integer": "Number", "number": "Number", "float": "Number", "boolean": "Boolean"}


def _field_types(layer: Layer) -> dict[str, str]:
    """Return each tile attribute with its type as TileJSON clients expect (String, Number…)."""
    declared = {field.get("name"): field.get("type", "") for field in layer.attribute_schema or []}
    return {
        name: FIELD_TYPES.get(declared.get(name, ""), "String") for name in layer_tile_fields(layer)
    }


def _bounds(layers: list[Layer]) -> tuple[float, float, float, float]:
    boxes = [layer.extent.extent for layer in layers if layer.extent is not None]
    if not boxes:
        return WORLD_BOUNDS
    return (
        min(box[0] for box in boxes),
        min(box[1] for box in boxes),
        max(box[2] for box in boxes),
        max(box[3] for box in boxes),
    )


def _center_zoom(bounds: tuple[float, float, float, float], min_zoom: int, max_zoom: int) -> int:
    """Return the zoom at which the bounds fill about one 512-pixel tile."""
    span = max(bounds[2] - bounds[0], bounds[3] - bounds[1], 1e-6)
    return max(min_zoom, min(max_zoom, math.floor(math.log2(360 / span))))


def _union(extents: list[dict]) -> list[str | None]:
    """Return the interval that covers these temporal extents (None: an open end)."""
    starts = [extent["interval"][0][0] for extent in extents]
    ends = [extent["interval"][0][1] for extent in extents]
    # RFC 3339 texts in one time zone (the city's) order as their instants do.
    return [
        None if None in starts else min(starts),
        None if None in ends else max(ends),
    ]


def temporal_member(layers: list[Layer], extents: dict[str, dict | None]) -> dict | None:
    """Return the TileJSON's `temporal` member: the time-enabled layers' extent from their
    data (`interval`, open ends null) and, for one layer, its time fields; None without any.

    `extents`: each layer's `temporal_extent` by slug."""
    extents = {slug: extent for slug, extent in extents.items() if extent}
    if not extents:
        return None
    member: dict = {"interval": [_union(list(extents.values()))]}
    if len(layers) == 1:
        extent = extents[layers[0].slug]
        member.update(start_field=extent["start_field"], end_field=extent["end_field"])
    # The tiles take `datetime=` (OGC API - Features' syntax) to draw only the features then.
    member["parameter"] = "datetime"
    return member


def tilejson(*, layers: list[Layer], base_url: str) -> dict:
    """Return the TileJSON of these layers served as one tile source from base_url."""
    slugs = ",".join(layer.slug for layer in layers)
    versions = ".".join(str(layer.version) for layer in layers)
    min_zoom = min(layer.min_zoom for layer in layers)
    max_zoom = max(layer.max_zoom for layer in layers)
    bounds = _bounds(layers)
    single = len(layers) == 1
    # Clients put the attribution into their page as HTML: cleaned again as it goes out.
    attributions = [clean_attribution(layer.attribution) for layer in layers]
    attributions = list(dict.fromkeys(text for text in attributions if text))
    temporal = {layer.slug: temporal_extent(layer) for layer in layers}
    document = {
        "tilejson": TILEJSON_VERSION,
        # The version in the URL changes with the data, so clients fetch new tiles after a change.
        "tiles": [f"{base_url.rstrip('/')}/tiles/{slugs}/{{z}}/{{x}}/{{y}}.pbf?v={versions}"],
        "name": layers[0].title if single else " + ".join(layer.title for layer in layers),
        "description": layers[0].description if single else "",
        "attribution": " · ".join(attributions),
        "version": f"{versions if single else '1'}.0.0",
        "scheme": "xyz",
        "format": "pbf",
        "bounds": list(bounds),
        "center": [
            round((bounds[0] + bounds[2]) / 2, 6),
            round((bounds[1] + bounds[3]) / 2, 6),
            _center_zoom(bounds, min_zoom, max_zoom),
        ],
        "minzoom": min_zoom,
        "maxzoom": max_zoom,
        "vector_layers": [
            {
                "id": layer.slug,
                "description": layer.title,
                "minzoom": layer.min_zoom,
                "maxzoom": layer.max_zoom,
                "fields": _field_types(layer),
                **({"temporal": temporal[layer.slug]} if temporal[layer.slug] else {}),
            }
            for layer in layers
        ],
    }
    if member := temporal_member(layers, temporal):
        document["temporal"] = member
    return document
