"""One table per layer: how a layer's whole content is replaced by a table filled beside it.

`layers_feature` is list-partitioned by layer (migration 0007); triggers on `layers_layer` create a
layer's partition with the layer and drop it with the layer. A replacing import does not delete
and re-insert a million rows one index entry at a time: it fills a fresh table with no index,
builds the indexes in bulk (as ogr2ogr does), and swaps it in for the layer's partition, all in
the caller's transaction, so readers see the old features until it commits and the new ones
after, and a failure leaves the layer as it was.

The fresh table is filled and indexed before the import's last transaction, in transactions of its
own, on several database sessions at once (`IMPORT_SESSIONS`: a million rows are inserted in halves
and the trigram index built beside the others), which a single transaction could not do. Nobody
reads it meanwhile: it is not a partition until the swap. A failed import drops it; the jobs
sweeper drops the one of a worker that died.

The swap detaches the old partition, which needs an ACCESS EXCLUSIVE lock on `layers_feature`:
new queries of every layer queue behind it. So it asks with a short `lock_timeout` and tries
again (a long export holding the table could otherwise hold every tile request behind the
import), and swaps are taken one at a time by an advisory lock, so two imports cannot deadlock
upgrading their locks.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

from django.conf import settings
from django.db import OperationalError, connection, transaction
from django.db.models.signals import pre_delete
from django.dispatch import receiver
from psycopg import sql

from .models import Layer

logger = logging.getLogger(__name__)

# pg_advisory_xact_lock(namespace, 0): one partition swap at a time.
SWAP_LOCK_NAMESPACE = 0x5A7
FEATURE_TABLE = "layers_feature"
# Columns written by a load; generated ones (geom_3857, search_text) PostgreSQL computes.
LOADED_COLUMNS = (
    "id",
    "layer_id",
    "geom",
    "attributes",
    "name",
    "created_at",
    "updated_at",
    "event_id",
)
HISTORY_TABLE = "layers_featureversion"


class SwapTimeout(Exception):
    """The layer's partition could not be swapped: other sessions kept the feature table busy."""


def partition_name(layer_id: int) -> str:
    """Return the name of a layer's partition (as `layers_feature_partition_name()` in SQL)."""
    return f"{FEATURE_TABLE}_p{int(layer_id)}"


def archive_name(layer_id: int, event_id: int) -> str:
    """Return the name of the features an import replaced, kept as history (migration 0008)."""
    return f"{HISTORY_TABLE}_p{int(layer_id)}_e{int(event_id)}"


@dataclass(frozen=True)
class Archive:
    """How a replaced partition is kept: the import's event and the instant its data took over."""

    event_id: int
    at: object  # a timezone-aware datetime


def ensure_partition(layer_id: int) -> None:
    """Create a layer's partition if it is missing (the layer's insert trigger normally has)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT layers_feature_partition_create(%s::bigint)", [layer_id])


@dataclass
class FreshPartition:
    """A table shaped like a layer's partition, filled and indexed before it replaces it."""

    layer_id: int
    key: str

    @property
    def name(self) -> str:
        return f"{partition_name(self.layer_id)}_{self.key}"

    def create(self) -> None:
        """Create the empty table, like the layer's partition but without its indexes; commit."""
        with transaction.atomic():
            ensure_partition(self.layer_id)
            with connection.cursor() as cursor:
                # LIKE the partition, not the parent: only the partition is locked (AccessShare).
                cursor.execute(
                    sql.SQL(
                        "CREATE TABLE {fresh} (LIKE {current} INCLUDING DEFAULTS"
                        " INCLUDING GENERATED INCLUDING CONSTRAINTS INCLUDING STORAGE"
                        " INCLUDING COMPRESSION)"
                    )
                    .format(
                        fresh=sql.Identifier(self.name),
                        current=sql.Identifier(partition_name(self.layer_id)),
                    )
                    .as_string(connection.connection)
                )

    def fill(self, select: sql.Composable, params: dict, *, rows: int) -> int:
        """Insert the rows `select` gives (id, layer_id, geom, attributes, name, created_at,
        updated_at, event_id, and the feature number `n` last); return how many.

        A large fill is cut by feature number between sessions that insert at the same time.
        """
        sessions = sessions_for(rows)
        statements = [
            [
                (
                    sql.SQL(
                        "INSERT INTO {fresh} ({columns}) SELECT {columns} FROM ({select}) AS rows"
                        " WHERE {part}{order}"
                    ).format(
                        fresh=sql.Identifier(self.name),
                        columns=sql.SQL(", ").join(map(sql.Identifier, LOADED_COLUMNS)),
                        select=select,
                        part=sql.SQL("n %% {} = {}").format(sql.Literal(sessions), sql.Literal(k))
                        if sessions > 1
                        else sql.SQL("true"),
                        # Ids follow the feature numbers on one session; on several they cannot
                        # (the halves interleave), and the sort would only cost.
                        order=sql.SQL(" ORDER BY n" if sessions == 1 else ""),
                    ),
                    params,
                )
            ]
            for k in range(sessions)
        ]
        return sum(in_sessions(statements))

    def build_indexes(self, *, rows: int) -> None:
        """Build the partition's indexes in bulk: the primary key, the GiST and trigram indexes.

        They match the parent's partitioned indexes, so ATTACH adopts them instead of building
        its own. On two sessions, the trigram index is built beside the other two (CREATE INDEX
        takes a SHARE lock, which does not stop another CREATE INDEX; ADD PRIMARY KEY would, so
        the key is made from its unique index afterwards).
        """
        fresh = sql.Identifier(self.name)
        memory = (
            sql.SQL("SET LOCAL maintenance_work_mem = {}").format(
                sql.Literal(settings.IMPORT_MAINTENANCE_WORK_MEM)
            ),
            None,
        )
        key = sql.Identifier(f"{self.name}_pkey")
        unique = sql.SQL("CREATE UNIQUE INDEX {} ON {} (layer_id, id)").format(key, fresh)
        gist = sql.SQL("CREATE INDEX ON {} USING gist (geom_3857)").format(fresh)
        trigram = sql.SQL("CREATE INDEX ON {} USING gin (search_text gin_trgm_ops)").format(fresh)
        # Statistics at once: without them the planner reads a large partition's primary key
        # beside its GiST index (a z16 tile: 15 ms instead of 1.5 ms until autovacuum came).
        # ANALYZE waits for the other session's index builds (their locks conflict), so it goes
        # after the longest one.
        # Only the columns queries choose plans by (layer and id for paging, the 3857 box for
        # tiles and bbox, the search text): half the time of all of them (the JSONB attributes
        # cost most). Autovacuum analyzes the rest later.
        analyze = (
            sql.SQL("ANALYZE {} (layer_id, id, geom_3857, search_text)").format(fresh),
            None,
        )
        if sessions_for(rows) > 1:
            groups = [[memory, (unique, None), (gist, None)], [memory, (trigram, None), analyze]]
        else:
            groups = [[memory, (unique, None), (gist, None), (trigram, None), analyze]]
        in_sessions(groups)
        in_sessions(
            [[(sql.SQL("ALTER TABLE {} ADD PRIMARY KEY USING INDEX {}").format(fresh, key), None)]]
        )

    def drop(self) -> None:
        """Drop the table if it is still there (a failed or cancelled import)."""
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                sql.SQL("DROP TABLE IF EXISTS {}")
                .format(sql.Identifier(self.name))
                .as_string(connection.connection)
            )

    def swap_in(self, archive: Archive | None = None) -> None:
        """Put the filled table in place of the layer's partition; keep the old one as history
        (`archive`) or drop it.

        The tile-change trigger sees no row of a swap, so the change is recorded here: one box
        around the old and the new features, counting both (a large one resets the layer's
        cached tiles, layers/tiles/services.py).

        Kept, the old table becomes a child of `layers_featureversion` with two more columns of
        constant defaults (when its rows stopped being current, and by which event): catalogue
        changes only, so a million replaced features cost no copy (docs/history.md).
        """
        current = sql.Identifier(partition_name(self.layer_id))
        fresh = sql.Identifier(self.name)
        with connection.cursor() as cursor:
            cursor.execute(
                sql.SQL(
                    """
                    INSERT INTO layers_tilechange
                        (layer_id, min_x, min_y, max_x, max_y, feature_count, created_at)
                    SELECT %(layer_id)s, ST_XMin(box), ST_YMin(box), ST_XMax(box), ST_YMax(box),
                           n, now()
                    FROM (
                        SELECT sum(n) AS n, ST_Extent(box) AS box FROM (
                            SELECT count(*) AS n, ST_Extent(geom_3857) AS box FROM {current}
                            UNION ALL
                            SELECT count(*), ST_Extent(geom_3857) FROM {fresh}
                        ) AS both_tables
                    ) AS changed
                    WHERE box IS NOT NULL
                    """
                )
                .format(current=current, fresh=fresh)
                .as_string(connection.connection),
                {"layer_id": self.layer_id},
            )
            cursor.execute("SELECT pg_advisory_xact_lock(%s, 0)", [SWAP_LOCK_NAMESPACE])
        swap = [
            sql.SQL("ALTER TABLE {parent} DETACH PARTITION {current}"),
            sql.SQL("ALTER TABLE {parent} ATTACH PARTITION {fresh} FOR VALUES IN ({layer})"),
        ]
        _with_lock_retries(
            [
                statement.format(
                    parent=sql.Identifier(FEATURE_TABLE),
                    current=current,
                    fresh=fresh,
                    layer=sql.Literal(int(self.layer_id)),
                ).as_string(connection.connection)
                for statement in swap
            ]
        )
        with connection.cursor() as cursor:
            if archive is None:
                cursor.execute(
                    sql.SQL("DROP TABLE {}").format(current).as_string(connection.connection)
                )
            else:
                _archive(self.layer_id, archive)
            cursor.execute(
                sql.SQL("ALTER TABLE {} RENAME TO {}")
                .format(fresh, current)
                .as_string(connection.connection)
            )
        # Its indexes take the names a partition's indexes get from PostgreSQL, so the next
        # import's fresh table can use its own names again.
        _rename_indexes(partition_name(self.layer_id), self.name, partition_name(self.layer_id))


def _rename_indexes(table: str, prefix: str, new_prefix: str) -> None:
    """Rename the table's indexes whose name starts with `prefix` to start with `new_prefix`."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema()"
            " AND tablename = %s AND starts_with(indexname, %s)",
            [table, prefix],
        )
        for (index,) in cursor.fetchall():
            cursor.execute(
                sql.SQL("ALTER INDEX {} RENAME TO {}")
                .format(sql.Identifier(index), sql.Identifier(new_prefix + index[len(prefix) :]))
                .as_string(connection.connection)
            )


def _archive(layer_id: int, archive: Archive) -> None:
    """Make a detached partition a child of the history table (see `FreshPartition.swap_in`)."""
    name = archive_name(layer_id, archive.event_id)
    table = sql.Identifier(name)
    with connection.cursor() as cursor:
        cursor.execute(
            sql.SQL("ALTER TABLE {} RENAME TO {}")
            .format(sql.Identifier(partition_name(layer_id)), table)
            .as_string(connection.connection)
        )
        _rename_indexes(name, partition_name(layer_id), name)
        cursor.execute(
            sql.SQL(
                "ALTER TABLE {table}"
                " ADD COLUMN valid_to timestamp with time zone NOT NULL DEFAULT {at},"
                " ADD COLUMN ended_by bigint DEFAULT {event}"
            )
            .format(table=table, at=sql.Literal(archive.at), event=sql.Literal(archive.event_id))
            .as_string(connection.connection)
        )
        # What the planner needs to skip this archive (constraint exclusion) when a query at an
        # instant cannot find a row in it: its layer, the instant its rows stopped being current,
        # and the earliest instant one of them started. Without them an `as_of` read scans every
        # archive of every layer (bench/RESULTS.md, History). Validating is one scan of the table.
        cursor.execute(
            sql.SQL("SELECT min(updated_at) FROM {}").format(table).as_string(connection.connection)
        )
        (earliest,) = cursor.fetchone()
        checks = [
            sql.SQL("ADD CONSTRAINT {} CHECK (layer_id = {})").format(
                sql.Identifier(f"{name}_layer"), sql.Literal(int(layer_id))
            ),
            sql.SQL("ADD CONSTRAINT {} CHECK (valid_to = {}::timestamptz)").format(
                sql.Identifier(f"{name}_valid_to"), sql.Literal(archive.at)
            ),
        ]
        if earliest is not None:
            checks.append(
                sql.SQL("ADD CONSTRAINT {} CHECK (updated_at >= {}::timestamptz)").format(
                    sql.Identifier(f"{name}_valid_from"), sql.Literal(earliest)
                )
            )
        cursor.execute(
            sql.SQL("ALTER TABLE {} ").format(table).as_string(connection.connection)
            + sql.SQL(", ").join(checks).as_string(connection.connection)
        )
        cursor.execute(
            sql.SQL("ALTER TABLE {} INHERIT {}")
            .format(table, sql.Identifier(HISTORY_TABLE))
            .as_string(connection.connection)
        )


def sessions_for(rows: int) -> int:
    """Return how many sessions fill and index a table of this many rows."""
    return max(1, settings.IMPORT_SESSIONS) if rows >= settings.IMPORT_SESSION_MIN_ROWS else 1


def _run_group(group: list[tuple[sql.Composable, dict | None]]) -> int:
    """Run statements in one transaction of this thread's session; return the rows written."""
    written = 0
    with transaction.atomic(), connection.cursor() as cursor:
        for statement, params in group:
            cursor.execute(statement.as_string(connection.connection), params)
            written += max(cursor.rowcount, 0)
    return written


def in_sessions(groups: list[list[tuple[sql.Composable, dict | None]]]) -> list[int]:
    """Run each group of statements in its own transaction and session, all at the same time.

    The first group runs on this thread's connection, the others on threads with their own
    connections (closed at the end). If one fails, the error is raised once all have ended.
    """
    results: list[int | BaseException] = [0] * len(groups)

    def work(index: int) -> None:
        try:
            results[index] = _run_group(groups[index])
        except BaseException as error:  # handed to the caller's thread below
            results[index] = error
        finally:
            if index:
                connection.close()

    threads = [threading.Thread(target=work, args=(i,)) for i in range(1, len(groups))]
    for thread in threads:
        thread.start()
    work(0)
    for thread in threads:
        thread.join()
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return results


def _with_lock_retries(
    statements: list[str],
    *,
    what: str = "The imported features could not take the place of the layer's old ones",
) -> None:
    """Run statements under a short lock timeout in a savepoint; try again while it times out."""
    timeout_ms = settings.PARTITION_SWAP_LOCK_TIMEOUT_MS
    deadline = time.monotonic() + settings.PARTITION_SWAP_WAIT_S
    attempt = 0
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('lock_timeout')")
        (previous,) = cursor.fetchone()
    while True:
        attempt += 1
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute("SELECT set_config('lock_timeout', %s, true)", [f"{timeout_ms}ms"])
                for statement in statements:
                    cursor.execute(statement)
                # SET LOCAL outlives the savepoint's release: put the session's own value back.
                cursor.execute("SELECT set_config('lock_timeout', %s, true)", [previous])
            return
        except OperationalError as error:
            if getattr(error.__cause__, "sqlstate", None) != "55P03":  # lock_not_available
                raise
            if time.monotonic() >= deadline:
                raise SwapTimeout(
                    f"{what}: for {settings.PARTITION_SWAP_WAIT_S} s ({attempt} tries) other "
                    "work kept reading or writing the map features (a long export or query), "
                    "and it would have had to stop every map request to go ahead."
                ) from error
            logger.info("partition swap waited for a lock (try %s)", attempt)
            time.sleep(min(0.05 * attempt, 1.0))


@receiver(pre_delete, sender=Layer, dispatch_uid="partitions_layer_pre_delete")
def _partition_drop_politely(sender, instance: Layer, **kwargs) -> None:
    """Detach and drop a deleted layer's partition with the swap's short, retried lock requests.

    The delete trigger on layers_layer would drop it too, but would wait for the feature table's
    lock as long as a long export holds it, with every reader of every layer queued behind; here
    the wait is at most one `PARTITION_SWAP_LOCK_TIMEOUT_MS` at a time. Runs inside the delete's
    transaction: a delete rolled back keeps its partition.
    """
    name = partition_name(instance.pk)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT 1 FROM pg_inherits WHERE inhrelid = to_regclass(%s)"
            " AND inhparent = %s::regclass",
            [name, FEATURE_TABLE],
        )
        attached = cursor.fetchone() is not None
    if not attached:
        return
    table = sql.Identifier(name).as_string(connection.connection)
    _with_lock_retries(
        [f"ALTER TABLE {FEATURE_TABLE} DETACH PARTITION {table}", f"DROP TABLE {table}"],
        what=f"The layer {instance.slug!r} could not be deleted",
    )
