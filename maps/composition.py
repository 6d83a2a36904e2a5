"""What a saved map holds: the web map's composition, its JSON Schema, and what a viewer gets.

A composition is the state of the web map a planner saw (frontend/static/frontend/js/urlstate.js
reads and writes the same), version 1:

    {"version": 1,
     "view": {"center": [lon, lat], "zoom": 15.5, "bearing": 0, "pitch": 0},
     "layers": [{"slug": "water", "opacity": 1.0}, ...],      the layers on, bottom first
     "feature": {"layer": "landmarks", "id": 12},              optional: the selected feature
     "table": {"open": true, "layer": "buildings", "sort": {"field": "so_tang", "descending": true},
               "filters": {"buildings": {"so_tang": {"min": "5"}}}, "only": ["buildings"]},
                         optional: the attribute table (table.js `state()`): the layer shown, its
                         sort, each layer's column filters as typed, layers drawn matching only
     "compare": {"layers": ["plan"], "divider": 50, "asOf": null},   optional: Compare's left side
     "time": "2025-06-30"}    optional: the day time-enabled layers are drawn at (the time slider's)

It is checked against `SCHEMA` (JSON Schema 2020-12, with `jsonschema`) when saved, so every stored
composition has one known shape; a later version adds a schema and an upgrade here.

Layers are named by slug and filtered when the map is opened, not when it is saved: whoever opens
it gets only the layers `layers_visible_to` gives them, whatever the owner could see (`for_viewer`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from jsonschema import Draft202012Validator

from layers.errors import InvalidData
from layers.models import Layer
from layers.selectors import layers_visible_to

VERSION = 1
MAX_LAYERS = 200
MAX_FIELDS = 200
# What one composition may weigh, as JSON: a few hundred layers with filters fit in far less.
MAX_STATE_BYTES = 64 * 1024

_SLUG = {"type": "string", "pattern": "^[-a-zA-Z0-9_]+$", "maxLength": 100}
_SLUGS = {"type": "array", "items": _SLUG, "maxItems": MAX_LAYERS, "uniqueItems": True}

SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "Saved map composition",
    "type": "object",
    "required": ["version", "view", "layers"],
    "additionalProperties": False,
    "properties": {
        "version": {"const": VERSION},
        "view": {
            "type": "object",
            "required": ["center", "zoom"],
            "additionalProperties": False,
            "properties": {
                "center": {
                    "type": "array",
                    "prefixItems": [
                        {"type": "number", "minimum": -180, "maximum": 180},
                        {"type": "number", "minimum": -85, "maximum": 85},
                    ],
                    "minItems": 2,
                    "maxItems": 2,
                    "description": "[longitude, latitude] in degrees (WGS 84)",
                },
                "zoom": {"type": "number", "minimum": 0, "maximum": 24},
                "bearing": {"type": "number", "minimum": -360, "maximum": 360},
                "pitch": {"type": "number", "minimum": 0, "maximum": 85},
            },
        },
        "layers": {
            "type": "array",
            "maxItems": MAX_LAYERS,
            "description": "The layers on, in drawing order (bottom first).",
            "items": {
                "type": "object",
                "required": ["slug"],
                "additionalProperties": False,
                "properties": {
                    "slug": _SLUG,
                    "opacity": {"type": "number", "minimum": 0, "maximum": 1},
                },
            },
        },
        "feature": {
            "type": ["object", "null"],
            "required": ["layer", "id"],
            "additionalProperties": False,
            "properties": {"layer": _SLUG, "id": {"type": "integer", "minimum": 1}},
        },
        "table": {
            "type": ["object", "null"],
            "additionalProperties": False,
            "description": "The attribute table: shown or not, its layer and sort, each layer's "
            "column filters as typed, the layers drawn with their matching features only.",
            "properties": {
                "open": {"type": "boolean"},
                "layer": {"anyOf": [_SLUG, {"type": "null"}]},
                "sort": {
                    "type": ["object", "null"],
                    "required": ["field"],
                    "additionalProperties": False,
                    "properties": {
                        "field": {"type": "string", "maxLength": 100},
                        "descending": {"type": "boolean"},
                    },
                },
                "filters": {
                    "type": "object",
                    "maxProperties": MAX_LAYERS,
                    "propertyNames": _SLUG,
                    "additionalProperties": {
                        "type": "object",
                        "maxProperties": MAX_FIELDS,
                        "propertyNames": {"type": "string", "maxLength": 100},
                    },
                },
                "only": _SLUGS,
            },
        },
        "compare": {
            "type": ["object", "null"],
            "required": ["layers"],
            "additionalProperties": False,
            "description": "Compare's left side: its layers, the divider (% from left), a date.",
            "properties": {
                "layers": _SLUGS,
                "divider": {"type": ["number", "null"], "minimum": 0, "maximum": 100},
                "asOf": {"type": ["string", "null"], "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"},
            },
        },
        "time": {
            "type": ["string", "null"],
            "format": "date",
            "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$",
            "description": "The day the time-enabled layers are drawn at (the time slider's).",
        },
    },
}
# The format checker makes "format": "date" a real check (2025-02-30 is no day).
_VALIDATOR = Draft202012Validator(SCHEMA, format_checker=Draft202012Validator.FORMAT_CHECKER)


def _where(path) -> str:
    return "state" + "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in path)


def validated(state: object) -> dict:
    """Return the composition if it fits the schema, else raise InvalidData saying where not."""
    error = next(iter(sorted(_VALIDATOR.iter_errors(state), key=lambda e: list(e.path))), None)
    if error is not None:
        where = _where(error.absolute_path)
        raise InvalidData(
            f"{where}: {error.message}. A saved map's state is the web map's composition, "
            f"version {VERSION} (docs/api.md, Saved maps).",
            parameter=where,
        )
    size = len(json.dumps(state, ensure_ascii=False).encode())
    if size > MAX_STATE_BYTES:
        raise InvalidData(
            f"state is {size} bytes of JSON; a saved map holds at most {MAX_STATE_BYTES} "
            "(docs/api.md, Saved maps).",
            parameter="state",
        )
    slugs = [layer["slug"] for layer in state["layers"]]
    if len(set(slugs)) != len(slugs):
        raise InvalidData(
            "state.layers names a layer twice: list each layer once (docs/api.md, Saved maps).",
            parameter="state.layers",
        )
    return state


def named_layers(state: dict) -> set[str]:
    """Return the slugs of every layer the composition names, in any part."""
    names = {layer["slug"] for layer in state.get("layers", [])}
    if state.get("feature"):
        names.add(state["feature"]["layer"])
    table = state.get("table") or {}
    if table.get("layer"):
        names.add(table["layer"])
    names.update(table.get("filters") or {})
    names.update(table.get("only") or [])
    names.update((state.get("compare") or {}).get("layers", []))
    return names


@dataclass(frozen=True)
class ViewerComposition:
    """A composition as one viewer may see it, and how many of its layers were left out."""

    state: dict
    omitted: int


def for_viewer(state: dict, *, user: AbstractBaseUser | AnonymousUser | None) -> ViewerComposition:
    """Return the composition with only the layers this user may see, and the count left out.

    The count, never the names: a link must not reveal even that a layer called so exists.
    """
    named = named_layers(state)
    # Drafts are never on the map (frontend/catalogue.py): a draft is left out as a hidden layer.
    visible = set(
        layers_visible_to(user=user)
        .filter(slug__in=named)
        .exclude(status=Layer.Status.DRAFT)
        .values_list("slug", flat=True)
    )
    shown = {**state, "layers": [layer for layer in state["layers"] if layer["slug"] in visible]}
    if state.get("feature") and state["feature"]["layer"] not in visible:
        shown["feature"] = None
    if state.get("table"):
        table = state["table"]
        shown["table"] = {**table}
        if table.get("layer") not in visible:
            shown["table"]["layer"] = None
        if "filters" in table:
            shown["table"]["filters"] = {
                slug: values for slug, values in table["filters"].items() if slug in visible
            }
        if "only" in table:
            shown["table"]["only"] = [slug for slug in table["only"] if slug in visible]
    if state.get("compare"):
        compare = state["compare"]
        shown["compare"] = {**compare, "layers": [s for s in compare["layers"] if s in visible]}
    return ViewerComposition(state=shown, omitted=len(named - visible))
