"""CQL2 filters (OGC API - Features Part 3): parse text or JSON with the `cql2` library, then
compile its JSON form to a SQL condition over the features `f`, every value a bound parameter.

Property names come only from the queryables (the layer's attribute schema, and `geometry`);
attribute names reach SQL as bound JSONB keys, like the other filters (`query.py`). LIKE is
accent- and case-insensitive on text, as our search is (`f_unaccent(lower(...))`).

Hostile filters are refused before the parser sees them: the parser recurses on nesting and
crashes the process past a few thousand levels, so the text's length, bracket depth and NOTs are
bounded first, then the parsed tree's size and depth.
"""

from __future__ import annotations

import datetime
import json
import math
import re
import string
from dataclasses import dataclass
from decimal import Decimal

import cql2
from django.conf import settings
from psycopg import sql

from layers.errors import InvalidParameter

from .crs import CRS84_CRS, OfferedCrs, covers, crs_from_name, lon_lat_box, swapped_axes
from .query import AttributeField, attribute_value_sql, mercator_box
from .temporal import INSTANT_TYPES, stored_moment_sql

LANGUAGES = ("cql2-text", "cql2-json")
MAX_FILTER_CHARACTERS = 8000
MAX_BRACKET_DEPTH = 30
MAX_NOTS = 50
MAX_NODES = 500
MAX_DEPTH = 30
GEOMETRY = "geometry"
MAX_DISTANCE_M = 100_000
METRE_NAMES = frozenset({"meters", "metres", "meter", "metre", "m"})
COMPARISONS = {"=": "=", "<>": "<>", "<": "<", "<=": "<=", ">": ">", ">=": ">="}
SPATIAL = {
    "s_intersects": "ST_Intersects",
    "s_within": "ST_Within",
    "s_contains": "ST_Contains",
    "s_equals": "ST_Equals",
    "s_touches": "ST_Touches",
    "s_crosses": "ST_Crosses",
    "s_overlaps": "ST_Overlaps",
    "s_disjoint": "ST_Disjoint",
}
# The temporal functions on [start, end] periods (CQL2 1.0, Allen's relations; an instant is a
# period of no length): {as}/{ae} the first argument's start and end, {bs}/{be} the second's.
TEMPORAL = {
    "t_after": "{as} > {be}",
    "t_before": "{ae} < {bs}",
    "t_contains": "{as} < {bs} AND {ae} > {be}",
    "t_disjoint": "({ae} < {bs} OR {as} > {be})",
    "t_during": "{as} > {bs} AND {ae} < {be}",
    "t_equals": "{as} = {bs} AND {ae} = {be}",
    "t_finishedby": "{as} < {bs} AND {ae} = {be}",
    "t_finishes": "{as} > {bs} AND {ae} = {be}",
    "t_intersects": "{as} <= {be} AND {ae} >= {bs}",
    "t_meets": "{ae} = {bs}",
    "t_metby": "{as} = {be}",
    "t_overlappedby": "{as} > {bs} AND {as} < {be} AND {ae} > {be}",
    "t_overlaps": "{as} < {bs} AND {ae} > {bs} AND {ae} < {be}",
    "t_startedby": "{as} = {bs} AND {ae} > {be}",
    "t_starts": "{as} = {bs} AND {ae} < {be}",
}
_NOT_WORD = re.compile(r"\bnot\b", re.IGNORECASE)


@dataclass(frozen=True)
class CqlFilter:
    """A compiled filter: its condition over `f` (positional `%s` placeholders) and values."""

    condition: sql.Composable
    params: tuple
    normalised: str  # the filter's CQL2 JSON, with sorted keys: the same filter, the same text


def _fail(message: str) -> InvalidParameter:
    return InvalidParameter(f"filter: {message}", parameter="filter")


def _check_shape(text: str) -> None:
    """Refuse a filter too long or too deeply nested for the parser to read safely."""
    if len(text) > MAX_FILTER_CHARACTERS:
        raise _fail(f"too long: at most {MAX_FILTER_CHARACTERS} characters.")
    depth = deepest = 0
    quote = None
    outside = []
    for char in text:
        if quote:
            if char == quote:
                quote = None
            continue
        if char in "'\"":
            quote = char
        elif char in "([{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in ")]}":
            depth -= 1
        outside.append(char)
    if deepest > MAX_BRACKET_DEPTH:
        raise _fail(f"nested too deeply: at most {MAX_BRACKET_DEPTH} levels of brackets.")
    if len(_NOT_WORD.findall("".join(outside))) > MAX_NOTS:
        raise _fail(f"too many NOTs: at most {MAX_NOTS}.")


def parse(text: str, *, language: str | None = None) -> dict:
    """Return the CQL2 JSON of a filter given as CQL2 text or JSON, or raise InvalidParameter."""
    language = (language or "").strip().lower() or (
        "cql2-json" if text.lstrip().startswith("{") else "cql2-text"
    )
    if language not in LANGUAGES:
        raise InvalidParameter(
            f"filter-lang must be one of {', '.join(LANGUAGES)}, not '{language[:40]}'.",
            parameter="filter-lang",
        )
    if not text.strip():
        raise _fail("empty: give a CQL2 expression such as name LIKE 'Hu%'.")
    _check_shape(text)
    try:
        expression = cql2.parse_json(text) if language == "cql2-json" else cql2.parse_text(text)
        return expression.to_json()
    except (cql2.ParseError, cql2.ValidationError, ValueError) as error:
        raise _fail(f"not valid {language}: {error}") from None


@dataclass
class _Compiler:
    fields: dict[str, AttributeField]
    crs: OfferedCrs  # filter-crs: the CRS of the filter's geometries, in its axis order
    nodes: int = 0

    def condition(self, node: object, depth: int = 0) -> tuple[sql.Composable, list]:
        self.nodes += 1
        if self.nodes > MAX_NODES or depth > MAX_DEPTH:
            raise _fail(f"too large: at most {MAX_NODES} terms, {MAX_DEPTH} levels deep.")
        if isinstance(node, bool):
            return sql.SQL("true" if node else "false"), []
        if not isinstance(node, dict) or "op" not in node:
            raise _fail(f"{json.dumps(node)[:60]} is not a condition.")
        op = str(node["op"]).lower()
        args = node.get("args") or []
        if op in ("and", "or"):
            parts = [self.condition(arg, depth + 1) for arg in args]
            joined = sql.SQL(f" {op.upper()} ").join(sql.SQL("({})").format(c) for c, _ in parts)
            return joined, [value for _, values in parts for value in values]
        if op == "not":
            inner, values = self.condition(args[0], depth + 1)
            return sql.SQL("NOT ({})").format(inner), values
        if op in COMPARISONS:
            return self._compare(COMPARISONS[op], args)
        if op == "like":
            return self._like(args)
        if op == "between":
            return self._between(args)
        if op == "in":
            return self._in(args)
        if op == "isnull":
            return self._is_null(args)
        if op in SPATIAL:
            return self._spatial(SPATIAL[op], args)
        if op == "s_dwithin":
            return self._dwithin(args)
        if op in TEMPORAL:
            return self._temporal(op, args)
        raise _fail(
            f"'{op}' is not supported: use comparisons, LIKE, IN, BETWEEN, IS NULL, AND, OR, "
            f"NOT, {', '.join(name.upper() for name in SPATIAL)}, S_DWITHIN and the temporal "
            "functions T_AFTER, T_BEFORE, T_INTERSECTS …"
        )

    def _property(self, node: dict) -> AttributeField:
        name = node["property"]
        if name == GEOMETRY:
            raise _fail("geometry is compared with the spatial functions (S_INTERSECTS …).")
        if name not in self.fields:
            raise _fail(
                f"unknown property '{name}'; the queryables are: "
                f"{', '.join([GEOMETRY, *self.fields])}."
            )
        return self.fields[name]

    def _value(self, node: object, kind: str | None) -> tuple[sql.Composable, list, str]:
        """Return SQL for a property or literal, its values and its kind (number, text, …)."""
        if isinstance(node, dict) and "property" in node:
            field = self._property(node)
            if field.is_numeric:
                value, values = attribute_value_sql(field)
                return value, values, "number"
            if field.is_boolean:
                return (
                    sql.SQL(
                        "(CASE WHEN jsonb_typeof(f.attributes -> %s) = 'boolean'"
                        " THEN (f.attributes ->> %s)::boolean END)"
                    ),
                    [field.name, field.name],
                    "boolean",
                )
            if field.type.lower() in INSTANT_TYPES:
                return _instant_sql(field.name)
            return sql.SQL("(f.attributes ->> %s)"), [field.name], "text"
        if isinstance(node, dict) and ("date" in node or "timestamp" in node):
            return self._instant_literal(node)
        if isinstance(node, dict) and str(node.get("op", "")).lower() in ("casei", "accenti"):
            inner, values, inner_kind = self._value((node.get("args") or [None])[0], "text")
            if inner_kind != "text":
                raise _fail(f"{node['op'].upper()} takes text.")
            function = "lower" if node["op"].lower() == "casei" else "f_unaccent"
            return sql.SQL(f"{function}({{}})").format(inner), values, "text"
        if isinstance(node, bool):
            return sql.SQL("%s"), [node], "boolean"
        if isinstance(node, int | float):
            if not math.isfinite(node):
                raise _fail("numbers must be finite.")
            return sql.SQL("%s::numeric"), [Decimal(repr(node))], "number"
        if isinstance(node, str):
            return sql.SQL("%s::text"), [node], "text"
        raise _fail(f"{json.dumps(node)[:60]} cannot be compared here.")

    def _instant_literal(self, node: dict) -> tuple[sql.Composable, list, str]:
        """Return a DATE (its midnight in the city's time) or TIMESTAMP literal as timestamptz."""
        try:
            if "date" in node:
                day = datetime.date.fromisoformat(str(node["date"]))
                return (
                    sql.SQL("(%s::date::timestamp AT TIME ZONE %s)"),
                    [day, settings.TIME_ZONE],
                    "instant",
                )
            moment = datetime.datetime.fromisoformat(str(node["timestamp"]))
        except ValueError:
            raise _fail(f"{json.dumps(node)[:60]} is not a valid date or timestamp.") from None
        if moment.tzinfo is None:
            raise _fail("a TIMESTAMP needs its offset or Z: TIMESTAMP('2026-03-01T01:30:00Z').")
        return sql.SQL("%s::timestamptz"), [moment], "instant"

    def _pair(self, args: list) -> tuple[list[tuple[sql.Composable, list, str]], str]:
        values = [self._value(arg, None) for arg in args]
        kinds = {kind for _, _, kind in values}
        if len(kinds) > 1:
            raise _fail(f"cannot compare {' with '.join(sorted(kinds))}.")
        return values, kinds.pop()

    def _compare(self, operator: str, args: list) -> tuple[sql.Composable, list]:
        (left, lv, _), (right, rv, _) = self._pair(args[:2])[0]
        return sql.SQL("{} {} {}").format(left, sql.SQL(operator), right), [*lv, *rv]

    def _like(self, args: list) -> tuple[sql.Composable, list]:
        (left, lv, _), (right, rv, _) = self._pair(args[:2])[0]
        return (
            sql.SQL("f_unaccent(lower({})) LIKE f_unaccent(lower({}))").format(left, right),
            [*lv, *rv],
        )

    def _between(self, args: list) -> tuple[sql.Composable, list]:
        values, kind = self._pair(args[:3])
        if kind != "number":
            raise _fail("BETWEEN compares numbers.")
        (value, v0, _), (low, v1, _), (high, v2, _) = values
        return sql.SQL("{} BETWEEN {} AND {}").format(value, low, high), [*v0, *v1, *v2]

    def _in(self, args: list) -> tuple[sql.Composable, list]:
        if len(args) != 2 or not isinstance(args[1], list) or not args[1]:
            raise _fail("IN takes a value and a list: name IN ('a', 'b').")
        values, _ = self._pair([args[0], *args[1]])
        (value, first, _), *items = values
        listed = sql.SQL(", ").join(item for item, _, _ in items)
        params = [*first, *(v for _, item_values, _ in items for v in item_values)]
        return sql.SQL("{} IN ({})").format(value, listed), params

    def _is_null(self, args: list) -> tuple[sql.Composable, list]:
        node = args[0] if args else None
        if isinstance(node, dict) and node.get("property") == GEOMETRY:
            return sql.SQL("f.geom IS NULL"), []
        if not (isinstance(node, dict) and "property" in node):
            raise _fail("IS NULL takes a property.")
        field = self._property(node)
        return (
            sql.SQL("(f.attributes -> %s IS NULL OR f.attributes -> %s = 'null'::jsonb)"),
            [field.name, field.name],
        )

    def _geometry(self, node: object) -> tuple[sql.Composable, list, tuple | None]:
        """Return SQL for the feature's geometry or a literal (brought to EPSG:4326), and the
        literal's longitude/latitude box (None for the feature's geometry)."""
        if isinstance(node, dict) and node.get("property") == GEOMETRY:
            return sql.SQL("f.geom"), [], None
        if isinstance(node, dict) and "property" in node:
            raise _fail(f"'{node['property']}' is not a geometry: the geometry is '{GEOMETRY}'.")
        swap = self.crs.swap_axes
        if isinstance(node, dict) and "bbox" in node:
            box = node["bbox"]
            box = [box[0], box[1], box[3], box[4]] if len(box) == 6 else box
            if swap:
                box = [box[1], box[0], box[3], box[2]]
            geojson = {
                "type": "Polygon",
                "coordinates": [[[box[0], box[1]], [box[2], box[1]], [box[2], box[3]],
                                 [box[0], box[3]], [box[0], box[1]]]],
            }  # fmt: skip
        elif isinstance(node, dict) and "type" in node:
            geojson = swapped_axes(node) if swap else node
        else:
            raise _fail(f"{json.dumps(node)[:60]} is not a geometry.")
        xs, ys = _coordinates(geojson)
        if not xs or not all(math.isfinite(n) for n in (*xs, *ys)):
            raise _fail("a geometry needs finite coordinates.")
        box = (min(xs), min(ys), max(xs), max(ys))
        if self.crs.srid == 4326:
            if not (box[0] >= -180 and box[2] <= 180 and box[1] >= -90 and box[3] <= 90):
                raise _fail(
                    "geometry coordinates must be longitude/latitude: for projected "
                    "coordinates (metres) name their CRS in filter-crs."
                )
            return sql.SQL("ST_SetSRID(ST_GeomFromGeoJSON(%s), 4326)"), [json.dumps(geojson)], box
        if not covers(self.crs.srid, box):
            raise _fail(
                f"geometry coordinates lie outside what {self.crs.epsg} covers: is filter-crs "
                "right, and are the axes in its order?"
            )
        # Edges are straight in their own CRS: densified (64 points along the longest side) before
        # they are brought to 4326, where the exact test is made, as bbox-crs boxes are.
        step = max(box[2] - box[0], box[3] - box[1]) / 64 or 1.0
        return (
            sql.SQL(
                "ST_Transform(ST_Segmentize(ST_SetSRID(ST_GeomFromGeoJSON(%s), %s::integer),"
                " %s::float8), 4326)"
            ),
            [json.dumps(geojson), self.crs.srid, step],
            lon_lat_box(box, srid=self.crs.srid),
        )

    def _spatial(self, function: str, args: list) -> tuple[sql.Composable, list]:
        if len(args) != 2:
            raise _fail(f"{function} takes two geometries.")
        (a, av, abox), (b, bv, bbox) = (self._geometry(arg) for arg in args)
        condition = sql.SQL("{}({}, {})").format(sql.SQL(function), a, b)
        params = [*av, *bv]
        box = abox or bbox
        if function != "ST_Disjoint" and box is not None and (abox is None or bbox is None):
            # The (layer, geom_3857) GiST index finds the candidates; the exact test is in 4326.
            index = sql.SQL("f.geom_3857 && ST_MakeEnvelope(%s, %s, %s, %s, 3857)")
            return sql.SQL("{} AND {}").format(index, condition), [*mercator_box(box), *params]
        return condition, params

    def _dwithin(self, args: list) -> tuple[sql.Composable, list]:
        """S_DWITHIN(geometry, <geometry>, distance[, meters]): within a distance in metres,
        measured on the ellipsoid (geography), whatever the filter-crs."""
        usage = "S_DWITHIN takes two geometries and a distance in metres (0 to 100000)."
        if len(args) not in (3, 4):
            raise _fail(usage)
        distance = args[2]
        if isinstance(distance, bool) or not isinstance(distance, int | float):
            raise _fail(usage)
        if not 0 <= distance <= MAX_DISTANCE_M:
            raise _fail(usage)
        if len(args) == 4:
            unit = args[3].get("property") if isinstance(args[3], dict) else args[3]
            if str(unit).lower() not in METRE_NAMES:
                raise _fail(f"S_DWITHIN measures in metres, not '{str(unit)[:20]}'.")
        (a, av, abox), (b, bv, bbox) = (self._geometry(arg) for arg in args[:2])
        condition = sql.SQL("ST_DWithin({}::geography, {}::geography, %s)").format(a, b)
        params = [*av, *bv, float(distance)]
        box = abox or bbox
        if box is not None and (abox is None or bbox is None):
            index = sql.SQL("f.geom_3857 && ST_MakeEnvelope(%s, %s, %s, %s, 3857)")
            grown = _grown(box, float(distance))
            return sql.SQL("{} AND {}").format(index, condition), [*mercator_box(grown), *params]
        return condition, params

    def _moment(self, node: object, *, end: bool) -> tuple[sql.Composable, list]:
        """Return one end of an interval, or an instant, as timestamptz SQL."""
        if node == "..":
            return sql.SQL("%s::timestamptz"), ["infinity" if end else "-infinity"]
        if isinstance(node, str):
            node = {"timestamp": node} if len(node) > 10 else {"date": node}
        if isinstance(node, dict) and "property" in node:
            field = self._property(node)
            if field.type.lower() not in INSTANT_TYPES:
                raise _fail(
                    f"'{field.name}' is not a date: the temporal functions take the date "
                    f"properties ({', '.join(self._instant_names()) or 'none in this layer'}), "
                    "DATE(…), TIMESTAMP(…) and INTERVAL(…, …)."
                )
            value, values, _ = _instant_sql(field.name)
            return value, values
        if isinstance(node, dict) and ("date" in node or "timestamp" in node):
            value, values, _ = self._instant_literal(node)
            return value, values
        raise _fail(f"{json.dumps(node)[:60]} is not an instant or an interval.")

    def _instant_names(self) -> list[str]:
        return [name for name, f in self.fields.items() if f.type.lower() in INSTANT_TYPES]

    def _period(
        self, node: object
    ) -> tuple[tuple[sql.Composable, list], tuple[sql.Composable, list]]:
        """Return the start and end of an interval; an instant is both."""
        if isinstance(node, dict) and "interval" in node:
            ends = node["interval"]
            if not isinstance(ends, list) or len(ends) != 2:
                raise _fail("INTERVAL takes a start and an end: INTERVAL('2025-07-01', '..').")
            start, end = self._moment(ends[0], end=False), self._moment(ends[1], end=True)
            literal = [v for v in ends if isinstance(v, str) and v != ".."]
            if len(literal) == 2 and _instant_key(literal[0]) > _instant_key(literal[1]):
                raise _fail(f"INTERVAL('{literal[0]}', '{literal[1]}') ends before it starts.")
            return start, end
        moment = self._moment(node, end=False)
        return moment, moment

    def _temporal(self, op: str, args: list) -> tuple[sql.Composable, list]:
        if len(args) != 2:
            raise _fail(f"{op.upper()} takes two instants or intervals.")
        (a_start, a_end), (b_start, b_end) = (self._period(arg) for arg in args)
        parts = {"as": a_start, "ae": a_end, "bs": b_start, "be": b_end}
        template = TEMPORAL[op]
        order = [name for _, name, _, _ in string.Formatter().parse(template) if name]
        condition = sql.SQL(template).format(
            **{name: sql.SQL("({})").format(value) for name, (value, _) in parts.items()}
        )
        return condition, [v for name in order for v in parts[name][1]]


def _instant_key(text: str) -> datetime.datetime:
    """Return a literal instant's moment, to check an interval's order (dates at midnight UTC:
    close enough to order them; the SQL reads them in the city's time)."""
    try:
        moment = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise _fail(f"'{text[:40]}' is not a date or timestamp.") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=datetime.UTC)


def _instant_sql(name: str) -> tuple[sql.Composable, list, str]:
    """Return a stored date or timestamp as timestamptz (NULL when it is not one or missing)."""
    value, values = stored_moment_sql(name, end=False, missing_open=False)
    return value, values, "instant"


def _grown(box: tuple, distance_m: float) -> tuple[float, float, float, float]:
    """Return a longitude/latitude box grown by at least `distance_m` on every side."""
    # A degree of latitude is at least 110,574 m; of longitude, 111,320 m x cos(latitude).
    dlat = distance_m / 110_574 * 1.01
    north = min(89.9, max(abs(box[1]), abs(box[3])) + dlat)
    dlon = min(360.0, distance_m / (111_320 * math.cos(math.radians(north))) * 1.01)
    return (
        max(-180.0, box[0] - dlon),
        max(-90.0, box[1] - dlat),
        min(180.0, box[2] + dlon),
        min(90.0, box[3] + dlat),
    )


def _coordinates(geometry: dict) -> tuple[list[float], list[float]]:
    xs: list[float] = []
    ys: list[float] = []
    stack = [geometry.get("coordinates")]
    stack.extend(g.get("coordinates") for g in geometry.get("geometries", []) or [])
    while stack:
        value = stack.pop()
        if isinstance(value, list) and len(value) >= 2 and isinstance(value[0], int | float):
            xs.append(float(value[0]))
            ys.append(float(value[1]))
        elif isinstance(value, list):
            stack.extend(value)
    return xs, ys


def filter_crs(value: str | None) -> OfferedCrs:
    """Return the CRS `filter-crs` names (CRS84 when absent): any CRS the server offers."""
    if not value or not value.strip():
        return CRS84_CRS
    return crs_from_name(value, parameter="filter-crs")


def compile_filter(
    text: str,
    *,
    fields: dict[str, AttributeField],
    language: str | None = None,
    crs: str | None = None,
) -> CqlFilter:
    """Return the compiled filter that `filter=text` asks of a layer with these fields."""
    geometry_crs = filter_crs(crs)
    tree = parse(text, language=language)
    condition, params = _Compiler(fields=fields, crs=geometry_crs).condition(tree)
    normalised = json.dumps([tree, geometry_crs.uri], sort_keys=True, ensure_ascii=False)
    return CqlFilter(condition=condition, params=tuple(params), normalised=normalised)
