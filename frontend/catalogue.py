"""The map page's configuration: the layers the visitor may see, and how the map opens.

Everything the map needs to draw its first frame travels inside the page (no request for a layer
list or a TileJSON per layer before the first tile), and it is built from `layers_visible_to`, so
the page never names a layer the visitor may not see.
"""

from __future__ import annotations

import json

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.urls import reverse
from django.utils import timezone
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import get_language

from layers.features.temporal import temporal_extent
from layers.models import Layer
from layers.rich_text import clean_attribution
from layers.selectors import layers_visible_to
from layers.styles import MAX_SOURCE_ZOOM
from sensors.links import sensor_links

from .coordinates import projected_crs

# What json_script escapes, so that no text from the data can end the <script> element.
SCRIPT_ESCAPES = {ord(">"): "\\u003E", ord("<"): "\\u003C", ord("&"): "\\u0026"}


def _label(field: dict, language: str) -> str:
    """Return a schema field's label in the language, else in the other one, else its name."""
    other = "vi" if language == "en" else "en"
    return field.get(f"label_{language}") or field.get(f"label_{other}") or field.get("name", "")


def _choices(field: dict, language: str) -> list[dict] | None:
    """Return a schema field's choices as [{"value", "label"}], or None when it has none.

    A choice is a plain value (its own label) or {"value", "label_vi", "label_en"}.
    """
    choices = field.get("choices")
    if not isinstance(choices, list) or not choices:
        return None
    out = []
    for choice in choices:
        if isinstance(choice, dict) and "value" in choice:
            label = _label({**choice, "name": str(choice["value"])}, language)
            out.append({"value": choice["value"], "label": choice.get("label") or label})
        elif not isinstance(choice, dict | list):
            out.append({"value": choice, "label": str(choice)})
    return out or None


def _field_entry(field: dict, language: str) -> dict:
    entry = {
        "name": field.get("name"),
        "type": field.get("type", "text"),
        "label": _label(field, language),
        "required": bool(field.get("required", False)),
    }
    if choices := _choices(field, language):
        entry["choices"] = choices
    return entry


def layer_entry(
    layer: Layer,
    *,
    language: str,
    base: set[str],
    default_on: set[str],
    editable: set[str] = frozenset(),
) -> dict:
    """Return what the map knows of one layer: titles, schema, zooms, extent, credits.

    How it is drawn is not here: the map loads its style from /styles/map.json (layers/styles.py).
    """
    schema = [
        _field_entry(field, language)
        for field in layer.attribute_schema or []
        if isinstance(field, dict) and field.get("name")
    ]
    return {
        "slug": layer.slug,
        "title": layer.title,
        "description": layer.description,
        "category": layer.category.slug,
        "geometry_type": layer.geometry_type,
        "schema": schema,
        "name_field": layer.name_field,
        "min_zoom": layer.min_zoom,
        "max_zoom": min(layer.max_zoom, MAX_SOURCE_ZOOM),
        "bbox": list(layer.extent.extent) if layer.extent else None,
        "feature_count": layer.feature_count,
        "source": layer.source,
        "licence": layer.licence,
        # Cleaned HTML (links allowed): rows saved before the rule are cleaned here too.
        "attribution": clean_attribution(layer.attribution),
        "visibility": layer.visibility,
        "version": layer.version,
        "base": layer.slug in base,
        "on": layer.slug in base or layer.slug in default_on,
        # A time-enabled layer's extent ({interval: [[start, end]]}, null ends open): the map's
        # time slider spans it and gives the layer's tiles `?datetime=` (js/timeslider.js).
        "temporal": temporal_extent(layer),
        # Whether this visitor may edit the layer's features (the map shows its Edit tool).
        "editable": layer.slug in editable,
        # A sensor layer's reading URLs: the map colours its stations by state (js/sensors.js).
        "sensor": sensor_links(layer),
    }


def map_config(*, user: AbstractBaseUser | AnonymousUser | None) -> dict:
    """Return the map page's configuration for this visitor."""
    language = (get_language() or settings.LANGUAGE_CODE)[:2]
    base = set(settings.WEBMAP_BASE_LAYERS)
    default_on = set(settings.WEBMAP_DEFAULT_LAYERS)
    layers = list(
        layers_visible_to(user=user)
        .exclude(status=Layer.Status.DRAFT)
        .select_related("sensor_config")
    )
    categories = {}
    for layer in layers:
        category = layer.category
        categories.setdefault(
            category.slug,
            {"slug": category.slug, "name": category.name, "icon": category.icon,
             "order": category.order},
        )  # fmt: skip
    editable = (
        set(Layer.objects.editable_by(user).values_list("slug", flat=True))
        if user is not None and user.is_authenticated
        else set()
    )
    entries = [
        layer_entry(layer, language=language, base=base, default_on=default_on, editable=editable)
        for layer in layers
    ]
    # The base map keeps the order settings give it (the bottom layer first).
    base_order = [
        slug for slug in settings.WEBMAP_BASE_LAYERS if any(e["slug"] == slug for e in entries)
    ]
    return {
        "language": language,
        "center": list(settings.CITY_CENTER),
        "zoom": settings.WEBMAP_START_ZOOM,
        "region_bbox": list(settings.CITY_REGION_BBOX),
        # The city's date today: the day time-enabled layers are drawn at unless the link or the
        # time slider names another (js/timeslider.js).
        "today": timezone.localdate().isoformat(),
        "utc_offset": timezone.localtime().isoformat()[-6:],  # the city's, e.g. +07:00
        # Where an edited feature must lie: the map checks it before saving (the server too).
        "edit_extent": list(settings.CITY_REGION_BBOX),
        "categories": sorted(categories.values(), key=lambda c: (c["order"], c["slug"])),
        "layers": entries,
        "base_order": base_order,
        "basemap": {
            "url": settings.WEBMAP_BASEMAP_URL,
            "attribution": settings.WEBMAP_BASEMAP_ATTRIBUTION,
        },
        "urls": {
            # The map's style, built on the server (layers/styles.py), shared with GIS clients.
            "style": reverse("style-map"),
            "tiles": "/tiles/{layers}/{z}/{x}/{y}.pbf",
            "glyphs": f"{settings.STATIC_URL}glyphs/{{fontstack}}/{{range}}.pbf",
            "search": "/api/v1/search/",
            "identify": "/api/v1/identify/",
            "feature": "/api/v1/layers/{layer}/features/{id}/",
            "features": "/api/v1/layers/{layer}/features/",
            "layer": "/api/v1/layers/{layer}/",
            "investors": reverse("investors"),
        },
        "signed_in": bool(user and user.is_authenticated),
        # Exports of up to this many features stream in the answer; larger ones are jobs.
        "export_inline_max": settings.EXPORT_INLINE_MAX_FEATURES,
        # The zone the map shows VN-2000 coordinates in (None: the map shows WGS 84 only).
        "projected_crs": projected_crs(settings.WEBMAP_VN2000_SRID),
    }


def config_script(config: dict) -> SafeString:
    """Return the configuration as JSON to put inside a <script> element.

    Like Django's json_script, but Vietnamese stays as UTF-8 instead of \\u escapes, which made
    the page twice as heavy.
    """
    text = json.dumps(config, ensure_ascii=False, separators=(",", ":"))
    # Safe: the three characters that could end the element or start markup are escaped.
    return mark_safe(text.translate(SCRIPT_ESCAPES))
