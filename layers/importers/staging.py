"""The database side of an import: staging tables, checks and repairs in SQL, and the one write.

    COPY batches ─► import_staging_<job> (raw WKB, typed attribute columns, feature number)
                ─► import_prepared_<job> (in 4326, 2D, linear, repaired, attributes as JSONB)
                ─► the layer, in the caller's transaction: a fresh table swapped in for its
                   partition (create, replace; layers/partitions.py), rows added (append), or
                   only the rows that changed by a key (upsert, a layer source's sync)

Whatever a file holds comes out as something every endpoint can serve (GeoJSON, MVT, GeoPackage):
curves are linearised, Z and M dropped, empty parts of multi-geometries removed, invalid geometries
repaired. What cannot be served is skipped with its reason, and every change is counted.

Both staging tables are UNLOGGED ordinary tables, not TEMP ones: each step runs in its own
transaction, and behind PgBouncer in transaction pooling mode the next transaction may run on
another server session, which would not see a TEMP table. `drop()` removes them at the end of the
run, and the jobs sweeper (layers/jobs.py) for a worker that died. They are never read by anything
but the import. Identifiers go through psycopg's `sql.Identifier`, values are bound parameters.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.csv as pacsv
from django.db import connection, transaction
from psycopg import sql

from ..partitions import FreshPartition, in_sessions, sessions_for
from .crs import WGS84
from .schema import SQL_TYPES, Column

MAX_PAIRS_PER_CALL = 50  # jsonb_build_object takes at most 100 arguments

# Types GeoJSON, MVT and most clients cannot hold; ST_CurveToLine turns them into their linear kin.
CURVED_TYPES = (
    "CIRCULARSTRING",
    "COMPOUNDCURVE",
    "CURVEPOLYGON",
    "MULTICURVE",
    "MULTISURFACE",
)
# Surfaces of triangles and patches (3D models): no linear equivalent we could serve.
UNSUPPORTED_TYPES = ("TIN", "TRIANGLE", "POLYHEDRALSURFACE")

#: Why a feature was skipped, by the code `prepare` records.
SKIP_REASONS = {
    "missing": "no geometry (empty or missing)",
    "unsupported": "a triangulated or polyhedral surface (TIN), which has no 2D equivalent",
    "zero_length": "a line of zero length (all its points are the same)",
    "zero_area": "a polygon of zero area (its points are on one line or the same)",
    "unrepairable": "an invalid geometry that could not be repaired",
}


@dataclass
class PreparedStats:
    """What the prepared data holds, before it reaches the layer."""

    total: int = 0
    skipped: int = 0
    repaired: int = 0
    dropped_zm: int = 0
    linearised: int = 0
    #: Features whose multi-geometry lost empty parts, and how many parts in all.
    emptied_features: int = 0
    empty_parts: int = 0
    #: Skipped features by reason (keys of SKIP_REASONS).
    skipped_by_reason: dict[str, int] = field(default_factory=dict)
    extent: tuple[float, float, float, float] | None = None
    #: (dimension 0/1/2, is multi-part) → count; collections under dimension -1.
    kinds: dict[tuple[int, bool], int] = field(default_factory=dict)

    @property
    def importable(self) -> int:
        return self.total - self.skipped


def _run(query: sql.Composable, params: list | None = None) -> list[tuple]:
    """Execute one statement in its own transaction (a savepoint inside an outer one)."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(query.as_string(connection.connection), params)
        return cursor.fetchall() if cursor.description else []


class Staging:
    """The two temporary tables of one import job."""

    def __init__(self, *, key: str, columns: list[Column]) -> None:
        self.key = key
        self.columns = columns
        self.staging = sql.Identifier(f"import_staging_{key}")
        self.prepared = sql.Identifier(f"import_prepared_{key}")

    def _column(self, index: int) -> sql.Identifier:
        return sql.Identifier(f"c{index}")

    def create(self) -> None:
        """Create the empty staging table."""
        definitions = [sql.SQL("n bigint"), sql.SQL("geom geometry")] + [
            sql.SQL("{} {}").format(self._column(i), sql.SQL(SQL_TYPES[column.type]))
            for i, column in enumerate(self.columns)
        ]
        self.drop()
        _run(
            sql.SQL("CREATE UNLOGGED TABLE {} ({})").format(
                self.staging, sql.SQL(", ").join(definitions)
            )
        )

    def copy(self, table: pa.Table) -> None:
        """Append a batch (feature number, hex WKB, attributes) with COPY."""
        buffer = io.BytesIO()
        pacsv.write_csv(table, buffer, write_options=pacsv.WriteOptions(include_header=False))
        query = sql.SQL("COPY {} FROM STDIN (FORMAT csv)").format(self.staging)
        with (
            transaction.atomic(),
            connection.cursor() as cursor,
            cursor.copy(query.as_string(connection.connection)) as copy,
        ):
            copy.write(buffer.getbuffer())

    def _attributes_expression(self) -> tuple[sql.Composable, list]:
        if not self.columns:
            return sql.SQL("'{}'::jsonb"), []
        calls, params = [], []
        for start in range(0, len(self.columns), MAX_PAIRS_PER_CALL):
            pairs = []
            for offset, column in enumerate(self.columns[start : start + MAX_PAIRS_PER_CALL]):
                pairs.append(sql.SQL("%s::text, {}").format(self._column(start + offset)))
                params.append(column.name)
            calls.append(sql.SQL("jsonb_build_object({})").format(sql.SQL(", ").join(pairs)))
        return sql.SQL(" || ").join(calls), params

    def prepare(self, *, srid: int, name_column: str, rows: int = 0) -> PreparedStats:
        """Linearise, drop Z/M, transform to 4326, repair; return what came out.

        A large file (`rows` staged features) is prepared on several sessions at once, each
        taking its share of the feature numbers (the tables are not TEMP, so all see them).
        """
        attributes, params = self._attributes_expression()
        index = next((i for i, c in enumerate(self.columns) if c.name == name_column), None)
        name = (
            sql.SQL("coalesce({}::text, '')").format(self._column(index))
            if index is not None
            else sql.SQL("''")
        )
        flat = self._flat(sql.SQL("geom"), srid)
        # Each level computes once what the levels above read several times. PostgreSQL would
        # otherwise pull the subqueries up and copy an expression into every place that reads its
        # column (the flattened geometry into each validity, emptiness and dimension test): the
        # `OFFSET 0` fences keep them apart, and cut this statement's time by about 13 (200,000
        # polygons: 9.5 s of CPU, then 0.7 s).
        query = sql.SQL(
            """
            SELECT n, name, attrs, had_zm, curved, empty_parts, was_valid,
                   CASE WHEN skip IS NOT NULL THEN skip
                        WHEN fixed IS NULL OR ST_IsEmpty(fixed) THEN
                            CASE WHEN ST_Dimension(g) = 1 AND ST_Length(g) = 0 THEN 'zero_length'
                                 WHEN ST_Dimension(g) = 2 AND ST_Area(g) = 0 THEN 'zero_area'
                                 ELSE 'unrepairable' END
                   END AS skip,
                   CASE WHEN skip IS NOT NULL OR fixed IS NULL OR ST_IsEmpty(fixed) THEN NULL
                        ELSE fixed END AS geom
            FROM (
                SELECT n, name, attrs, had_zm, curved, empty_parts, was_valid, skip, g,
                       CASE WHEN skip IS NOT NULL THEN NULL
                            WHEN was_valid THEN g
                            WHEN GeometryType(g) = 'GEOMETRYCOLLECTION' THEN ST_MakeValid(g)
                            -- keep the kind: a broken polygon stays (multi)polygon, its slivers go
                            ELSE ST_CollectionExtract(ST_MakeValid(g), ST_Dimension(g) + 1)
                       END AS fixed
                FROM (
                    SELECT n, name, attrs, had_zm, curved, empty_parts, g,
                           CASE WHEN unsupported THEN 'unsupported'
                                WHEN g IS NULL OR ST_IsEmpty(g) THEN 'missing' END AS skip,
                           unsupported OR g IS NULL OR ST_IsEmpty(g) OR ST_IsValid(g) AS was_valid
                    FROM (
                        SELECT n, name, attrs, had_zm, curved, unsupported, empty_parts,
                               CASE WHEN empty_parts > 0 THEN ST_Collect(ARRAY(
                                        SELECT d.geom FROM ST_Dump(parted) AS d
                                        WHERE NOT ST_IsEmpty(d.geom)))
                                    ELSE parted END AS g
                        FROM (
                            SELECT n, name, attrs, had_zm, curved, unsupported, parted,
                                   -- an empty part becomes "coordinates": [] in GeoJSON,
                                   -- which clients choke on
                                   CASE WHEN GeometryType(parted) LIKE 'MULTI%%'
                                             OR GeometryType(parted) = 'GEOMETRYCOLLECTION'
                                        THEN (SELECT count(*) FROM ST_Dump(parted) AS d
                                              WHERE ST_IsEmpty(d.geom))
                                        ELSE 0 END AS empty_parts
                            FROM (
                                SELECT n, {name} AS name, {attributes} AS attrs,
                                       coalesce(ST_NDims(geom) > 2, false) AS had_zm,
                                       coalesce(GeometryType(geom) = ANY({curved})
                                                OR ST_HasArc(geom), false) AS curved,
                                       coalesce(GeometryType(geom) = ANY({unsupported}), false)
                                           AS unsupported,
                                       CASE WHEN GeometryType(geom) = ANY({unsupported})
                                            THEN NULL ELSE {flat} END AS parted
                                FROM {staging}
                            OFFSET 0) AS source
                        OFFSET 0) AS parts
                    OFFSET 0) AS counted
                OFFSET 0) AS checked
            ) AS repaired
            """
        ).format(
            staging=sql.SQL("{} WHERE {{part}}").format(self.staging),
            name=name,
            attributes=attributes,
            flat=flat,
            curved=sql.Literal(list(CURVED_TYPES)),
            unsupported=sql.Literal(list(UNSUPPORTED_TYPES)),
        )
        select = query.as_string(connection.connection)
        values = [*params, srid]
        sessions = sessions_for(rows)
        # ST_IsValid says why a geometry is invalid in a NOTICE per row: a million of them would
        # flood the log; the reasons of the first few are asked for in `repaired()`.
        quiet = (sql.SQL("SET LOCAL client_min_messages = warning"), None)
        prepared = self.prepared.as_string(connection.connection)
        in_sessions(
            [
                [
                    quiet,
                    (
                        sql.SQL(f"CREATE UNLOGGED TABLE {prepared} AS ")
                        + sql.SQL(select.replace("{part}", "false"))
                        + sql.SQL(" WITH NO DATA"),
                        values,
                    ),
                ]
            ]
        )
        in_sessions(
            [
                [
                    quiet,
                    (
                        sql.SQL(f"INSERT INTO {prepared} ")
                        + sql.SQL(
                            select.replace(
                                "{part}", f"n %% {sessions} = {k}" if sessions > 1 else "true"
                            )
                        ),
                        values,
                    ),
                ]
                for k in range(sessions)
            ]
        )
        return self.stats()

    def _flat(self, geom: sql.Composable, srid: int) -> sql.Composable:
        """Return the expression of a staged geometry linearised, in 2D and in EPSG:4326."""
        # Curves first (ST_Force2D and ST_Transform keep them curved, and GeoJSON cannot hold
        # them); then Z and M (PROJ would otherwise treat Z as a height); then the CRS.
        linear = sql.SQL(
            "CASE WHEN GeometryType({g}) = ANY({curved}) OR ST_HasArc({g}) "
            "THEN ST_CurveToLine({g}) ELSE {g} END"
        ).format(g=geom, curved=sql.Literal(list(CURVED_TYPES)))
        flat = sql.SQL("ST_Force2D(ST_SetSRID({}, %s))").format(linear)
        return flat if srid == WGS84 else sql.SQL("ST_Transform({}, 4326)").format(flat)

    def stats(self) -> PreparedStats:
        """Return the counts, extent and geometry kinds of the prepared data."""
        row = _run(
            sql.SQL(
                """
                SELECT count(*), count(*) FILTER (WHERE geom IS NULL),
                       count(*) FILTER (WHERE NOT was_valid AND geom IS NOT NULL),
                       count(*) FILTER (WHERE had_zm),
                       count(*) FILTER (WHERE curved),
                       count(*) FILTER (WHERE empty_parts > 0), coalesce(sum(empty_parts), 0),
                       ST_XMin(ST_Extent(geom)), ST_YMin(ST_Extent(geom)),
                       ST_XMax(ST_Extent(geom)), ST_YMax(ST_Extent(geom))
                FROM {}
                """
            ).format(self.prepared)
        )[0]
        stats = PreparedStats(
            total=row[0],
            skipped=row[1],
            repaired=row[2],
            dropped_zm=row[3],
            linearised=row[4],
            emptied_features=row[5],
            empty_parts=int(row[6]),
        )
        if row[7] is not None:
            stats.extent = (row[7], row[8], row[9], row[10])
        stats.skipped_by_reason = dict(
            _run(
                sql.SQL(
                    "SELECT skip, count(*) FROM {} WHERE geom IS NULL GROUP BY 1 ORDER BY 1"
                ).format(self.prepared)
            )
        )
        for dimension, kind, count in _run(
            sql.SQL(
                "SELECT ST_Dimension(geom), GeometryType(geom), count(*) FROM {} "
                "WHERE geom IS NOT NULL GROUP BY 1, 2"
            ).format(self.prepared)
        ):
            collection = kind == "GEOMETRYCOLLECTION"
            key = (-1 if collection else dimension, kind.startswith("MULTI"))
            stats.kinds[key] = stats.kinds.get(key, 0) + count
        return stats

    def skipped(self, *, limit: int) -> list[tuple[int, str]]:
        """Return the first skipped features with why."""
        rows = _run(
            sql.SQL("SELECT n, skip FROM {} WHERE geom IS NULL ORDER BY n LIMIT %s").format(
                self.prepared
            ),
            [limit],
        )
        return [(n, SKIP_REASONS.get(code, code)) for n, code in rows]

    def repaired(self, *, srid: int, limit: int) -> list[tuple[int, str]]:
        """Return the first repaired features with what was wrong."""
        return _run(
            sql.SQL(
                "SELECT p.n, ST_IsValidReason({flat}) FROM {prepared} AS p "
                "JOIN {staging} AS s USING (n) "
                "WHERE NOT p.was_valid AND p.geom IS NOT NULL ORDER BY p.n LIMIT %s"
            ).format(
                flat=self._flat(sql.SQL("s.geom"), srid),
                prepared=self.prepared,
                staging=self.staging,
            ),
            [srid, limit],
        )

    def _geometry(self, column: str = "geom") -> sql.Composable:
        """Return the stored geometry: single parts of `multi` dimensions become multi-parts."""
        return sql.SQL(
            "CASE WHEN ST_Dimension({g}) = ANY(%(multi)s::int[])"
            " AND GeometryType({g}) IN ('POINT', 'LINESTRING', 'POLYGON')"
            " THEN ST_Multi({g}) ELSE {g} END"
        ).format(g=sql.SQL(column))

    def fill_fresh(
        self, *, layer_id: int, multi_dimensions: list[int], rows: int, event_id: int, at
    ) -> tuple[FreshPartition, int]:
        """Fill and index a fresh table with the prepared features, for `FreshPartition.swap_in`
        in the import's last transaction; return it and how many features it holds.

        `multi_dimensions` lists the dimensions (0 point, 1 line, 2 polygon) whose single parts
        become multi-parts, so that a layer holds one kind per dimension. `event_id` and `at`:
        the import's change event and instant, which every row's version carries (one instant
        for all, though several sessions write them).
        """
        fresh = FreshPartition(layer_id=layer_id, key=f"import{self.key}")
        fresh.drop()  # a previous attempt's
        fresh.create()
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_get_serial_sequence('layers_feature', 'id')")
            sequence = cursor.fetchone()[0]
        select = sql.SQL(
            "SELECT nextval(%(sequence)s::regclass) AS id, %(layer_id)s::bigint AS layer_id,"
            " {geometry} AS geom, attrs AS attributes, name, %(at)s::timestamptz AS created_at,"
            " %(at)s::timestamptz AS updated_at, %(event_id)s::bigint AS event_id, n"
            " FROM {prepared} WHERE geom IS NOT NULL"
        ).format(geometry=self._geometry(), prepared=self.prepared)
        params = {
            "sequence": sequence,
            "layer_id": layer_id,
            "multi": multi_dimensions,
            "at": at,
            "event_id": event_id,
        }
        written = fresh.fill(select, params, rows=rows)
        fresh.build_indexes(rows=written)
        return fresh, written

    def publish_append(self, *, layer_id: int, multi_dimensions: list[int], event_id: int) -> int:
        """Add the prepared features to the layer (in the caller's transaction); return count.

        Single parts of `multi_dimensions` become multi-parts, the layer's own ones included
        (a new version of each, in the history, by the same event).
        """
        with connection.cursor() as cursor:
            if multi_dimensions:
                cursor.execute(
                    "UPDATE layers_feature SET geom = ST_Multi(geom), updated_at = now() "
                    "WHERE layer_id = %s AND ST_Dimension(geom) = ANY(%s::int[]) "
                    "AND GeometryType(geom) IN ('POINT', 'LINESTRING', 'POLYGON')",
                    [layer_id, multi_dimensions],
                )
            query = sql.SQL(
                """
                INSERT INTO layers_feature
                    (layer_id, geom, attributes, name, created_at, updated_at, event_id)
                SELECT %(layer_id)s, {geometry}, attrs, name, now(), now(), %(event_id)s
                FROM {prepared} WHERE geom IS NOT NULL ORDER BY n
                """
            ).format(geometry=self._geometry(), prepared=self.prepared)
            cursor.execute(
                query.as_string(connection.connection),
                {"layer_id": layer_id, "multi": multi_dimensions, "event_id": event_id},
            )
            return cursor.rowcount

    def key_problems(self, *, key: str, limit: int = 5) -> tuple[int, list[tuple[str, int]]]:
        """Return how many usable features lack a value of `key`, and the first duplicated
        values with their counts: an upsert needs one feature per key."""
        missing = _run(
            sql.SQL(
                "SELECT count(*) FROM {} WHERE geom IS NOT NULL AND coalesce(attrs->>%s, '') = ''"
            ).format(self.prepared),
            [key],
        )[0][0]
        duplicated = _run(
            sql.SQL(
                "SELECT attrs->>%s, count(*) FROM {} WHERE geom IS NOT NULL"
                " AND coalesce(attrs->>%s, '') <> '' GROUP BY 1 HAVING count(*) > 1"
                " ORDER BY 2 DESC, 1 LIMIT %s"
            ).format(self.prepared),
            [key, key, limit],
        )
        return missing, duplicated

    def publish_upsert(
        self, *, layer_id: int, key: str, multi_dimensions: list[int], event_id: int
    ) -> dict[str, int]:
        """Make the layer hold exactly the prepared features, matched by the attribute `key`:
        write only the features that are new or whose content changed, delete the layer's
        features whose key is gone (in the caller's transaction); return the counts.

        A feature's content is compared by a hash of its stored geometry (EWKB, after the
        multi-part promotion it is stored with) and its attributes (JSONB's text, which has one
        canonical key order). Only the rows written or deleted reach the history and the tile
        change triggers, so only the tiles over them are rebuilt. The key values must be unique
        and present (`key_problems`); a layer feature without one, or a second one with the same
        key, is deleted.
        """
        geometry = self._geometry("p.geom")
        same_key = sql.SQL("f.attributes->>%(key)s = p.attrs->>%(key)s")
        content = sql.SQL(
            "md5(ST_AsEWKB({geometry}) || convert_to(p.attrs::text, 'UTF8'))"
            " <> md5(ST_AsEWKB(f.geom) || convert_to(f.attributes::text, 'UTF8'))"
        ).format(geometry=geometry)
        params = {"layer_id": layer_id, "key": key, "multi": multi_dimensions, "event_id": event_id}
        statements = {
            # A second feature with the same key (the layer was filled another way before).
            "duplicates": sql.SQL(
                """
                DELETE FROM layers_feature AS f USING (
                    SELECT id FROM (
                        SELECT id, row_number() OVER (
                            PARTITION BY attributes->>%(key)s ORDER BY id) AS nth
                        FROM layers_feature WHERE layer_id = %(layer_id)s) AS numbered
                    WHERE nth > 1) AS extra
                WHERE f.layer_id = %(layer_id)s AND f.id = extra.id
                """
            ),
            "removed": sql.SQL(
                """
                DELETE FROM layers_feature AS f WHERE f.layer_id = %(layer_id)s AND (
                    coalesce(f.attributes->>%(key)s, '') = ''
                    OR NOT EXISTS (SELECT 1 FROM {prepared} AS p
                                   WHERE p.geom IS NOT NULL AND {same_key}))
                """
            ),
            "changed": sql.SQL(
                """
                UPDATE layers_feature AS f
                SET geom = {geometry}, attributes = p.attrs, name = p.name
                FROM {prepared} AS p
                WHERE f.layer_id = %(layer_id)s AND p.geom IS NOT NULL AND {same_key}
                  AND ({content} OR f.name IS DISTINCT FROM p.name)
                """
            ),
            "added": sql.SQL(
                """
                INSERT INTO layers_feature
                    (layer_id, geom, attributes, name, created_at, updated_at, event_id)
                SELECT %(layer_id)s, {geometry}, p.attrs, p.name, now(), now(), %(event_id)s
                FROM {prepared} AS p
                WHERE p.geom IS NOT NULL AND NOT EXISTS (
                    SELECT 1 FROM layers_feature AS f
                    WHERE f.layer_id = %(layer_id)s AND {same_key})
                ORDER BY p.n
                """
            ),
        }
        counts = {}
        with connection.cursor() as cursor:
            # Fresh statistics, or the planner takes the new table for a small one and matches
            # keys in nested loops (2,000 features: 0.6 s instead of milliseconds).
            cursor.execute(
                sql.SQL("ANALYZE {}").format(self.prepared).as_string(connection.connection)
            )
            for name, statement in statements.items():
                query = statement.format(
                    prepared=self.prepared, same_key=same_key, geometry=geometry, content=content
                )
                cursor.execute(query.as_string(connection.connection), params)
                counts[name] = cursor.rowcount
        counts["removed"] += counts.pop("duplicates")
        return counts

    def drop(self) -> None:
        """Drop both tables if they exist."""
        drop_tables(self.key)


def drop_tables(key: str) -> None:
    """Drop the tables of an import (its job id) if a run left them behind: the staging ones
    and a fresh table that was never swapped in."""
    tables = [f"import_prepared_{key}", f"import_staging_{key}"]
    tables += [
        name
        for (name,) in _run(
            sql.SQL(
                "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
                " AND tablename LIKE %s"
            ),
            [f"layers_feature_p%_import{key}"],
        )
        if name.endswith(f"_import{key}")
    ]
    for table in tables:
        _run(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(table)))
