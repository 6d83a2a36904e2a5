"""GeoJSON of a layer's features, built by PostgreSQL: each row is one Feature's JSON text.

`ST_AsGeoJSON` writes the geometry and the JSONB attributes print themselves, so Python only joins
ready text. A page is fetched by ids first (`ARRAY(SELECT id … LIMIT … OFFSET …)`, an index-only
walk), then the chosen rows are turned into JSON, so a deep offset skips ids, not geometries.
In another CRS (`query.srid`, `query.swap_axes`) PostGIS transforms and flips the coordinates in
the same expression (`geometry_sql`): paging and the vertex budget are unchanged.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass

from django.contrib.gis.gdal import SpatialReference
from django.db import connection
from psycopg import sql

from layers.errors import TooLarge
from mapserver.db_router import read_connection

from .query import (
    FeatureQuery,
    feature_relation,
    flat_properties_sql,
    order_sql,
    properties_sql,
    where_sql,
)

# Nine decimals of a degree is under a millimetre: what is stored comes back.
COORDINATE_DIGITS = 9
# In a projected CRS (metres): three decimals are a millimetre.
PROJECTED_DIGITS = 3
# Rows fetched from the server at a time while streaming.
STREAM_ROWS = 500


@dataclass
class VertexBudget:
    """At most `max_vertices` vertices in one answer; `cut_short` tells that a page stopped early.

    A page stops before the feature that would pass the budget, so a client following `next`
    links still gets every feature; only a single feature over the budget is refused.
    """

    max_vertices: int
    cut_short: bool = False

    def refuse(self, *, feature_id: int, vertices: int) -> TooLarge:
        """Return the error for a feature that alone has more vertices than an answer carries."""
        return TooLarge(
            f"Feature {feature_id} has {vertices:,} vertices, more than the {self.max_vertices:,} "
            "one answer carries: draw it from the layer's vector tiles (/tiles/…), or download "
            "it whole with the layer's export (…/export.geojson)."
        )


@functools.cache
def coordinate_digits(srid: int) -> int:
    """Return the decimals written for a CRS: nine of a degree, three of a metre (a millimetre)."""
    return COORDINATE_DIGITS if SpatialReference(srid).geographic else PROJECTED_DIGITS


def geometry_sql(query: FeatureQuery, *, alias: str = "f") -> sql.Composable:
    """Return the SQL of a feature's geometry in the query's output CRS and axis order.

    PostGIS transforms (its own PROJ, the same one the bbox-crs test uses), then flips the axes
    when the CRS puts latitude or northing first; 3857 is the stored copy, not a transformation.
    """
    column = sql.SQL("{alias}.geom").format(alias=sql.SQL(alias))
    if query.srid == 3857:
        geometry = sql.SQL("{alias}.geom_3857").format(alias=sql.SQL(alias))
    elif query.srid != 4326:
        geometry = sql.SQL("ST_Transform({column}, {srid})").format(
            column=column, srid=sql.Literal(int(query.srid))
        )
    else:
        geometry = column
    if query.swap_axes:
        geometry = sql.SQL("ST_FlipCoordinates({})").format(geometry)
    return geometry


def crs_member(srid: int) -> dict:
    """Return the GeoJSON 2008 `crs` member naming an EPSG CRS, as GDAL writes and reads it."""
    return {"type": "name", "properties": {"name": f"urn:ogc:def:crs:EPSG::{int(srid)}"}}


def _feature_json_sql(
    query: FeatureQuery, *, columns: list[str] | None = None
) -> tuple[sql.Composable, list]:
    """Return the SQL expression of one feature's GeoJSON text (over the features `f`); with
    `columns`, its properties are those columns as a flat table's row (`flat_properties_sql`)."""
    if columns is None:
        properties, params = properties_sql(query)
    else:
        properties, params = flat_properties_sql(columns)
    # Options 0: no `crs` member in each geometry; the answer names its CRS once (Content-Crs,
    # or the collection's `crs`).
    options = sql.SQL("") if query.srid == 4326 else sql.SQL(", 0")
    expression = sql.SQL(
        """'{{"type":"Feature","id":' || f.id || ',"version":' || f.version || ',"geometry":'"""
        """ || ST_AsGeoJSON({geometry}, {digits}{options}) || ',"properties":' """
        """|| ({properties})::text || '}}'"""
    ).format(
        geometry=geometry_sql(query),
        digits=sql.Literal(coordinate_digits(query.srid)),
        options=options,
        properties=properties,
    )
    return expression, params


def feature_count(query: FeatureQuery) -> int:
    """Return how many of the layer's features match the query."""
    where, params = where_sql(query)
    statement = sql.SQL("SELECT count(*) FROM {features} WHERE {where}").format(
        features=feature_relation(query), where=where
    )
    with read_connection.cursor() as cursor:
        cursor.execute(statement, params)
        return cursor.fetchone()[0]


def rows_sql(
    query: FeatureQuery,
    *,
    select: sql.Composable,
    select_params: list,
    limit: int | None,
    offset: int = 0,
) -> tuple[sql.Composable, list]:
    """Return the SQL listing `select` (over the features `f`) for a page of matches, in order.

    A `limit` of None means every match.
    """
    where, where_params = where_sql(query)
    order, order_params = order_sql(query)
    statement = sql.SQL(
        "SELECT {select} FROM unnest(ARRAY("
        "SELECT f.id FROM {features} WHERE {where} ORDER BY {order} LIMIT %s OFFSET %s"
        ")) WITH ORDINALITY AS page(id, n) JOIN {page_features} ON f.id = page.id"
        " AND f.layer_id = {layer} ORDER BY page.n"
    ).format(
        # The layer in the join too: each partition's key is (layer, id), so a join on the id
        # alone reads every layer's features (a page took seconds beside another large layer).
        layer=sql.SQL("{}::bigint").format(sql.Literal(int(query.layer_id))),
        select=select,
        features=feature_relation(query),
        page_features=feature_relation(query, of_page=True),
        where=where,
        order=order,
    )
    return statement, [*select_params, *where_params, *order_params, limit, offset]


def page_sql(
    query: FeatureQuery, *, limit: int | None, offset: int, columns: list[str] | None = None
) -> tuple[sql.Composable, list]:
    """Return the SQL that lists one page of matching features as GeoJSON texts, in order (with
    `columns`, their properties as a flat table's rows)."""
    feature, feature_params = _feature_json_sql(query, columns=columns)
    return rows_sql(query, select=feature, select_params=feature_params, limit=limit, offset=offset)


def budget_page_sql(
    query: FeatureQuery, *, limit: int | None, offset: int, budget: VertexBudget
) -> tuple[sql.Composable, list]:
    """Return the SQL of a page that stops before its vertices pass the budget.

    Each row: the feature's GeoJSON text, its id, the vertices of the page up to it, and how
    many features the page would have held. The first feature always comes (the caller refuses
    it if it alone is over), so a page is never empty while features remain.
    """
    feature, feature_params = _feature_json_sql(query)
    where, where_params = where_sql(query)
    order, order_params = order_sql(query)
    statement = sql.SQL(
        "SELECT {feature}, f.id, page.vertices_so_far, page.page_size FROM ("
        " SELECT page.id, page.n, count(*) OVER () AS page_size,"
        " sum(ST_NPoints(g.geom)) OVER (ORDER BY page.n) AS vertices_so_far"
        " FROM unnest(ARRAY("
        "SELECT f.id FROM {features} WHERE {where} ORDER BY {order} LIMIT %s OFFSET %s"
        ")) WITH ORDINALITY AS page(id, n) JOIN {page_features_g} ON g.id = page.id"
        " AND g.layer_id = {layer}"
        ") AS page JOIN {page_features} ON f.id = page.id AND f.layer_id = {layer}"
        " WHERE page.vertices_so_far <= %s OR page.n = 1 ORDER BY page.n"
    ).format(
        layer=sql.SQL("{}::bigint").format(sql.Literal(int(query.layer_id))),  # as in rows_sql
        feature=feature,
        features=feature_relation(query),
        page_features_g=feature_relation(query, alias="g", of_page=True),
        page_features=feature_relation(query, of_page=True),
        where=where,
        order=order,
    )
    params = [*feature_params, *where_params, *order_params, limit, offset, budget.max_vertices]
    return statement, params


def _budget_texts(rows: list[tuple], budget: VertexBudget, *, first: bool) -> list[str]:
    """Return the texts of budgeted rows, refusing a first feature that is over on its own."""
    if first and rows and rows[0][2] > budget.max_vertices:
        raise budget.refuse(feature_id=rows[0][1], vertices=rows[0][2])
    return [row[0] for row in rows]


def feature_page(
    query: FeatureQuery, *, limit: int, offset: int, budget: VertexBudget | None = None
) -> list[str]:
    """Return one page of matching features as GeoJSON texts (within the budget, if given)."""
    if budget is None:
        statement, params = page_sql(query, limit=limit, offset=offset)
    else:
        statement, params = budget_page_sql(query, limit=limit, offset=offset, budget=budget)
    with read_connection.cursor() as cursor:
        cursor.execute(statement, params)
        rows = cursor.fetchall()
    if budget is None:
        return [row[0] for row in rows]
    budget.cut_short = bool(rows) and len(rows) < rows[0][3]
    return _budget_texts(rows, budget, first=True)


def feature_page_stream(
    query: FeatureQuery,
    *,
    limit: int | None,
    offset: int,
    rows: int = STREAM_ROWS,
    budget: VertexBudget | None = None,
    columns: list[str] | None = None,
) -> Iterator[list[str]]:
    """Yield one page of matching features (all if `limit` is None) as GeoJSON texts, in batches
    (within the budget, if given; with `columns`, properties as a flat table's rows)."""
    if budget is None:
        statement, params = page_sql(query, limit=limit, offset=offset, columns=columns)
        for batch in stream_rows(statement, params, rows=rows):
            yield [row[0] for row in batch]
        return
    if columns is not None:
        raise ValueError("A budgeted page keeps the features' own properties.")
    statement, params = budget_page_sql(query, limit=limit, offset=offset, budget=budget)
    returned, page_size = 0, 0
    for batch in stream_rows(statement, params, rows=rows):
        texts = _budget_texts(batch, budget, first=returned == 0)
        page_size = batch[0][3]
        returned += len(texts)
        yield texts
    budget.cut_short = returned < page_size


def stream_rows(
    statement: sql.Composable, params: list, *, rows: int = STREAM_ROWS
) -> Iterator[list[tuple]]:
    """Yield the rows of a query a few hundred at a time.

    psycopg's `stream` reads the result as the server sends it, so a large answer is never held
    whole in memory, and no transaction or server-side cursor is needed.
    """
    read_connection.ensure_connection()
    with read_connection.connection.cursor() as cursor:
        batch: list[tuple] = []
        for row in cursor.stream(statement, params, size=rows):
            batch.append(row)
            if len(batch) >= rows:
                yield batch
                batch = []
        if batch:
            yield batch


def feature_version(*, layer_id: int, feature_id: int) -> int | None:
    """Return the version of a feature (its ETag's), None if there is no such feature."""
    with read_connection.cursor() as cursor:
        cursor.execute(
            "SELECT version FROM layers_feature WHERE layer_id = %s AND id = %s",
            [layer_id, feature_id],
        )
        row = cursor.fetchone()
    return row[0] if row else None


def feature_get(
    query: FeatureQuery,
    *,
    feature_id: int,
    budget: VertexBudget | None = None,
    primary: bool = False,
) -> str | None:
    """Return the GeoJSON text of one feature of the query's layer, or None.

    With a budget, a feature with more vertices is refused before its GeoJSON is written.
    `primary`: read on the primary database, not a replica (what this session just wrote).
    """
    feature, params = _feature_json_sql(query)
    statement = sql.SQL(
        "SELECT CASE WHEN ST_NPoints(f.geom) <= %s THEN {feature} END, ST_NPoints(f.geom)"
        " FROM layers_feature f WHERE f.layer_id = %s AND f.id = %s"
    )
    maximum = budget.max_vertices if budget is not None else 2**62
    with (connection if primary else read_connection).cursor() as cursor:
        cursor.execute(
            statement.format(feature=feature), [maximum, *params, query.layer_id, feature_id]
        )
        row = cursor.fetchone()
    if row is None:
        return None
    if row[0] is None:
        raise budget.refuse(feature_id=feature_id, vertices=row[1])
    return row[0]
