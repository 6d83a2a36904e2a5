"""GeoJSON of a layer's features, built by PostgreSQL: each row is one Feature's JSON text.

`ST_AsGeoJSON` writes the geometry and the JSONB attributes print themselves, so Python only joins
ready text. A page is fetched by ids first (`ARRAY(SELECT id … LIMIT … OFFSET …)`, an index-only
walk), then the chosen rows are turned into JSON, so a deep offset skips ids, not geometries.
"""

from __future__ import annotations

from collections.abc import Iterator

from django.db import connection
from psycopg import sql

from .query import FeatureQuery, order_sql, properties_sql, where_sql

# Nine decimals of a degree is under a millimetre: what is stored comes back.
COORDINATE_DIGITS = 9
# Rows fetched from the server at a time while streaming.
STREAM_ROWS = 500


def _feature_json_sql(query: FeatureQuery) -> tuple[sql.Composable, list]:
    """Return the SQL expression of one feature's GeoJSON text (over `layers_feature f`)."""
    properties, params = properties_sql(query)
    expression = sql.SQL(
        """'{{"type":"Feature","id":' || f.id || ',"geometry":'"""
        """ || ST_AsGeoJSON(f.geom, {digits}) || ',"properties":' || ({properties})::text || '}}'"""
    ).format(digits=sql.Literal(COORDINATE_DIGITS), properties=properties)
    return expression, params


def feature_count(query: FeatureQuery) -> int:
    """Return how many of the layer's features match the query."""
    where, params = where_sql(query)
    statement = sql.SQL("SELECT count(*) FROM layers_feature f WHERE {where}").format(where=where)
    with connection.cursor() as cursor:
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
    """Return the SQL listing `select` (over `layers_feature f`) for a page of matches, in order.

    A `limit` of None means every match.
    """
    where, where_params = where_sql(query)
    order, order_params = order_sql(query)
    statement = sql.SQL(
        "SELECT {select} FROM unnest(ARRAY("
        "SELECT f.id FROM layers_feature f WHERE {where} ORDER BY {order} LIMIT %s OFFSET %s"
        ")) WITH ORDINALITY AS page(id, n) JOIN layers_feature f ON f.id = page.id ORDER BY page.n"
    ).format(select=select, where=where, order=order)
    return statement, [*select_params, *where_params, *order_params, limit, offset]


def page_sql(query: FeatureQuery, *, limit: int | None, offset: int) -> tuple[sql.Composable, list]:
    """Return the SQL that lists one page of matching features as GeoJSON texts, in order."""
    feature, feature_params = _feature_json_sql(query)
    return rows_sql(query, select=feature, select_params=feature_params, limit=limit, offset=offset)


def feature_page(query: FeatureQuery, *, limit: int, offset: int) -> list[str]:
    """Return one page of matching features as GeoJSON texts."""
    statement, params = page_sql(query, limit=limit, offset=offset)
    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        return [row[0] for row in cursor.fetchall()]


def feature_page_stream(
    query: FeatureQuery, *, limit: int | None, offset: int, rows: int = STREAM_ROWS
) -> Iterator[list[str]]:
    """Yield one page of matching features (all if `limit` is None) as GeoJSON texts, in batches."""
    statement, params = page_sql(query, limit=limit, offset=offset)
    for batch in stream_rows(statement, params, rows=rows):
        yield [row[0] for row in batch]


def stream_rows(
    statement: sql.Composable, params: list, *, rows: int = STREAM_ROWS
) -> Iterator[list[tuple]]:
    """Yield the rows of a query a few hundred at a time.

    psycopg's `stream` reads the result as the server sends it, so a large answer is never held
    whole in memory, and no transaction or server-side cursor is needed.
    """
    connection.ensure_connection()
    with connection.connection.cursor() as cursor:
        batch: list[tuple] = []
        for row in cursor.stream(statement, params, size=rows):
            batch.append(row)
            if len(batch) >= rows:
                yield batch
                batch = []
        if batch:
            yield batch


def feature_get(query: FeatureQuery, *, feature_id: int) -> str | None:
    """Return the GeoJSON text of one feature of the query's layer, or None."""
    feature, params = _feature_json_sql(query)
    statement = sql.SQL(
        "SELECT {feature} FROM layers_feature f WHERE f.layer_id = %s AND f.id = %s"
    )
    with connection.cursor() as cursor:
        cursor.execute(statement.format(feature=feature), [*params, query.layer_id, feature_id])
        row = cursor.fetchone()
    return row[0] if row else None
