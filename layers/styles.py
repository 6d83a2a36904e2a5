"""MapLibre styles built on the server: one layer's style, and the default map's whole style.

One definition of how a layer is drawn, served at stable URLs (layers/api/styles.py) so the web
map, QGIS ("Load style from URL" for vector tiles), Maputnik and mobile apps read the same JSON.

A Layer.style is MapLibre JSON in one of three shapes:
  {"type": "fill", "paint": {...}, "layout": {...}, "filter": [...]}   one MapLibre layer
  {"paint": {...}}                                                      type from the geometry
  {"layers": [{...}, {...}]}                                            several MapLibre layers
plus optional keys of our own: "label" (false, true, or {"minzoom", "layout", "paint"}) and
"extrusion" ({"height": expression, "base": expression, "color": colour}) for 3D.

MapLibre layer ids are stable, the ones the web map has always used: `L:{slug}:{n}` for the n-th
drawn layer, `L:{slug}:label` and `L:{slug}:3d`. What only a browser session needs (the highlight
of a selection, the identify, measuring and editing overlays) stays in the map's JavaScript.
"""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import zlib
from collections.abc import Iterable
from pathlib import Path

from django.conf import settings

from layers.features.temporal import is_time_enabled
from layers.models import Layer
from layers.rich_text import clean_attribution

logger = logging.getLogger(__name__)

# The MapLibre style specification's own validator (npm @maplibre/maplibre-gl-style-spec).
VALIDATOR = Path(settings.BASE_DIR) / "scripts" / "validate_styles.mjs"
VALIDATOR_TIMEOUT_S = 20
FONT_REGULAR = ["noto-sans-regular"]
FONT_BOLD = ["noto-sans-bold"]
BASE_SOURCE = "base"
PALETTE = ["#2563eb", "#db2777", "#16a34a", "#ea580c", "#7c3aed", "#0891b2", "#ca8a04", "#dc2626"]
GEOMETRY_RANK = {"polygon": 0, "mixed": 1, "line": 2, "point": 3}
HEIGHT_FIELDS = ["height_m", "height", "chieu_cao", "chieu_cao_m"]
FLOOR_FIELDS = ["levels", "so_tang", "floors", "building_levels"]
METRES_PER_FLOOR = 3.2
DEFAULT_HEIGHT_M = 6
# Tiles deeper than this are overzoomed by the client: at z16 a tile's 4096 units are ~0.15 m.
MAX_SOURCE_ZOOM = 16
BACKGROUND = {"id": "background", "type": "background", "paint": {"background-color": "#eef0ea"}}

IS_POLYGON = ["match", ["geometry-type"], ["Polygon", "MultiPolygon"], True, False]
IS_LINE = ["match", ["geometry-type"], ["LineString", "MultiLineString"], True, False]
IS_POINT = ["match", ["geometry-type"], ["Point", "MultiPoint"], True, False]
TYPE_PREFIXES = [
    ("fill-extrusion-", "fill-extrusion"),
    ("fill-", "fill"),
    ("line-", "line"),
    ("circle-", "circle"),
    ("text-", "symbol"),
    ("icon-", "symbol"),
    ("heatmap-", "heatmap"),
]
BY_GEOMETRY = {"point": "circle", "line": "line", "polygon": "fill"}


def style_layer_id(slug: str, index: int) -> str:
    return f"L:{slug}:{index}"


def label_layer_id(slug: str) -> str:
    return f"L:{slug}:label"


def extrusion_layer_id(slug: str) -> str:
    return f"L:{slug}:3d"


def colour_for(slug: str) -> str:
    """Return the default colour of a layer: the same hash of its slug as the map always used."""
    value = 0
    for char in slug:
        value = (value * 31 + ord(char)) & 0xFFFFFFFF
    return PALETTE[value % len(PALETTE)]


def _own_style(layer: Layer) -> dict:
    return layer.style if isinstance(layer.style, dict) else {}


def _type_from_paint(spec: dict) -> str | None:
    keys = [*(spec.get("paint") or {}), *(spec.get("layout") or {})]
    for prefix, kind in TYPE_PREFIXES:
        if any(key.startswith(prefix) for key in keys):
            return kind
    return None


def _default_specs(layer: Layer) -> list[dict]:
    colour = colour_for(layer.slug)
    fill = {
        "type": "fill",
        "paint": {"fill-color": colour, "fill-opacity": 0.35, "fill-outline-color": colour},
    }
    line = {"type": "line", "paint": {"line-color": colour, "line-width": 2}}
    circle = {
        "type": "circle",
        "paint": {
            "circle-color": colour,
            "circle-radius": 5,
            "circle-stroke-color": "#fff",
            "circle-stroke-width": 1.5,
        },
    }
    by_geometry = {"point": [circle], "line": [line], "polygon": [fill]}
    if layer.geometry_type in by_geometry:
        return by_geometry[layer.geometry_type]
    return [
        {**fill, "filter": IS_POLYGON},
        {**line, "filter": IS_LINE},
        {**circle, "filter": IS_POINT},
    ]


def style_specs(layer: Layer) -> list[dict]:
    """Return the MapLibre layer specs (type, paint, layout, filter, zooms) a layer's style asks."""
    style = _own_style(layer)
    if isinstance(style.get("layers"), list):
        specs = style["layers"]
    elif style.get("type") or style.get("paint") or style.get("layout"):
        specs = [style]
    else:
        specs = []
    specs = [spec for spec in specs if isinstance(spec, dict)]
    if not specs:
        return _default_specs(layer)
    out = []
    for spec in specs:
        kind = (
            spec.get("type")
            or _type_from_paint(spec)
            or BY_GEOMETRY.get(layer.geometry_type)
            or "fill"
        )
        item = {
            "type": kind,
            "paint": dict(spec.get("paint") or {}),
            "layout": dict(spec.get("layout") or {}),
        }
        for key in ("filter", "minzoom", "maxzoom"):
            if spec.get(key) is not None:
                item[key] = spec[key]
        # A mixed layer styled with one fill, line or circle draws only that kind of geometry.
        if layer.geometry_type == "mixed" and "filter" not in item:
            kind_filter = {"fill": IS_POLYGON, "line": IS_LINE, "circle": IS_POINT}.get(kind)
            if kind_filter:
                item["filter"] = kind_filter
        out.append(item)
    return out


def _field_names(layer: Layer) -> set[str]:
    return {
        field.get("name")
        for field in layer.attribute_schema or []
        if isinstance(field, dict) and field.get("name")
    }


def extrusion_of(layer: Layer) -> dict | None:
    """Return a layer's 3D extrusion ({height, base, colour}), or None when it stays flat."""
    style = _own_style(layer)
    fill = next((spec for spec in style_specs(layer) if spec["type"] == "fill"), None)
    own = style.get("extrusion") if isinstance(style.get("extrusion"), dict) else None
    if not fill and not own:
        return None
    names = _field_names(layer)
    height_field = next((name for name in HEIGHT_FIELDS if name in names), None)
    floor_field = next((name for name in FLOOR_FIELDS if name in names), None)
    if not own and not height_field and not floor_field:
        return None
    own = own or {}
    height = own.get("height")
    if not height:
        guesses = []
        if height_field:
            guesses.append(["to-number", ["get", height_field], 0])
        if floor_field:
            guesses.append(["*", ["to-number", ["get", floor_field], 0], METRES_PER_FLOOR])
        # A missing or zero height draws a low block rather than nothing.
        height = ["max", *guesses, DEFAULT_HEIGHT_M]
    fill_colour = fill["paint"].get("fill-color") if fill else None
    colour = own.get("color") or (fill_colour if isinstance(fill_colour, str) else None)
    return {"height": height, "base": own.get("base") or 0, "colour": colour or "#cbd5e1"}


def label_spec(layer: Layer, *, base: bool = False) -> dict | None:
    """Return a layer's label ({layout, paint, minzoom}), or None when it has none."""
    style = _own_style(layer)
    label = style.get("label")
    if not layer.name_field or label is False:
        return None
    own = label if isinstance(label, dict) else {}
    # A polygon cut by tile edges gets a label in each tile: the base map's large polygons (wards,
    # water) and its many small ones (buildings) stay unlabelled unless their style asks.
    if base and layer.geometry_type not in ("point", "line") and not label:
        return None
    common = {
        "text-field": ["to-string", ["get", layer.name_field]],
        "text-font": FONT_REGULAR,
        "text-size": 12,
        "text-max-width": 8,
    }
    paint = {
        "text-color": "#1f2937",
        "text-halo-color": "rgba(255,255,255,0.95)",
        "text-halo-width": 1.4,
    }
    if layer.geometry_type == "line":
        layout, minzoom = {**common, "symbol-placement": "line", "text-size": 11}, 14
    elif layer.geometry_type == "point":
        layout = {**common, "text-offset": [0, 0.9], "text-anchor": "top", "text-optional": True}
        minzoom = 13
    else:
        layout, minzoom = {**common, "text-font": FONT_BOLD, "text-size": 11}, 15
    own_minzoom = own.get("minzoom")
    return {
        "layout": {**layout, **(own.get("layout") or {})},
        "paint": {**paint, **(own.get("paint") or {})},
        "minzoom": max(own_minzoom if own_minzoom is not None else minzoom, layer.min_zoom or 0),
    }


def layer_style_layers(
    layer: Layer, *, source: str, visible: bool = True, three_d: bool = False, base: bool = False
) -> dict[str, list[dict]]:
    """Return a layer's MapLibre layers by group: drawn, extrusions, labels."""
    visibility = "visible" if visible else "none"
    extrusion = extrusion_of(layer)
    drawn = []
    for index, spec in enumerate(style_specs(layer)):
        flat_in_3d = bool(extrusion) and spec["type"] == "fill" and three_d
        layout = {**(spec.get("layout") or {}), "visibility": "none" if flat_in_3d else visibility}
        drawn.append(
            {
                "id": style_layer_id(layer.slug, index),
                "source": source,
                "source-layer": layer.slug,
                **spec,
                "minzoom": max(spec.get("minzoom") or 0, layer.min_zoom or 0),
                "layout": layout,
            }
        )
    extrusions = []
    if extrusion:
        extrusions.append(
            {
                "id": extrusion_layer_id(layer.slug),
                "type": "fill-extrusion",
                "source": source,
                "source-layer": layer.slug,
                "minzoom": layer.min_zoom or 0,
                "layout": {"visibility": "visible" if three_d and visible else "none"},
                "paint": {
                    "fill-extrusion-color": extrusion["colour"],
                    "fill-extrusion-height": extrusion["height"],
                    "fill-extrusion-base": extrusion["base"],
                    "fill-extrusion-opacity": 0.9,
                },
            }
        )
    labels = []
    if label := label_spec(layer, base=base):
        labels.append(
            {
                "id": label_layer_id(layer.slug),
                "type": "symbol",
                "source": source,
                "source-layer": layer.slug,
                "minzoom": label["minzoom"],
                "layout": {**label["layout"], "visibility": visibility},
                "paint": label["paint"],
            }
        )
    return {"drawn": drawn, "extrusions": extrusions, "labels": labels}


GROUPS = ("drawn", "extrusions", "labels")


def _stacked(groups: list[dict[str, list[dict]]]) -> list[dict]:
    """Stack the groups: every drawn layer, then every extrusion, then every label."""
    return [item for group in GROUPS for layer_groups in groups for item in layer_groups[group]]


def source_of(layers: list[Layer], *, origin: str) -> dict:
    """Return a vector source for these layers' tiles (one composite request when several)."""
    minzoom = min(layer.min_zoom for layer in layers)
    # Deeper zooms are drawn from the deepest tile every layer of the source has.
    maxzoom = max(minzoom, min(min(layer.max_zoom, MAX_SOURCE_ZOOM) for layer in layers))
    slugs = ",".join(layer.slug for layer in layers)
    versions = ".".join(str(layer.version) for layer in layers)
    source = {
        "type": "vector",
        "tiles": [f"{origin}/tiles/{slugs}/{{z}}/{{x}}/{{y}}.pbf?v={versions}"],
        "minzoom": minzoom,
        "maxzoom": maxzoom,
        # Cleaned HTML (links and inline tags only): MapLibre shows it as HTML.
        "attribution": credits_of(layers),
    }
    extents = [layer.extent.extent for layer in layers if layer.extent]
    if extents:
        source["bounds"] = [
            min(e[0] for e in extents),
            min(e[1] for e in extents),
            max(e[2] for e in extents),
            max(e[3] for e in extents),
        ]
    return source


def credits_of(layers: Iterable[Layer]) -> str:
    """Return the layers' credits, each once, as one line of cleaned HTML."""
    seen: list[str] = []
    for layer in layers:
        credit = clean_attribution(layer.attribution)
        if credit and credit not in seen:
            seen.append(credit)
    return " · ".join(seen)


def glyphs_url(origin: str) -> str:
    """Return the glyphs' URL: the project serves its own (scripts/build_glyphs.py), offline."""
    return f"{origin}{settings.STATIC_URL}glyphs/{{fontstack}}/{{range}}.pbf"


def layer_style(layer: Layer, *, origin: str) -> dict:
    """Return one layer's whole MapLibre style: its tiles, its drawn, 3D and label layers."""
    source = f"S:{layer.slug}"
    groups = layer_style_layers(layer, source=source)
    style = {
        "version": 8,
        "name": layer.title or layer.slug,
        "metadata": {"mapserver:layer": layer.slug, "mapserver:version": layer.version},
        "glyphs": glyphs_url(origin),
        "sources": {source: source_of([layer], origin=origin)},
        "layers": _stacked([groups]),
    }
    if layer.extent:
        centre = layer.extent.centroid
        style["center"] = [round(centre.x, 6), round(centre.y, 6)]
        style["zoom"] = max(layer.min_zoom, min(14, layer.max_zoom))
    return style


def drawing_order(layers: list[Layer], *, base_order: list[str]) -> list[Layer]:
    """Return the layers in drawing order: the base map from the bottom, then the themes."""
    by_slug = {layer.slug: layer for layer in layers}
    base = [by_slug[slug] for slug in base_order if slug in by_slug]
    category_rank: dict[int, tuple] = {}
    for layer in layers:
        category_rank[layer.category_id] = (layer.category.order, layer.category.slug)
    themes = sorted(
        (layer for layer in layers if layer.slug not in base_order),
        key=lambda layer: (
            GEOMETRY_RANK.get(layer.geometry_type, 1),
            category_rank.get(layer.category_id, (0, "")),
        ),
    )
    return base + themes


def map_style(
    layers: list[Layer], *, origin: str, on: Iterable[str] | None = None, three_d: bool = False
) -> dict:
    """Return the default map's style over these layers (those the requester may see).

    `on` names the themes shown (default: WEBMAP_DEFAULT_LAYERS); the base map
    (WEBMAP_BASE_LAYERS) always is. The base map and the themes the map opens with that are shown
    ride in one composite source, one request per tile (the first view's data arrives together);
    a theme whose tiles stop shallower than the base map's keeps a source of its own, as does
    every other theme. Every layer has its MapLibre layers; those off
    are `visibility: none` (MapLibre fetches no tile for them).
    """
    base_slugs = list(settings.WEBMAP_BASE_LAYERS)
    opens_on = set(settings.WEBMAP_DEFAULT_LAYERS)
    default_on = opens_on if on is None else set(on)
    order = drawing_order(layers, base_order=base_slugs)
    base = [layer for layer in order if layer.slug in base_slugs]
    base_max = min((min(layer.max_zoom, MAX_SOURCE_ZOOM) for layer in base), default=0)
    # A time-enabled layer keeps a source of its own, even in the base map: the web map's time
    # slider gives its tiles `?datetime=` (js/timeslider.js), and the rest stays cached.
    composite = [layer for layer in base if not is_time_enabled(layer)] + [
        layer
        for layer in order
        if layer.slug not in base_slugs
        and layer.slug in default_on
        and layer.slug in opens_on
        and min(layer.max_zoom, MAX_SOURCE_ZOOM) >= base_max
        and base
        and not is_time_enabled(layer)
    ]
    sources: dict[str, dict] = {}
    if composite:
        sources[BASE_SOURCE] = source_of(composite, origin=origin)
    groups = []
    for layer in order:
        in_base = layer in composite
        source = BASE_SOURCE if in_base else f"S:{layer.slug}"
        if not in_base:
            sources[source] = source_of([layer], origin=origin)
        on = layer.slug in base_slugs or layer.slug in default_on
        groups.append(
            layer_style_layers(
                layer, source=source, visible=on, three_d=three_d, base=layer.slug in base_slugs
            )
        )
    background = [BACKGROUND]
    if settings.WEBMAP_BASEMAP_URL:
        sources["basemap"] = {
            "type": "raster",
            "tiles": [settings.WEBMAP_BASEMAP_URL],
            "tileSize": 256,
            "attribution": clean_attribution(settings.WEBMAP_BASEMAP_ATTRIBUTION or ""),
        }
        background.append({"id": "basemap", "type": "raster", "source": "basemap"})
    return {
        "version": 8,
        "name": "webmap",
        "metadata": {
            "mapserver:base": [layer.slug for layer in base],
            "mapserver:composite": [layer.slug for layer in composite],
            "mapserver:on": [
                layer.slug for layer in order if layer.slug in {*base_slugs, *default_on}
            ],
        },
        "center": list(settings.CITY_CENTER),
        "zoom": settings.WEBMAP_START_ZOOM,
        "glyphs": glyphs_url(origin),
        "sources": sources,
        "layers": background + _stacked(groups),
    }


def etag_of(style: dict) -> str:
    """Return a strong ETag for a style's JSON (its bytes' CRC32 and length)."""
    data = json.dumps(style, sort_keys=True, separators=(",", ":")).encode()
    return f'"{zlib.crc32(data):08x}-{len(data):x}"'


class ValidatorUnavailable(RuntimeError):
    """node or the style specification's package is missing (scripts/setup.sh installs both)."""


def validate_styles(styles: dict[str, dict]) -> dict[str, list[str]]:
    """Return {name: [error messages]} from the MapLibre style specification's validator."""
    node = shutil.which("node")
    if node is None:
        raise ValidatorUnavailable("node is not installed")
    try:
        done = subprocess.run(
            [node, str(VALIDATOR)],
            input=json.dumps(styles),
            capture_output=True,
            text=True,
            timeout=VALIDATOR_TIMEOUT_S,
            cwd=settings.BASE_DIR,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise ValidatorUnavailable(str(error)) from error
    if done.returncode != 0:
        raise ValidatorUnavailable(done.stderr.strip()[-500:])
    return json.loads(done.stdout)


def _shape_errors(layer: Layer) -> list[str]:
    """Return what is wrong with the shape of Layer.style before any MapLibre layer is built."""
    style = layer.style
    if style in (None, ""):
        return []
    if not isinstance(style, dict):
        return ["The style must be a JSON object (see its three shapes in docs/api.md, Styles)."]
    errors = []
    if "layers" in style and (
        not isinstance(style["layers"], list)
        or not all(isinstance(item, dict) for item in style["layers"])
    ):
        errors.append('"layers" must be a list of objects, one per MapLibre layer.')
    specs = style["layers"] if isinstance(style.get("layers"), list) else [style]
    for index, spec in enumerate(specs):
        if not isinstance(spec, dict):
            continue
        for key in ("paint", "layout"):
            if key in spec and not isinstance(spec[key], dict):
                errors.append(f'Layer {index}: "{key}" must be an object of MapLibre properties.')
    if "label" in style and not isinstance(style["label"], bool | dict):
        errors.append('"label" must be true, false or an object {minzoom, layout, paint}.')
    if "extrusion" in style and not isinstance(style["extrusion"], dict):
        errors.append('"extrusion" must be an object {height, base, color}.')
    return errors


def layer_style_errors(layer: Layer) -> list[str]:
    """Return why this layer's style would not build a valid MapLibre style ([] when it does).

    The layer's own style is built as it is served (layers/styles.py) and checked by the style
    specification's validator, so what is saved is what the map, QGIS and Maputnik can read.
    """
    errors = _shape_errors(layer)
    if errors:
        return errors
    style = layer_style(layer, origin="http://localhost")
    try:
        found = validate_styles({"style": style})["style"]
    except ValidatorUnavailable as error:
        # Saving still works where node is missing; the shape was checked above.
        logger.warning("MapLibre style validator unavailable: %s", error)
        return []
    ids = [item["id"] for item in style["layers"]]
    messages = []
    for message in found:
        head, _, rest = message.partition(": ")
        if head.startswith("layers[") and "]" in head:
            index = int(head[len("layers[") : head.index("]")])
            where = ids[index] if index < len(ids) else head
            message = f"{where}{head[head.index(']') + 1 :]}: {rest}"
        messages.append(message)
    return messages
