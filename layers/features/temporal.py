"""Time-enabled layers: the OGC `datetime=` parameter, the condition it puts on a layer's
features, and a layer's temporal extent.

A layer is time-enabled when it names the attribute that holds each feature's time
(`Layer.time_start_field`): alone it is an instant per feature, with `time_end_field` a validity
interval whose missing or empty ends are open. Values are ISO 8601 text in the JSONB attributes,
read as CQL2 reads date properties (one reading for both, `stored_moment_sql`): with no offset in
the city's time zone; text that is not an instant makes the feature match no `datetime` at all
(it never fails the query).

Everything is a closed interval of instants, at PostgreSQL's resolution of a microsecond: a date
is its whole day, from its midnight to one microsecond before the next one (so a validity "to
2025-06-30" covers that day, and one "from 2025-07-01" does not meet it), an instant is an
interval of no length, and an open end is +-infinity. A feature matches when its interval and
the one asked intersect (OGC API - Features, /req/core/fc-time-response). A feature with no time
at all (an empty time field) matches any `datetime` (ibid., part C), and so does every feature
of a layer that is not time-enabled: the parameter is ignored there.
"""

from __future__ import annotations

import contextlib
import datetime
import logging
import re
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.db import connections
from django.utils import timezone
from psycopg import sql

from layers.errors import InvalidParameter

logger = logging.getLogger(__name__)

PARAMETER = "datetime"
# Attribute types that hold an instant as ISO 8601 text (imports write dates and timestamps so):
# a time field's, and the date properties of CQL2 filters.
INSTANT_TYPES = frozenset({"date", "datetime", "timestamp"})
TIME_TYPES = INSTANT_TYPES
# A stored instant: a date, else a date and time, with an offset or none (the city's time then).
# Only text of this shape whose date exists is cast, so no stored value can make the cast fail.
INSTANT_PATTERN = (
    r"^\d{4}-\d{2}-\d{2}([T ]([01]\d|2[0-3]):[0-5]\d(:[0-5]\d(\.\d{1,6})?)?"
    r"(Z|[+-]([01]\d|2[0-3])(:?[0-5]\d)?)?)?$"
)
ONE_MICROSECOND = datetime.timedelta(microseconds=1)
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# RFC 3339 as OGC API asks (`T` or a space, seconds and their fraction optional, `Z` or an offset;
# none: the city's time).
_DATE_TIME = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?([Zz]|[+-]\d{2}:?\d{2})?$"
)
OPEN = ("", "..")
USAGE = (
    "write an instant (2025-07-01T00:00:00Z, 2025-07-01T07:00:00+07:00, or a date: 2025-07-01, "
    "the whole day) or an interval (2025-01-01/2025-06-30, ../2025-06-30, 2025-07-01/..)"
)
# The temporal extent of a layer is kept this long per version (a new version is a new key).
EXTENT_CACHE_S = 24 * 3600


@dataclass(frozen=True)
class TimeFilter:
    """The features of a time-enabled layer whose time meets [start, end] (None: open)."""

    start_field: str
    end_field: str  # "": the features are instants at the start field
    start: datetime.datetime | None
    end: datetime.datetime | None


def is_time_enabled(layer) -> bool:
    """Return whether the layer names a time field."""
    return bool(layer.time_start_field)


def _shown(value: str) -> str:
    return value if len(value) <= 40 else value[:40] + "…"


def _moment(text: str, *, end: bool, value: str) -> datetime.datetime:
    """Return the instant one end of `datetime` names: a date's first (or, at an interval's end
    and for an instant, its last) microsecond in the city's time."""
    try:
        if _DATE.match(text):
            day = datetime.date.fromisoformat(text)
            if end:
                day += datetime.timedelta(days=1)
            moment = timezone.make_aware(datetime.datetime.combine(day, datetime.time()))
            return moment - ONE_MICROSECOND if end else moment
        if _DATE_TIME.match(text):
            moment = datetime.datetime.fromisoformat(text.upper().replace("Z", "+00:00"))
            return timezone.make_aware(moment) if timezone.is_naive(moment) else moment
    except (ValueError, OverflowError):
        pass
    raise InvalidParameter(
        f"datetime: '{_shown(value)}' is not a valid instant or interval: {USAGE}.",
        parameter=PARAMETER,
    )


def parse_datetime(value: str) -> tuple[datetime.datetime | None, datetime.datetime | None]:
    """Return the [start, end] that an OGC `datetime` names (None: an open end), or raise
    InvalidParameter."""
    text = value.strip()
    if not text:
        raise InvalidParameter(f"datetime is empty: {USAGE}.", parameter=PARAMETER)
    if "/" not in text:
        return _moment(text, end=False, value=value), _moment(text, end=True, value=value)
    parts = text.split("/")
    if len(parts) != 2:
        raise InvalidParameter(
            f"datetime: '{_shown(value)}' has more than one '/': {USAGE}.", parameter=PARAMETER
        )
    first, last = (part.strip() for part in parts)
    if first in OPEN and last in OPEN:
        raise InvalidParameter(
            "datetime: an interval needs at least one end (leave the parameter out for all times).",
            parameter=PARAMETER,
        )
    start = None if first in OPEN else _moment(first, end=False, value=value)
    end = None if last in OPEN else _moment(last, end=True, value=value)
    if start is not None and end is not None and start > end:
        raise InvalidParameter(
            f"datetime: the interval '{_shown(value)}' ends before it starts.", parameter=PARAMETER
        )
    return start, end


def time_filter(layer, value: str | None) -> TimeFilter | None:
    """Return the time condition `datetime=value` puts on the layer's features: None without
    the parameter or on a layer that is not time-enabled (validated all the same)."""
    if value is None:
        return None
    start, end = parse_datetime(value)
    if not is_time_enabled(layer):
        return None
    return TimeFilter(
        start_field=layer.time_start_field,
        end_field=layer.time_end_field,
        start=start,
        end=end,
    )


def stored_moment_sql(
    name: str, *, end: bool, missing_open: bool = True
) -> tuple[sql.Composable, list]:
    """Return SQL for the instant an attribute of the features `f` holds, as one end of the
    feature's interval: -infinity (+infinity at the `end`) when it is missing or empty (NULL
    unless `missing_open`), NULL when it is not an instant; a date is its midnight in the city's
    time, or at the `end` one microsecond before the next one."""
    value = sql.SQL("(f.attributes ->> %s)")
    day = (
        sql.SQL("((left({v}, 10)::date + 1)::timestamp AT TIME ZONE %s - interval '1 microsecond')")
        if end
        else sql.SQL("(left({v}, 10)::date::timestamp AT TIME ZONE %s)")
    ).format(v=value)
    missing = (
        sql.SQL("WHEN coalesce(btrim({v}), '') = '' THEN {open}::timestamptz ").format(
            v=value, open=sql.Literal("infinity" if end else "-infinity")
        )
        if missing_open
        else sql.SQL("")
    )
    condition = sql.SQL(
        "(CASE {missing}WHEN {v} ~ {pattern} AND jsonb_path_exists(to_jsonb(left({v}, 10)),"
        " '$.datetime()', '{{}}', true) THEN (CASE WHEN length({v}) <= 10 THEN {day}"
        " WHEN {v} ~ '(Z|[+-][0-9:]+)$' THEN {v}::timestamptz"
        " ELSE {v}::timestamp AT TIME ZONE %s END) END)"
    ).format(missing=missing, v=value, pattern=sql.Literal(INSTANT_PATTERN), day=day)
    zone = settings.TIME_ZONE
    params = [name, name, name, name, zone, name, name, name, zone]
    return condition, [name, *params] if missing_open else params


def feature_period_sql(
    start_field: str, end_field: str
) -> tuple[tuple[sql.Composable, list], tuple[sql.Composable, list]]:
    """Return SQL for the start and the end of each feature's time (an instant: both ends)."""
    start = stored_moment_sql(start_field, end=False)
    end = stored_moment_sql(end_field or start_field, end=True)
    return start, end


def time_condition_sql(wanted: TimeFilter) -> tuple[sql.Composable, list]:
    """Return the condition "the feature's time meets the interval asked" over `f`, and its
    values. A value that is not an instant gives NULL, so that feature never matches."""
    (start, start_params), (end, end_params) = feature_period_sql(
        wanted.start_field, wanted.end_field
    )
    conditions: list[sql.Composable] = []
    params: list = []
    if wanted.end is not None:
        conditions.append(sql.SQL("{} <= %s::timestamptz").format(start))
        params.extend([*start_params, wanted.end])
    if wanted.start is not None:
        conditions.append(sql.SQL("{} >= %s::timestamptz").format(end))
        params.extend([*end_params, wanted.start])
    if wanted.start is None or wanted.end is None:
        # Only one end is compared: the other must still be an instant (or open).
        other, other_params = (start, start_params) if wanted.end is None else (end, end_params)
        conditions.append(sql.SQL("{} IS NOT NULL").format(other))
        params.extend(other_params)
    return sql.SQL("({})").format(sql.SQL(" AND ").join(conditions)), params


def time_selects_all(layer, wanted: TimeFilter) -> bool:
    """Return whether every feature of the layer meets the time asked (then its plain, cached
    tiles are the answer). Asked once per layer version and interval: kept in the cache."""
    key = (
        f"temporal-all:{layer.pk}:{layer.version}:{wanted.start_field}:{wanted.end_field}:"
        f"{wanted.start and wanted.start.isoformat()}:{wanted.end and wanted.end.isoformat()}"
    )
    with contextlib.suppress(Exception):  # the cache (Redis) down: asked as without it
        cached = cache.get(key)
        if cached is not None:
            return cached
    condition, params = time_condition_sql(wanted)
    query = sql.SQL(
        "SELECT NOT EXISTS (SELECT 1 FROM layers_feature f WHERE f.layer_id = %s::bigint"
        " AND NOT coalesce({condition}, false))"
    ).format(condition=condition)
    from mapserver.db_router import read_alias

    with connections[read_alias()].cursor() as cursor:
        cursor.execute(query.as_string(None), [layer.pk, *params])
        (every,) = cursor.fetchone()
    with contextlib.suppress(Exception):
        cache.set(key, every, timeout=EXTENT_CACHE_S)
    return every


def _iso(moment: datetime.datetime | None) -> str | None:
    """Return an extent's end as RFC 3339 in the city's time (None: open)."""
    if moment is None:
        return None
    return timezone.localtime(moment).isoformat()


def _extent_query(start_field: str, end_field: str) -> tuple[sql.Composable, list]:
    (start, start_params), (end, end_params) = feature_period_sql(start_field, end_field)
    # A feature with no time (both ends open) says nothing of the extent; one whose value is not
    # an instant (NULL) is left out, as `datetime` leaves it out.
    return (
        sql.SQL(
            "SELECT nullif(min(s), '-infinity'), nullif(max(e), 'infinity')"
            " FROM (SELECT {start} AS s, {end} AS e FROM layers_feature f"
            " WHERE f.layer_id = %s::bigint) AS t"
            " WHERE s IS NOT NULL AND e IS NOT NULL"
            " AND NOT (s = '-infinity'::timestamptz AND e = 'infinity'::timestamptz)"
        ).format(start=start, end=end),
        [*start_params, *end_params],
    )


def temporal_extent(layer) -> dict | None:
    """Return a time-enabled layer's temporal extent from its data, None for another layer:
    `{"interval": [[start, end]], "start_field", "end_field"}`, an open end as null (RFC 3339
    text in the city's time). Kept in the cache per layer version and time fields."""
    if not is_time_enabled(layer):
        return None
    key = (
        f"temporal:{layer.pk}:{layer.version}:"
        f"{len(layer.time_start_field)}:{layer.time_start_field}:{layer.time_end_field}"
    )
    with contextlib.suppress(Exception):  # the cache (Redis) down: computed as without it
        cached = cache.get(key)
        if cached is not None:
            return cached
    query, params = _extent_query(layer.time_start_field, layer.time_end_field)
    from mapserver.db_router import read_alias

    with connections[read_alias()].cursor() as cursor:
        cursor.execute(query.as_string(None), [*params, layer.pk])
        first, last = cursor.fetchone()
    extent = {
        "interval": [[_iso(first), _iso(last)]],
        "start_field": layer.time_start_field,
        "end_field": layer.time_end_field or None,
    }
    with contextlib.suppress(Exception):
        cache.set(key, extent, timeout=EXTENT_CACHE_S)
    return extent
