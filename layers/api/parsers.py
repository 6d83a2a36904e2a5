"""The JSON parser of our API views: bounded nesting, finite numbers, and a 400 for anything else.

Python's JSON reader recurses once per level, so 10,000 nested arrays end in RecursionError (a 500
with DRF's own parser); a number like `1e999` reads as infinity, which PostgreSQL's JSONB refuses.
"""

from __future__ import annotations

import json
import math

from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

# A GeoJSON Feature holding a MultiPolygon is 6 levels deep; nothing we accept needs 32.
MAX_JSON_DEPTH = 32


def _finite_float(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise ValueError(f"the number {text[:40]} is too large")
    return number


def _no_constant(name: str):
    raise ValueError(f"{name} is not a JSON value")


def json_depth(value: object) -> int:
    """Return how deeply arrays and objects nest in a parsed JSON value (without recursing)."""
    deepest = 0
    pending = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, depth)
            if depth > MAX_JSON_DEPTH:
                break
            children = item.values() if isinstance(item, dict) else item
            pending.extend((child, depth + 1) for child in children)
    return deepest


class BoundedJSONParser(JSONParser):
    """JSON bodies nested at most MAX_JSON_DEPTH deep, with finite numbers only."""

    def parse(self, stream, media_type=None, parser_context=None):
        """Return the parsed body, or raise ParseError (a 400) saying what is wrong."""
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        try:
            data = json.loads(
                stream.read().decode(encoding),
                parse_float=_finite_float,
                parse_constant=_no_constant,
            )
        except RecursionError:
            raise ParseError(f"JSON nested deeper than {MAX_JSON_DEPTH} levels.") from None
        except ValueError as error:
            raise ParseError(f"JSON parse error: {error}") from None
        if json_depth(data) > MAX_JSON_DEPTH:
            raise ParseError(f"JSON nested deeper than {MAX_JSON_DEPTH} levels.")
        return data
