"""`FeatureQuery`: which of a layer's features a request wants (bbox, attribute filters, text, sort,
properties, `datetime` on a time-enabled layer (`temporal.py`), and `as_of`: the layer as it was
at an instant), parsed from query parameters and turned into SQL with bound values.

Attribute names are JSONB keys, so they are bound values too (`attributes ->> %s`); only column
names are identifiers, and those are fixed here. The SQL reads the features as `f`: the table
`layers_feature`, or with `as_of` the rows valid at that instant (`feature_relation`).
"""

from __future__ import annotations

import datetime
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING

from django.utils import timezone
from psycopg import sql

from layers.errors import InvalidParameter
from layers.models import Layer

from .temporal import TimeFilter, time_condition_sql, time_filter

if TYPE_CHECKING:
    from .cql2 import CqlFilter

NUMERIC_TYPES = frozenset({"integer", "int", "real", "float", "double", "number", "decimal"})
BOOLEAN_TYPES = frozenset({"boolean", "bool"})
OPERATORS = ("eq", "gt", "gte", "lt", "lte", "in", "contains")
# Parameters the features endpoints read themselves; any other one is an attribute filter.
QUERY_PARAMETERS = frozenset(
    {"bbox", "q", "properties", "sortby", "limit", "offset", "f", "as_of", "datetime"}
    | {"filter", "filter-lang", "filter-crs"}  # CQL2 (`cql2.py`)
)
# A number stored as text (as some sources do) still compares as a number.
NUMBER_PATTERN = r"^\s*[-+]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?\s*$"
LONGITUDE_RANGE = (-180.0, 180.0)
LATITUDE_RANGE = (-90.0, 90.0)
# Web Mercator (EPSG:3857): sphere radius, and the latitude where its square world ends.
MERCATOR_RADIUS_M = 6378137.0
MERCATOR_MAX_LATITUDE = 85.0511287798066
# Beyond that latitude a box edge is left open: features up to the poles still have a (huge but
# finite) 3857 copy, 2.4e8 m at 90°, which a clipped box would miss.
MERCATOR_OPEN_EDGE_M = 1e12
# The 3857 box is only the index's first cut (the exact test is in 4326): widen it by a millimetre
# so that rounding in our formula against PROJ's can never cut a feature off at the edge.
MERCATOR_MARGIN_M = 0.001
# Numbers a request may give: finite, with a decimal exponent within ±300, so that each fits a
# double and PostgreSQL's numeric alike (`1e999999` overflows numeric, `1e309` a double).
MAX_DECIMAL_EXPONENT = 300
# How much of a bad value an error message repeats.
SHOWN_CHARACTERS = 40
# The longest text search (`q`): names are short, and each word is a trigram-index probe.
MAX_TEXT_CHARACTERS = 200


@dataclass(frozen=True)
class AttributeField:
    """One field of a layer's attribute schema, as far as filtering and sorting care."""

    name: str
    type: str = "text"

    @property
    def is_numeric(self) -> bool:
        return self.type.lower() in NUMERIC_TYPES

    @property
    def is_boolean(self) -> bool:
        return self.type.lower() in BOOLEAN_TYPES


@dataclass(frozen=True)
class AttributeFilter:
    """`field`, `operator` and value(s): `?height__gt=10`, `?loai__in=a,b`."""

    field: AttributeField
    operator: str
    values: tuple = ()


@dataclass(frozen=True)
class SortKey:
    """Sort by a field (or the feature id), ascending unless `descending`."""

    field: AttributeField | None  # None: the feature id
    descending: bool = False


@dataclass(frozen=True)
class FeatureQuery:
    """Which of a layer's features are wanted, and which of their properties."""

    layer_id: int
    bbox: tuple[float, float, float, float] | None = None
    filters: tuple[AttributeFilter, ...] = ()
    text: str = ""
    properties: tuple[str, ...] | None = None  # None: all of them
    sort: tuple[SortKey, ...] = ()
    as_of: datetime.datetime | None = None  # None: the layer as it is
    # The CRS of `bbox` (an EPSG code; x first): 4326 is longitude/latitude (features/crs.py).
    bbox_srid: int = 4326
    # The coordinates' CRS in answers, and whether they are written y first (latitude or
    # northing, as EPSG:4326 defines its axes): the SQL of layers/features/geojson.py.
    srid: int = 4326
    swap_axes: bool = False
    cql: CqlFilter | None = None  # a CQL2 `filter`, compiled
    time: TimeFilter | None = None  # `datetime` on a time-enabled layer

    @property
    def is_whole_layer(self) -> bool:
        """Return whether every current feature of the layer matches (no bbox, filter, text,
        time or past instant)."""
        return (
            self.bbox is None
            and not self.filters
            and not self.text
            and self.as_of is None
            and self.cql is None
            and self.time is None
        )


def layer_fields(layer: Layer) -> dict[str, AttributeField]:
    """Return the layer's attribute fields by name."""
    fields = {}
    for spec in layer.attribute_schema or []:
        name = spec.get("name") if isinstance(spec, dict) else None
        if name:
            fields[name] = AttributeField(name=name, type=str(spec.get("type") or "text"))
    return fields


def shown(value: str) -> str:
    """Return the start of a request's value, to repeat in an error message."""
    return value if len(value) <= SHOWN_CHARACTERS else value[:SHOWN_CHARACTERS] + "…"


def parse_decimal(value: str, *, parameter: str) -> Decimal:
    """Return the finite number in `value` exactly, or raise InvalidParameter.

    The one door for numbers in requests: `nan`, `inf` and overflows (`1e309`, `1e999999`) are
    refused here, naming the parameter, before they reach a float or PostgreSQL.
    """
    try:
        number = Decimal(value.strip())
    except (InvalidOperation, ValueError):
        raise InvalidParameter(
            f"{parameter}: '{shown(value)}' is not a number.", parameter=parameter
        ) from None
    if not number.is_finite():
        raise InvalidParameter(
            f"{parameter}: '{shown(value)}' is not a finite number.", parameter=parameter
        )
    if not number:
        return Decimal(0)  # `0e-999999` is zero, and PostgreSQL need not see its exponent
    if abs(number.adjusted()) > MAX_DECIMAL_EXPONENT:
        raise InvalidParameter(
            f"{parameter}: '{shown(value)}' is out of range "
            f"(between 1e-{MAX_DECIMAL_EXPONENT} and 1e{MAX_DECIMAL_EXPONENT} in size).",
            parameter=parameter,
        )
    return number


def parse_number(
    value: str | None,
    *,
    parameter: str,
    minimum: float = -math.inf,
    maximum: float = math.inf,
    default: float | None = None,
) -> float:
    """Return the number in `value` (or the default) within [minimum, maximum], or raise
    InvalidParameter; a missing value without a default is an error too."""
    if value is None or value.strip() == "":
        if default is None:
            raise InvalidParameter(f"{parameter} is required.", parameter=parameter)
        return default
    number = float(parse_decimal(value, parameter=parameter))
    if not minimum <= number <= maximum:
        raise InvalidParameter(
            f"{parameter} must be a number from {minimum:g} to {maximum:g}.", parameter=parameter
        )
    return number


def parse_bbox(value: str, *, parameter: str = "bbox") -> tuple[float, float, float, float]:
    """Return `minlon,minlat,maxlon,maxlat` as four floats, or raise InvalidParameter."""
    parts = value.split(",")
    if len(parts) == 6:  # OGC allows a 3D box; heights do not matter here.
        parts = [parts[0], parts[1], parts[3], parts[4]]
    if len(parts) != 4 or any(part.strip() == "" for part in parts):
        raise InvalidParameter(
            f"{parameter} must be four numbers: min lon, min lat, max lon, max lat.",
            parameter=parameter,
        )
    numbers = [parse_number(part, parameter=parameter) for part in parts]
    min_lon, min_lat, max_lon, max_lat = numbers
    if min_lon > max_lon or min_lat > max_lat:
        raise InvalidParameter(
            f"{parameter}: the minimum must not exceed the maximum.", parameter=parameter
        )
    if not (
        LONGITUDE_RANGE[0] <= min_lon <= max_lon <= LONGITUDE_RANGE[1]
        and LATITUDE_RANGE[0] <= min_lat <= max_lat <= LATITUDE_RANGE[1]
    ):
        raise InvalidParameter(
            f"{parameter} must be in longitude/latitude (WGS 84).", parameter=parameter
        )
    return min_lon, min_lat, max_lon, max_lat


def parse_text(value: str | None, *, parameter: str = "q") -> str:
    """Return a search text, stripped, or raise InvalidParameter past MAX_TEXT_CHARACTERS."""
    text = (value or "").strip()
    if len(text) > MAX_TEXT_CHARACTERS:
        raise InvalidParameter(
            f"{parameter} is too long: at most {MAX_TEXT_CHARACTERS} characters.",
            parameter=parameter,
        )
    return text


def parse_instant(value: str, *, parameter: str) -> datetime.datetime:
    """Return the instant an ISO 8601 text names (`2026-03-01T00:00:00Z`, an offset, or a date:
    its midnight), read in the city's time zone when it names none; else InvalidParameter."""
    text = value.strip()
    try:
        if len(text) == 10:
            moment = datetime.datetime.combine(datetime.date.fromisoformat(text), datetime.time())
        else:
            moment = datetime.datetime.fromisoformat(text.replace("z", "Z"))
    except ValueError:
        raise InvalidParameter(
            f"{parameter}: '{shown(value)}' is not a date and time; write it as in "
            "2026-03-01T08:30:00+07:00, 2026-03-01T01:30:00Z or 2026-03-01.",
            parameter=parameter,
        ) from None
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment)
    return moment


def parse_int(
    value: str | None, *, parameter: str, default: int, minimum: int, maximum: int
) -> int:
    """Return the integer in `value` (or the default), or raise InvalidParameter."""
    if value is None or value == "":
        return default
    try:
        # int() refuses `1e999` and more than 4,300 digits by itself.
        number = int(value)
    except ValueError:
        raise InvalidParameter(
            f"{parameter} must be an integer, not '{shown(value)}'.", parameter=parameter
        ) from None
    if not minimum <= number <= maximum:
        raise InvalidParameter(
            f"{parameter} must be between {minimum} and {maximum}.", parameter=parameter
        )
    return number


def _filter_value(attribute: AttributeField, raw: str, *, parameter: str):
    if attribute.is_numeric:
        return parse_decimal(raw, parameter=parameter)
    if attribute.is_boolean:
        lowered = raw.strip().lower()
        if lowered in {"true", "1", "yes"}:
            return True
        if lowered in {"false", "0", "no"}:
            return False
        raise InvalidParameter(f"{parameter} must be true or false.", parameter=parameter)
    return raw


def parse_filter(
    *, parameter: str, raw: str, fields: Mapping[str, AttributeField], operators: Sequence[str]
) -> AttributeFilter:
    """Return the filter that `?parameter=raw` asks for, or raise InvalidParameter."""
    name, operator = parameter, "eq"
    if "__" in parameter:
        name, _, operator = parameter.rpartition("__")
    if name not in fields:
        raise InvalidParameter(f"Unknown parameter or attribute '{name}'.", parameter=parameter)
    if operator not in operators:
        raise InvalidParameter(
            f"Unknown operator '{operator}': use one of {', '.join(operators)}.",
            parameter=parameter,
        )
    attribute = fields[name]
    if operator == "contains":
        if raw == "":
            raise InvalidParameter(f"{parameter} must not be empty.", parameter=parameter)
        return AttributeFilter(attribute, operator, (raw,))
    if operator == "in":
        parts = raw.split(",")
        values = tuple(_filter_value(attribute, part, parameter=parameter) for part in parts)
        return AttributeFilter(attribute, operator, values)
    if operator != "eq" and attribute.is_boolean:
        raise InvalidParameter(
            f"{parameter}: a true/false field only compares for equality.", parameter=parameter
        )
    value = _filter_value(attribute, raw, parameter=parameter)
    return AttributeFilter(attribute, operator, (value,))


def parse_sortby(value: str, *, fields: Mapping[str, AttributeField]) -> tuple[SortKey, ...]:
    """Return the sort keys of `sortby=field,-other` (`+`/`-` prefixes as in OGC API)."""
    keys = []
    for part in value.split(","):
        # A '+' in a query string arrives as a space.
        name = part.strip()
        descending = name.startswith("-")
        name = name.lstrip("+-").strip()
        if name == "id":
            keys.append(SortKey(None, descending))
        elif name in fields:
            keys.append(SortKey(fields[name], descending))
        else:
            raise InvalidParameter(f"Cannot sort by '{name}'.", parameter="sortby")
    return tuple(keys)


def parse_properties(value: str, *, fields: Mapping[str, AttributeField]) -> tuple[str, ...]:
    """Return the names in `properties=a,b`, each a field of the layer."""
    names = tuple(name.strip() for name in value.split(",") if name.strip())
    for name in names:
        if name not in fields:
            raise InvalidParameter(f"Unknown property '{name}'.", parameter="properties")
    return names


def feature_query_from_params(
    *,
    layer: Layer,
    params: Mapping[str, str],
    ignore: Iterable[str] = (),
    operators: Sequence[str] = OPERATORS,
) -> FeatureQuery:
    """Return the query that these request parameters ask of the layer's features.

    `params` maps each parameter to its (last) value; those in `ignore` are someone else's
    (paging, format). Any other one that is not a known parameter must name an attribute.
    """
    fields = layer_fields(layer)
    skipped = set(ignore)
    bbox = parse_bbox(params["bbox"]) if params.get("bbox") else None
    text = parse_text(params.get("q"))
    properties = (
        parse_properties(params["properties"], fields=fields) if "properties" in params else None
    )
    sort = parse_sortby(params["sortby"], fields=fields) if params.get("sortby") else ()
    as_of = parse_instant(params["as_of"], parameter="as_of") if params.get("as_of") else None
    time = time_filter(layer, params.get("datetime") or None)
    cql = None
    if params.get("filter"):
        from .cql2 import compile_filter  # cql2.py imports this module's fields and helpers

        cql = compile_filter(
            params["filter"],
            fields=fields,
            language=params.get("filter-lang"),
            crs=params.get("filter-crs"),
        )
    filters = tuple(
        parse_filter(parameter=name, raw=raw, fields=fields, operators=operators)
        for name, raw in params.items()
        if name not in QUERY_PARAMETERS and name not in skipped
    )
    return FeatureQuery(
        layer_id=layer.pk,
        bbox=bbox,
        filters=filters,
        text=text,
        properties=properties,
        sort=sort,
        as_of=as_of,
        cql=cql,
        time=time,
    )


def escape_like(text: str) -> str:
    """Return `text` with LIKE's wildcards escaped, so it matches literally."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def text_words(text: str) -> list[str]:
    """Return the words of a search text: each must occur in a matching name."""
    return [word for word in text.split() if word]


def attribute_value_sql(attribute: AttributeField) -> tuple[sql.Composable, list]:
    """Return the SQL for a feature's value of this attribute: a number, or text.

    A JSON number (as imports store a numeric field's values) is cast as it is; only text is
    matched against the number pattern first. The regular expression on every row made a
    filtered count of 200,000 features take 250 ms instead of 140 (bench/features.py).
    """
    if attribute.is_numeric:
        name = attribute.name
        return (
            sql.SQL(
                "(CASE jsonb_typeof(f.attributes -> %s)"
                " WHEN 'number' THEN (f.attributes -> %s)::numeric"
                " WHEN 'string' THEN (CASE WHEN f.attributes ->> %s ~ {pattern}"
                " THEN (f.attributes ->> %s)::numeric END) END)"
            ).format(pattern=sql.Literal(NUMBER_PATTERN)),
            [name, name, name, name],
        )
    return sql.SQL("(f.attributes ->> %s)"), [attribute.name]


def _filter_sql(item: AttributeFilter) -> tuple[sql.Composable, list]:
    name = item.field.name
    if item.operator == "contains":
        pattern = f"%{escape_like(item.values[0])}%"
        return (
            sql.SQL("f_unaccent(lower(f.attributes ->> %s)) LIKE f_unaccent(lower(%s))"),
            [name, pattern],
        )
    if item.field.is_boolean:
        # eq and in: compare JSON values, so true matches true and not "true".
        return sql.SQL("(f.attributes -> %s) = ANY(%s::jsonb[])"), [
            name,
            ["true" if value else "false" for value in item.values],
        ]
    value, params = attribute_value_sql(item.field)
    if item.operator == "in":
        return sql.SQL("{value} = ANY(%s)").format(value=value), [*params, list(item.values)]
    operator = {"eq": "=", "gt": ">", "gte": ">=", "lt": "<", "lte": "<="}[item.operator]
    return sql.SQL("{value} {operator} %s").format(value=value, operator=sql.SQL(operator)), [
        *params,
        item.values[0],
    ]


def mercator_box(bbox: Sequence[float]) -> tuple[float, float, float, float]:
    """Return a longitude/latitude box in EPSG:3857 metres (edges past ±85.05° left open)."""
    min_lon, min_lat, max_lon, max_lat = bbox

    def x_m(lon: float) -> float:
        return MERCATOR_RADIUS_M * math.radians(lon)

    def y_m(lat: float, open_edge: float) -> float:
        if abs(lat) >= MERCATOR_MAX_LATITUDE:
            return open_edge
        return MERCATOR_RADIUS_M * math.log(math.tan(math.pi / 4 + math.radians(lat) / 2))

    # Both axes of Mercator grow with their own coordinate only, so the corners map to the box.
    return (
        x_m(min_lon) - MERCATOR_MARGIN_M,
        y_m(min_lat, -MERCATOR_OPEN_EDGE_M) - MERCATOR_MARGIN_M,
        x_m(max_lon) + MERCATOR_MARGIN_M,
        y_m(max_lat, MERCATOR_OPEN_EDGE_M) + MERCATOR_MARGIN_M,
    )


def feature_relation(
    query: FeatureQuery, *, alias: str = "f", of_page: bool = False
) -> sql.Composable:
    """Return what the query reads its features from, named `alias`: the table `layers_feature`,
    or with `as_of` the layer's rows valid at that instant (with the table's columns).

    `of_page`: the relation is joined `ON {alias}.id = page.id` to a page of ids; as of an
    instant it then reads only that feature's rows (LATERAL), by the tables' (layer, id)
    indexes. A UNION ALL whose branches have a WHERE is not flattened by PostgreSQL, so the
    join's condition would not reach the indexes: every row of the layer would be read instead.

    The layer and the instant are literals, not bound values: then the planner leaves out the
    archives of other layers at planning time (each has a CHECK on its layer).
    """
    # The alias is one of ours (`f`, `g`), written bare: the plain statement stays as it was.
    name = sql.SQL(alias)
    if query.as_of is None:
        return sql.SQL("layers_feature {alias}").format(alias=name)
    rows = as_of_rows_sql(
        layer=sql.Literal(query.layer_id),
        instant=sql.Literal(query.as_of),
        condition=sql.SQL("id = page.id") if of_page else None,
    )
    lateral = sql.SQL("LATERAL ") if of_page else sql.SQL("")
    return sql.SQL("{lateral}({rows}) AS {alias}").format(lateral=lateral, rows=rows, alias=name)


# The columns `layers_feature` and `layers_featureversion` share, in the table's order.
AS_OF_COLUMNS = (
    "id",
    "layer_id",
    "geom",
    "geom_3857",
    "attributes",
    "name",
    "search_text",
    "created_at",
    "updated_at",
    "version",
    "event_id",
)


def as_of_rows_sql(
    *, layer: sql.Composable, instant: sql.Composable, condition: sql.Composable | None = None
) -> sql.Composable:
    """Return the SELECT of a layer's feature rows valid at an instant (`layer` and `instant`:
    a literal or a placeholder each), and meeting `condition` if given.

    A feature's version is valid from its `updated_at`: the current rows (`layers_feature`) until
    now, the past ones (`layers_featureversion` and the archived partitions of replaced imports,
    its inheritance children) until their `valid_to`. At most one version of a feature is valid
    at any instant: a change ends the old version at the very time the new one starts.

    The condition is written into both branches, where it can use their indexes: PostgreSQL
    pushes a query's own WHERE into a UNION ALL, but not a join's condition.
    """
    columns = sql.SQL(", ").join(sql.Identifier(name) for name in AS_OF_COLUMNS)
    also = sql.SQL(" AND {}").format(condition) if condition is not None else sql.SQL("")
    return sql.SQL(
        "SELECT {columns} FROM layers_feature"
        " WHERE layer_id = {layer}::bigint AND updated_at <= {instant}::timestamptz{also}"
        " UNION ALL"
        " SELECT {columns} FROM layers_featureversion"
        " WHERE layer_id = {layer}::bigint AND updated_at <= {instant}::timestamptz"
        " AND {instant}::timestamptz < valid_to{also}"
    ).format(columns=columns, layer=layer, instant=instant, also=also)


def crs_box_sql(bbox: Sequence[float], *, srid: int) -> tuple[sql.Composable, list]:
    """Return the condition "meets this box of another CRS" (`bbox-crs`) and its values.

    The box is a rectangle in its own CRS, not in longitude/latitude: its edges are densified
    (64 points a side) before it is brought to 3857 for the index's first cut, widened by a
    metre, and the exact test is made in the box's CRS.
    """
    envelope = sql.SQL("ST_MakeEnvelope(%s, %s, %s, %s, %s)")
    # 3857 is the stored copy: no transformation of the features at all.
    features = sql.SQL("f.geom_3857" if srid == 3857 else "ST_Transform(f.geom, %s::integer)")
    condition = sql.SQL(
        "f.geom_3857 && ST_Expand(ST_Transform(ST_Segmentize({envelope},"
        " greatest(%s::float8 - %s, %s::float8 - %s) / 64), 3857), 1)"
        " AND ST_Intersects({features}, {envelope})"
    ).format(envelope=envelope, features=features)
    min_x, min_y, max_x, max_y = bbox
    box = [min_x, min_y, max_x, max_y, srid]
    params = [*box, max_x, min_x, max_y, min_y, *([] if srid == 3857 else [srid]), *box]
    return condition, params


def where_sql(query: FeatureQuery) -> tuple[sql.Composable, list]:
    """Return the WHERE condition (over the features `f`, `feature_relation`) and its values."""
    # bigint as the column: psycopg sends a small int as int2, and btree_gist's GiST opclass has
    # no cross-type `=`, so without the cast the layer is not in the (layer, geom_3857) index's
    # condition and a bbox query ANDs two bitmaps (12 ms against 2 ms on the dev data).
    conditions: list[sql.Composable] = [sql.SQL("f.layer_id = %s::bigint")]
    params: list = [query.layer_id]
    if query.bbox is not None and query.bbox_srid != 4326:
        condition, values = crs_box_sql(query.bbox, srid=query.bbox_srid)
        conditions.append(condition)
        params.extend(values)
    elif query.bbox is not None:
        # The (layer, geom_3857) GiST index finds the candidates (there is no index on the 4326
        # `geom`: one spatial index less to keep up on every import); the exact test stays in 4326.
        conditions.append(
            sql.SQL(
                "f.geom_3857 && ST_MakeEnvelope(%s, %s, %s, %s, 3857)"
                " AND ST_Intersects(f.geom, ST_MakeEnvelope(%s, %s, %s, %s, 4326))"
            )
        )
        params.extend(mercator_box(query.bbox))
        params.extend(query.bbox)
    for word in text_words(query.text):
        # f_unaccent(lower(constant)) is IMMUTABLE, folded at planning: the trigram index serves.
        conditions.append(sql.SQL("f.search_text LIKE f_unaccent(lower(%s))"))
        params.append(f"%{escape_like(word)}%")
    for item in query.filters:
        condition, values = _filter_sql(item)
        conditions.append(condition)
        params.extend(values)
    if query.cql is not None:
        conditions.append(sql.SQL("({})").format(query.cql.condition))
        params.extend(query.cql.params)
    if query.time is not None:
        condition, values = time_condition_sql(query.time)
        conditions.append(condition)
        params.extend(values)
    return sql.SQL(" AND ").join(conditions), params


def order_sql(query: FeatureQuery) -> tuple[sql.Composable, list]:
    """Return the ORDER BY list; the feature id always ends it, so paging is stable."""
    parts: list[sql.Composable] = []
    params: list = []
    for key in query.sort:
        direction = sql.SQL("DESC NULLS LAST" if key.descending else "ASC NULLS LAST")
        if key.field is None:
            parts.append(sql.SQL("f.id {direction}").format(direction=direction))
            continue
        value, values = attribute_value_sql(key.field)
        parts.append(sql.SQL("{value} {direction}").format(value=value, direction=direction))
        params.extend(values)
    if not any(key.field is None for key in query.sort):
        parts.append(sql.SQL("f.id ASC"))
    return sql.SQL(", ").join(parts), params


def flat_properties_sql(columns: list[str]) -> tuple[sql.Composable, list]:
    """Return the SQL for a feature's properties as one row of a flat table (JSONB): every column
    present, null where the feature has no value, and a list or an object as its JSON text.

    For the file exports GDAL writes: GDAL makes columns only of keys it sees, so a schema field
    no exported feature has yet would be missing (and `-select` of it fails), and it reads a list
    as a list type that GeoPackage and Shapefile lack ("(2:a,b)" in the file).
    """
    return (
        sql.SQL(
            "(SELECT COALESCE(jsonb_object_agg(c.name, CASE"
            " WHEN jsonb_typeof(f.attributes -> c.name) IN ('array', 'object')"
            " THEN to_jsonb((f.attributes -> c.name)::text)"
            " ELSE COALESCE(f.attributes -> c.name, 'null'::jsonb) END), '{}'::jsonb)"
            " FROM unnest(%s::text[]) AS c(name))"
        ),
        [list(columns)],
    )


def properties_sql(query: FeatureQuery) -> tuple[sql.Composable, list]:
    """Return the SQL for a feature's properties (JSONB): all, or the ones asked for."""
    if query.properties is None:
        return sql.SQL("f.attributes"), []
    return (
        sql.SQL(
            "COALESCE((SELECT jsonb_object_agg(key, value) FROM jsonb_each(f.attributes)"
            " WHERE key = ANY(%s)), '{}'::jsonb)"
        ),
        [list(query.properties)],
    )
