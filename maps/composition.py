"""What a saved map holds: the web map's composition, its JSON Schema, and what a viewer gets.

A composition is the state of the web map a planner saw (frontend/static/frontend/js/urlstate.js
reads and writes the same), version 1:

    {"version": 1,
     "view": {"center": [lon, lat], "zoom": 15.5, "bearing": 0, "pitch": 0},
     "layers": [{"slug": "water", "opacity": 1.0}, ...],      the layers on, bottom first
     "feature": {"layer": "landmarks", "id": 12},              optional: the selected feature
     "filters": {"buildings": "so_tang >= 5"},                 optional: a layer's attribute filter
     "compare": {"left": ["plan"], "right": ["buildings"], "position": 0.5}}   optional

It is checked against `SCHEMA` (JSON Schema 2020-12, with `jsonschema`) when saved, so every stored
composition has one known shape; a later version adds a schema and an upgrade here.

Layers are named by slug and filtered when the map is opened, not when it is saved: whoever opens
it gets only the layers `layers_visible_to` gives them, whatever the owner could see (`for_viewer`).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from jsonschema import Draft202012Validator

from layers.errors import InvalidData
from layers.models import Layer
from layers.selectors import layers_visible_to

VERSION = 1
MAX_LAYERS = 200
MAX_FILTER_CHARS = 4000

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
        "filters": {
            "type": "object",
            "maxProperties": MAX_LAYERS,
            "propertyNames": _SLUG,
            "additionalProperties": {"type": "string", "maxLength": MAX_FILTER_CHARS},
            "description": "A layer's attribute filter, as the attribute table holds it.",
        },
        "compare": {
            "type": ["object", "null"],
            "required": ["left", "right"],
            "additionalProperties": False,
            "properties": {
                "left": _SLUGS,
                "right": _SLUGS,
                "position": {"type": "number", "minimum": 0, "maximum": 1},
            },
        },
    },
}
_VALIDATOR = Draft202012Validator(SCHEMA)


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
    names.update(state.get("filters") or {})
    compare = state.get("compare") or {}
    names.update(compare.get("left", []), compare.get("right", []))
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
    if "filters" in state:
        shown["filters"] = {s: text for s, text in state["filters"].items() if s in visible}
    if state.get("compare"):
        compare = state["compare"]
        shown["compare"] = {
            **compare,
            "left": [slug for slug in compare["left"] if slug in visible],
            "right": [slug for slug in compare["right"] if slug in visible],
        }
    return ViewerComposition(state=shown, omitted=len(named - visible))
