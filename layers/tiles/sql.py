"""The tile SQL: one statement per tile over the stored EPSG:3857 column, built once per shape.

Every value is a bound parameter; table and column names go through `psycopg.sql.Identifier`.
A tile `as_of` an instant reads the layer's rows valid then instead of the table (the same
statement otherwise, so it keeps the same generalisation and budget).
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from functools import lru_cache

from psycopg import sql

from layers.features.query import as_of_rows_sql
from layers.models import Feature, Layer, TileJobChunk

from .grid import TileCoord, tile_size_m


@dataclass(frozen=True)
class TileSpec:
    """What the tile query needs to know about a layer."""

    layer_id: int
    name: str
    fields: tuple[str, ...] = ()
    geometry_type: str = Layer.GeometryType.MIXED
    as_of: datetime.datetime | None = None  # None: the layer as it is
    # A CQL2 filter's condition over `f` (layers/features/cql2.py, placeholders `%(cql_N)s`)
    # and its values: only matching features are drawn. Empty: all of them.
    condition: str = ""
    condition_params: tuple = ()


class TileSQL:
    """The tile query and its generalisation settings; change them by subclassing.

    `ST_AsMVTGeom` snaps geometry to the tile's grid of `extent` units; MapLibre draws a tile over
    `screen_px` CSS pixels, so one screen pixel is `extent / screen_px` units.
    """

    extent = 4096
    # Geometry is kept this far past the tile's edge (extent units; 64 = 8 screen pixels), so that
    # lines and polygon outlines show no seams or cut-off line caps at tile edges.
    buffer = 64
    screen_px = 512
    # Lines and polygons whose bounding box is smaller than this in both directions are not drawn.
    min_size_px = 1.0
    # Below this zoom, points are thinned to one per cell of this many screen pixels.
    thin_points_below_zoom = 14
    point_cell_px = 1.0
    # Past this many features the smallest are dropped, so a dense tile stays small and fast.
    max_features = 10000

    def margin_m(self, z: int) -> float:
        """Return the buffer around a tile at zoom z, in EPSG:3857 metres."""
        return tile_size_m(z) * self.buffer / self.extent

    def params(self, spec: TileSpec, coord: TileCoord) -> dict:
        """Return the bound values of the tile query for one tile."""
        pixel_m = tile_size_m(coord.z) / self.screen_px
        values = {
            "z": coord.z,
            "x": coord.x,
            "y": coord.y,
            "layer_id": spec.layer_id,
            "name": spec.name,
            "extent": self.extent,
            "buffer": self.buffer,
            "margin": self.buffer / self.extent,
            "min_size_m": pixel_m * self.min_size_px,
            # Douglas-Peucker at half an extent unit: what the tile's grid could not show anyway.
            "simplify_m": tile_size_m(coord.z) / self.extent / 2,
            "cell": self.extent / self.screen_px * self.point_cell_px,
            "max_features": self.max_features,
        }
        values.update({f"field_{i}": name for i, name in enumerate(spec.fields)})
        if spec.as_of is not None:
            values["as_of"] = spec.as_of
        values.update({f"cql_{i}": value for i, value in enumerate(spec.condition_params)})
        return values

    def query(self, spec: TileSpec, coord: TileCoord) -> str:
        """Return the SQL text of the tile query for this layer shape and zoom."""
        thin = spec.geometry_type == Layer.GeometryType.POINT and (
            coord.z < self.thin_points_below_zoom
        )
        return _tile_query(
            spec.geometry_type,
            len(spec.fields),
            thin,
            as_of=spec.as_of is not None,
            condition=spec.condition,
        )

    def counted_query(self, spec: TileSpec, coord: TileCoord) -> str:
        """Return the tile query that also returns how many features the tile holds."""
        thin = spec.geometry_type == Layer.GeometryType.POINT and (
            coord.z < self.thin_points_below_zoom
        )
        return _tile_query(
            spec.geometry_type,
            len(spec.fields),
            thin,
            counted=True,
            as_of=spec.as_of is not None,
            condition=spec.condition,
        )


def _attributes(field_count: int) -> sql.Composable:
    """Return a jsonb object of the tile fields: ST_AsMVT turns its keys into typed attributes."""
    pairs = [
        sql.SQL("{key}::text, p.attributes -> {key}::text").format(
            key=sql.Placeholder(f"field_{i}")
        )
        for i in range(field_count)
    ]
    return sql.SQL("jsonb_build_object({})").format(sql.SQL(", ").join(pairs))


@lru_cache(maxsize=128)
def _tile_query(
    geometry_type: str,
    field_count: int,
    thin_points: bool,
    *,
    counted: bool = False,
    as_of: bool = False,
    condition: str = "",
) -> str:
    feature = Feature._meta
    layer = Layer._meta
    is_point = geometry_type == Layer.GeometryType.POINT
    size_test = sql.SQL(
        "(ST_XMax(f.geom_3857) - ST_XMin(f.geom_3857) >= %(min_size_m)s"
        " OR ST_YMax(f.geom_3857) - ST_YMin(f.geom_3857) >= %(min_size_m)s{points})"
    ).format(
        points=sql.SQL(" OR ST_Dimension(f.geom_3857) = 0")
        if geometry_type == Layer.GeometryType.MIXED
        else sql.SQL("")
    )
    # Clip before simplifying, so a large polygon is only simplified where it meets the tile.
    geometry = (
        sql.SQL("p.geom")
        if is_point
        else sql.SQL("ST_Simplify(ST_ClipByBox2D(p.geom, b.area), %(simplify_m)s, true)")
    )
    # ST_AsMVT leaves out rows whose geometry is NULL (what ST_AsMVTGeom returns for a feature
    # that does not show), so only thinning filters them: a filter here would make PostgreSQL
    # run ST_AsMVTGeom twice per feature, once in the filter and once for the output.
    thinned = (
        sql.SQL(
            "SELECT DISTINCT ON (floor(ST_XMin(geom) / %(cell)s), floor(ST_YMin(geom) / %(cell)s))"
            " * FROM shaped WHERE geom IS NOT NULL"
            " ORDER BY floor(ST_XMin(geom) / %(cell)s), floor(ST_YMin(geom) / %(cell)s), id"
        )
        if thin_points
        else sql.SQL("SELECT * FROM shaped")
    )
    query = sql.SQL(
        """
        WITH bounds AS (
            SELECT ST_TileEnvelope(%(z)s, %(x)s, %(y)s) AS tile,
                   ST_TileEnvelope(%(z)s, %(x)s, %(y)s, margin => %(margin)s) AS area
        ),
        -- Every tile is sorted, even under the limit: skipping the sort there measured no faster.
        picked AS (
            SELECT f.{id} AS id, f.{geom} AS geom, f.{attributes} AS attributes
            FROM {feature_table} AS f, bounds
            WHERE f.{layer_fk} = %(layer_id)s AND f.{geom} && bounds.area AND {size_test}{condition}
            ORDER BY greatest(ST_XMax(f.{geom}) - ST_XMin(f.{geom}),
                              ST_YMax(f.{geom}) - ST_YMin(f.{geom})) DESC, f.{id}
            LIMIT %(max_features)s
        ),
        shaped AS (
            SELECT p.id,
                   ST_AsMVTGeom({geometry}, b.tile, %(extent)s, %(buffer)s, true) AS geom,
                   {attributes_object} AS attributes
            FROM picked AS p, bounds AS b
        ),
        kept AS ({thinned})
        SELECT (SELECT {version} FROM {layer_table} WHERE {layer_pk} = %(layer_id)s),
               (SELECT ST_AsMVT(kept.*, %(name)s, %(extent)s, 'geom', 'id') FROM kept){count}
        """
    ).format(
        id=sql.Identifier(feature.pk.column),
        geom=sql.Identifier(feature.get_field("geom_3857").column),
        attributes=sql.Identifier(feature.get_field("attributes").column),
        feature_table=_feature_rows(as_of=as_of),
        layer_fk=sql.Identifier(feature.get_field("layer").column),
        size_test=sql.SQL("true") if is_point else size_test,
        # Our own compiled SQL (every value a placeholder), hence text here.
        condition=sql.SQL(" AND ({})").format(sql.SQL(condition)) if condition else sql.SQL(""),
        geometry=geometry,
        attributes_object=_attributes(field_count),
        thinned=thinned,
        # Only for a tile over the byte budget (render.py): a second reader of `kept` would make
        # PostgreSQL store it for every tile.
        count=sql.SQL(", (SELECT count(geom) FROM kept)") if counted else sql.SQL(""),
        version=sql.Identifier(layer.get_field("version").column),
        layer_table=sql.Identifier(layer.db_table),
        layer_pk=sql.Identifier(layer.pk.column),
    )
    return query.as_string(None)


def _feature_rows(*, as_of: bool) -> sql.Composable:
    """Return what a tile reads its features from: the table, or the rows valid `%(as_of)s`.

    As of an instant, the tile's area is tested inside the history's UNION ALL as well: the
    test against `bounds` outside it would not reach the branches' GiST indexes, and every row
    of the layer would be read (PostgreSQL does not flatten a UNION ALL whose branches have a
    WHERE).
    """
    if not as_of:
        return sql.Identifier(Feature._meta.db_table)
    area = sql.SQL("geom_3857 && ST_TileEnvelope(%(z)s, %(x)s, %(y)s, margin => %(margin)s)")
    rows = as_of_rows_sql(
        layer=sql.Placeholder("layer_id"), instant=sql.Placeholder("as_of"), condition=area
    )
    return sql.SQL("({})").format(rows)


# A seed plan is worked out in two temporary tables of the planning transaction (dropped at its
# end): the layer's geometry cut into small pieces, and the planned tiles zoom by zoom. So the plan
# lives in PostgreSQL, never as a list of candidate tiles in a worker's memory.
PLAN_PIECES_TABLE = "seed_plan_pieces"
PLAN_TILES_TABLE = "seed_plan_tiles"


@lru_cache(maxsize=1)
def plan_setup_queries() -> tuple[str, ...]:
    """Return the SQL that fills the plan's tables: the layer's geometry in small pieces."""
    feature = Feature._meta
    pieces = sql.Identifier(PLAN_PIECES_TABLE)
    tiles = sql.Identifier(PLAN_TILES_TABLE)
    geom = sql.Identifier(feature.get_field("geom_3857").column)
    statements = [
        sql.SQL("DROP TABLE IF EXISTS {pieces}, {tiles}").format(pieces=pieces, tiles=tiles),
        # A world polygon meets every tile's box; cut into pieces of a few hundred vertices, each
        # test of a tile is an index probe and a small exact intersection.
        sql.SQL(
            "CREATE TEMPORARY TABLE {pieces} ON COMMIT DROP AS"
            " SELECT ST_Subdivide(f.{geom}, %(max_vertices)s) AS geom FROM {feature_table} AS f"
            " WHERE f.{layer_fk} = %(layer_id)s AND NOT ST_IsEmpty(f.{geom})"
        ).format(
            pieces=pieces,
            geom=geom,
            feature_table=sql.Identifier(feature.db_table),
            layer_fk=sql.Identifier(feature.get_field("layer").column),
        ),
        sql.SQL("CREATE INDEX ON {pieces} USING gist (geom)").format(pieces=pieces),
        sql.SQL("ANALYZE {pieces}").format(pieces=pieces),
        sql.SQL(
            "CREATE TEMPORARY TABLE {tiles} (z smallint, x integer, y integer,"
            " PRIMARY KEY (z, x, y)) ON COMMIT DROP"
        ).format(tiles=tiles),
    ]
    return tuple(statement.as_string(None) for statement in statements)


@lru_cache(maxsize=2)
def plan_zoom_query(*, first: bool) -> str:
    """Return the SQL that adds the planned tiles of zoom `z`: those the geometry intersects.

    The candidates are the children of the tiles kept at `z - 1` (z0's one tile when `first`),
    so a zoom never looks at more than four times the tiles of the zoom above it. A tile is kept
    when a piece intersects it grown by the render buffer (`margin`), as the tile query reads.
    """
    tiles = sql.Identifier(PLAN_TILES_TABLE)
    candidates = (
        sql.SQL("SELECT 0 AS x, 0 AS y")
        if first
        else sql.SQL(
            "SELECT t.x * 2 + d.dx AS x, t.y * 2 + d.dy AS y FROM {tiles} AS t"
            " CROSS JOIN (VALUES (0, 0), (1, 0), (0, 1), (1, 1)) AS d(dx, dy)"
            " WHERE t.z = %(z)s - 1"
        ).format(tiles=tiles)
    )
    return (
        sql.SQL(
            """
            INSERT INTO {tiles} (z, x, y)
            SELECT %(z)s, c.x, c.y FROM ({candidates}) AS c
            WHERE EXISTS (
                SELECT 1 FROM {pieces} AS p
                WHERE ST_Intersects(p.geom, ST_TileEnvelope(%(z)s, c.x, c.y, margin => %(margin)s))
            )
            """
        )
        .format(tiles=tiles, candidates=candidates, pieces=sql.Identifier(PLAN_PIECES_TABLE))
        .as_string(None)
    )


@lru_cache(maxsize=1)
def plan_chunks_query() -> str:
    """Return the SQL that writes the planned tiles of a zoom range as a job's pending chunks."""
    chunk = TileJobChunk._meta
    column = {name: sql.Identifier(chunk.get_field(name).column) for name in (
        "job", "number", "tiles", "status", "worker", "attempts"
    )}  # fmt: skip
    return (
        sql.SQL(
            """
            INSERT INTO {chunk_table} ({job}, {number}, {tiles}, {status}, {worker}, {attempts})
            SELECT %(job_id)s, (t.n - 1) / %(chunk_tiles)s,
                   jsonb_agg(jsonb_build_array(t.z, t.x, t.y) ORDER BY t.n), %(status)s, '', 0
            FROM (
                SELECT z, x, y, row_number() OVER (ORDER BY z, x, y) AS n FROM {plan_tiles}
                WHERE z BETWEEN %(min_zoom)s AND %(max_zoom)s
            ) AS t
            GROUP BY (t.n - 1) / %(chunk_tiles)s
            """
        )
        .format(
            chunk_table=sql.Identifier(chunk.db_table),
            plan_tiles=sql.Identifier(PLAN_TILES_TABLE),
            **column,
        )
        .as_string(None)
    )


@lru_cache(maxsize=1)
def plan_tiles_query() -> str:
    """Return the SQL that reads the planned tiles of a zoom range, in rendering order."""
    return (
        sql.SQL(
            "SELECT z, x, y FROM {plan_tiles} WHERE z BETWEEN %(min_zoom)s AND %(max_zoom)s"
            " ORDER BY z, x, y"
        )
        .format(plan_tiles=sql.Identifier(PLAN_TILES_TABLE))
        .as_string(None)
    )


@lru_cache(maxsize=1)
def plan_teardown_query() -> str:
    """Return the SQL that drops the plan's tables (a savepoint does not run ON COMMIT DROP)."""
    return (
        sql.SQL("DROP TABLE IF EXISTS {pieces}, {tiles}")
        .format(pieces=sql.Identifier(PLAN_PIECES_TABLE), tiles=sql.Identifier(PLAN_TILES_TABLE))
        .as_string(None)
    )


@lru_cache(maxsize=1)
def extent_query() -> str:
    """Return the SQL for the EPSG:3857 box of a layer's features."""
    feature = Feature._meta
    geom = sql.Identifier(feature.get_field("geom_3857").column)
    return (
        sql.SQL(
            "SELECT ST_XMin(box), ST_YMin(box), ST_XMax(box), ST_YMax(box)"
            " FROM (SELECT ST_Extent({geom}) AS box FROM {feature_table}"
            " WHERE {layer_fk} = %(layer_id)s) AS extent"
        )
        .format(
            geom=geom,
            feature_table=sql.Identifier(feature.db_table),
            layer_fk=sql.Identifier(feature.get_field("layer").column),
        )
        .as_string(None)
    )
