"""Across layers: ranked name search and identify (the features at a point of the map).

Both take the ids of the layers the requester may see; choosing them is the caller's business
(`Layer.objects.visible_to`), so neither can reach a layer it was not given.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

from django.conf import settings
from django.db import OperationalError, transaction
from psycopg import sql

from layers.errors import TimedOut
from mapserver.db_router import read_connection

from .query import escape_like, text_words
from .temporal import TimeFilter, time_condition_sql

# PostgreSQL's SQLSTATE for a statement cancelled (here: by statement_timeout).
QUERY_CANCELED = "57014"

# Web Mercator's width in metres; MapLibre draws the world 512 px wide at zoom 0.
WORLD_WIDTH_M = 40_075_016.685578488
TILE_SIZE_PX = 512
# Identify looks at most this many pixels around the point (a finger on a phone is ~10 px)...
MAX_TOLERANCE_PX = 20
# ...and never further than this, in Web Mercator metres (9.6 km on the ground at Huế): at zoom 0
# 20 px span 1,500 km, which would hand back a province's worth of features for one click.
MAX_RADIUS_3857 = 10_000


@dataclass(frozen=True)
class SearchHit:
    """A feature whose name matches: where it is, and how well it matches."""

    layer_id: int
    id: int
    name: str
    score: float
    centroid: tuple[float, float]
    bbox: tuple[float, float, float, float]


def search_sql(
    *,
    layer_ids: list[int],
    text: str,
    limit: int,
    max_candidates: int,
    searched_fields: dict[int, list[str]] | None = None,
) -> tuple[sql.Composable, list] | None:
    """Return the search statement and its values, or None when there is nothing to look for.

    The ranking (trigram similarity, then sorting) only sees a bounded set of candidates: at most
    `max_candidates` names equal to the text, as many starting with it, and as many holding each
    of its words, each set found through the trigram index and cut by its own LIMIT. So a text
    that half a million similar names match ranks at most three times `max_candidates` rows,
    and an exact or starting match is never crowded out by the others (it has its own share).

    `searched_fields` (layer id: attribute names, `layer_searched_fields`) adds, per such layer,
    the features whose other attributes hold every word (a ward found by the names of the units
    it was formed from), as many again at most. No index serves them: they are for small layers.
    Their name does not match, so they rank after the features named by the text.
    """
    words = text_words(text)
    if not words or not layer_ids:
        return None
    phrase = " ".join(words)
    prefix = escape_like(phrase) + "%"
    conditions = sql.SQL(" AND ").join(
        sql.SQL("f.search_text LIKE f_unaccent(lower(%s))") for _ in words
    )
    attribute_branches, attribute_params = _attribute_branches(
        {layer: names for layer, names in (searched_fields or {}).items() if layer in layer_ids},
        words=words,
        max_candidates=max_candidates,
    )
    # f_unaccent(lower(constant)) is folded at planning, so each branch is a trigram index scan
    # (pg_trgm's GIN index serves =, LIKE 'a%' and LIKE '%a%' alike).
    statement = sql.SQL(
        """
        WITH candidate AS (
            (SELECT f.id FROM layers_feature f
             WHERE f.layer_id = ANY(%s) AND f.search_text = f_unaccent(lower(%s)) LIMIT %s)
            UNION
            (SELECT f.id FROM layers_feature f
             WHERE f.layer_id = ANY(%s) AND f.search_text LIKE f_unaccent(lower(%s)) LIMIT %s)
            UNION
            (SELECT f.id FROM layers_feature f
             WHERE f.layer_id = ANY(%s) AND {conditions} LIMIT %s)
            {attribute_branches}
        )
        SELECT hit.layer_id, hit.id, hit.name, hit.score,
               ST_X(ST_Centroid(f.geom)), ST_Y(ST_Centroid(f.geom)),
               ST_XMin(f.geom), ST_YMin(f.geom), ST_XMax(f.geom), ST_YMax(f.geom)
        FROM (
            SELECT f.id, f.layer_id, f.name,
                   similarity(f.search_text, f_unaccent(lower(%s)))
                   + CASE WHEN f.search_text = f_unaccent(lower(%s)) THEN 2
                          WHEN f.search_text LIKE f_unaccent(lower(%s)) THEN 1
                          ELSE 0 END AS score
            FROM candidate JOIN layers_feature f ON f.id = candidate.id
            ORDER BY score DESC, length(f.name), f.id
            LIMIT %s
        ) AS hit JOIN layers_feature f ON f.id = hit.id
        ORDER BY hit.score DESC, length(hit.name), hit.id
        """
    ).format(conditions=conditions, attribute_branches=attribute_branches)
    params = [
        layer_ids,
        phrase,
        max_candidates,
        layer_ids,
        prefix,
        max_candidates,
        layer_ids,
        *(f"%{escape_like(word)}%" for word in words),
        max_candidates,
        *attribute_params,
        phrase,
        phrase,
        prefix,
        limit,
    ]
    return statement, params


def _attribute_branches(
    searched_fields: dict[int, list[str]], *, words: list[str], max_candidates: int
) -> tuple[sql.Composable, list]:
    """Return the UNION branches that find features by other attributes than their name.

    A feature's searched text is the values of the layer's searched attributes, a list's items
    each (not its JSON: '"]' must not match), joined, lower-case and without accents, as
    `search_text` is; every word must be in it.
    """
    # One attribute's values: a list's items, or the value itself (nothing when it is missing).
    value = sql.SQL(
        "array_to_string(ARRAY(SELECT jsonb_array_elements_text("
        "CASE jsonb_typeof(f.attributes -> %s) WHEN 'array' THEN f.attributes -> %s "
        "ELSE jsonb_build_array(f.attributes -> %s) END)), ' ')"
    )
    conditions = sql.SQL(" AND ").join(
        sql.SQL("searched.text LIKE f_unaccent(lower(%s))") for _ in words
    )
    branches, params = [], []
    for layer_id, names in sorted(searched_fields.items()):
        if not names:
            continue
        branches.append(
            sql.SQL(
                "UNION (SELECT f.id FROM layers_feature f, LATERAL (SELECT "
                "f_unaccent(lower(concat_ws(' ', {values}))) AS text) AS searched "
                "WHERE f.layer_id = %s AND {conditions} LIMIT %s)"
            ).format(values=sql.SQL(", ").join(value for _ in names), conditions=conditions)
        )
        params += [name for name in names for _ in range(3)]
        params += [layer_id, *(f"%{escape_like(word)}%" for word in words), max_candidates]
    return sql.SQL("\n").join(branches), params


def layer_searched_fields(layers) -> dict[int, list[str]]:
    """Return, for the layers that name some, the attributes search looks at beside the name.

    A layer names them in `metadata["search_fields"]` (a list of attribute names; the demo's
    2025 wards name `before_merger` and `huyen_cu`). Anything else there is ignored.
    """
    searched = {}
    for layer in layers:
        names = (layer.metadata or {}).get("search_fields")
        if isinstance(names, list):
            kept = [name for name in names if isinstance(name, str) and name]
            if kept:
                searched[layer.pk] = kept
    return searched


def search_features(
    *,
    layer_ids: list[int],
    text: str,
    limit: int,
    searched_fields: dict[int, list[str]] | None = None,
) -> list[SearchHit]:
    """Return the features of these layers whose name holds every word of `text`, best first.

    Names and the text are compared lower-case without accents ("dai noi" finds "Đại Nội"). An
    exact name ranks first, then a name that starts with the text, then by trigram similarity.
    The statement stops after SEARCH_STATEMENT_TIMEOUT_MS (TimedOut, a 503 for the API).
    """
    search = search_sql(
        layer_ids=layer_ids,
        text=text,
        limit=limit,
        max_candidates=settings.SEARCH_MAX_CANDIDATES,
        searched_fields=searched_fields,
    )
    if search is None:
        return []
    statement, params = search
    try:
        # The time limit is local to this transaction (SET LOCAL through set_config): nothing of
        # it outlives the search on the connection, as PgBouncer's transaction pooling requires.
        with transaction.atomic(using=read_connection.alias), read_connection.cursor() as cursor:
            cursor.execute(
                "SELECT set_config('statement_timeout', %s, true)",
                [f"{settings.SEARCH_STATEMENT_TIMEOUT_MS}ms"],
            )
            cursor.execute(statement, params)
            rows = cursor.fetchall()
    except OperationalError as error:
        if getattr(error.__cause__, "sqlstate", None) != QUERY_CANCELED:
            raise
        raise TimedOut(
            f"The search took longer than {settings.SEARCH_STATEMENT_TIMEOUT_MS} ms and was "
            "stopped. Use more or longer words, or name the layers (layers=…).",
            parameter="q",
        ) from None
    return [
        SearchHit(
            layer_id=row[0],
            id=row[1],
            name=row[2],
            score=round(float(row[3]), 4),
            centroid=(row[4], row[5]),
            bbox=(row[6], row[7], row[8], row[9]),
        )
        for row in rows
    ]


def tolerance_3857(*, zoom: float, tolerance_px: float) -> float:
    """Return a distance in Web Mercator units that is `tolerance_px` pixels at this zoom.

    Web Mercator units stretch with latitude exactly as the map does, so a pixel is the same
    number of units everywhere at one zoom: no latitude correction is needed.
    """
    return tolerance_px * WORLD_WIDTH_M / (TILE_SIZE_PX * 2**zoom)


def identify_radius_3857(*, zoom: float, tolerance_px: float) -> float:
    """Return identify's search radius in Web Mercator units: the pixels, within a bound."""
    return min(tolerance_3857(zoom=zoom, tolerance_px=tolerance_px), MAX_RADIUS_3857)


def identify_features(
    *,
    layer_ids: list[int],
    lon: float,
    lat: float,
    zoom: float,
    tolerance_px: float,
    limit: int,
    with_geometry: bool,
    max_vertices: int | None = None,
    times: dict[int, TimeFilter] | None = None,
) -> list[dict]:
    """Return the features of these layers within a few pixels of a point, as GeoJSON dicts.

    `times`: a time-enabled layer's `datetime` by layer id; of those layers, only the features
    whose time meets it (what the map draws at the time slider's day).

    They come in the order of `layer_ids` (the map's drawing order, top first), nearest first
    within a layer; each carries its layer's id, its distance in metres and its bbox. With
    geometries, those past `max_vertices` vertices in all come without theirs
    (`geometry_omitted`), so one click on a detailed coastline cannot ask for 30 MB.
    """
    if not layer_ids:
        return []
    if with_geometry:
        geometry = sql.SQL(
            "CASE WHEN hit.vertices_so_far <= %s THEN ST_AsGeoJSON(f.geom, 9)::json END"
        )
        omitted = sql.SQL("hit.vertices_so_far > %s")
        budget = [max_vertices if max_vertices is not None else 2**62] * 2
    else:
        geometry, omitted, budget = sql.SQL("NULL::json"), sql.SQL("false"), []
    timed, time_params = _times_sql(times or {})
    statement = sql.SQL(
        """
        WITH point AS (SELECT ST_Transform(ST_SetSRID(ST_MakePoint(%s, %s), 4326), 3857) AS geom),
        near AS (
            SELECT f.id, array_position(%s::bigint[], f.layer_id) AS layer_rank,
                   ST_Distance(f.geom_3857, point.geom) AS distance
            FROM layers_feature f, point
            WHERE f.layer_id = ANY(%s) AND ST_DWithin(f.geom_3857, point.geom, %s){timed}
            ORDER BY layer_rank, distance, f.id
            LIMIT %s
        ),
        hit AS (
            SELECT near.*, sum(ST_NPoints(f.geom)) OVER (
                       ORDER BY near.layer_rank, near.distance, near.id) AS vertices_so_far
            FROM near JOIN layers_feature f ON f.id = near.id
        )
        SELECT json_build_object(
            'type', 'Feature', 'id', f.id, 'layer_id', f.layer_id,
            'distance_m', round((hit.distance * cos(radians(%s)))::numeric, 1),
            'bbox', json_build_array(ST_XMin(f.geom), ST_YMin(f.geom), ST_XMax(f.geom), ST_YMax(f.geom)),
            'geometry', {geometry}, 'properties', f.attributes
        )::text, {omitted}
        FROM hit JOIN layers_feature f ON f.id = hit.id
        ORDER BY hit.layer_rank, hit.distance, hit.id
        """  # noqa: E501
    ).format(geometry=geometry, omitted=omitted, timed=timed)
    radius = identify_radius_3857(zoom=zoom, tolerance_px=tolerance_px)
    params = [lon, lat, layer_ids, layer_ids, radius, *time_params, limit, lat, *budget]
    features = []
    with read_connection.cursor() as cursor:
        cursor.execute(statement, params)
        for text, geometry_omitted in cursor.fetchall():
            feature = json.loads(text)
            if geometry_omitted:
                feature["geometry_omitted"] = True
            features.append(feature)
    return features


def _times_sql(times: dict[int, TimeFilter]) -> tuple[sql.Composable, list]:
    """Return the condition that keeps, of the time-enabled layers, the features of the time."""
    if not times:
        return sql.SQL(""), []
    branches = [sql.SQL("f.layer_id <> ALL(%s::bigint[])")]
    params: list = [list(times)]
    for layer_id, wanted in times.items():
        condition, values = time_condition_sql(wanted)
        branches.append(sql.SQL("(f.layer_id = %s::bigint AND {})").format(condition))
        params += [layer_id, *values]
    return sql.SQL(" AND ({})").format(sql.SQL(" OR ").join(branches)), params


def metres_per_pixel(*, zoom: float, lat: float) -> float:
    """Return how many metres on the ground one pixel of the map spans at this zoom and latitude."""
    return WORLD_WIDTH_M * math.cos(math.radians(lat)) / (TILE_SIZE_PX * 2**zoom)
