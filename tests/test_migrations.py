"""Migration 0007 moves the features of a database already in use into one partition per layer,
and back: every row, its id, its generated columns, and the id sequence after it. Every migration
of ours runs backwards (unless listed as irreversible), back to nothing and forward again.

Upgrades from each release's own database, and the walk back to it, are in tests/test_upgrade.py.
"""

from __future__ import annotations

from importlib import import_module
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connection


def _rows() -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id, layer_id, ST_AsText(geom), ST_AsText(ST_SnapToGrid(geom_3857, 1)),"
            " attributes::text, name, search_text FROM layers_feature ORDER BY id"
        )
        return cursor.fetchall()


def _is_partitioned() -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT relkind FROM pg_class WHERE oid = 'layers_feature'::regclass")
        return cursor.fetchone()[0] == "p"


@pytest.mark.django_db(transaction=True)
def test_existing_features_move_into_their_layers_partitions_and_back(category):
    call_command("migrate", "layers", "0006", verbosity=0)
    try:
        assert not _is_partitioned()
        # The layer as it was at 0006 (later migrations add columns the factory would write).
        from django.db.migrations.loader import MigrationLoader as Loader

        state = Loader(connection).project_state(("layers", "0006_hardening"))
        old_layer = state.apps.get_model("layers", "Layer")
        layer_ids = [
            old_layer.objects.create(
                slug=f"old-{n}", title_vi=f"Lớp {n}", category_id=category.pk
            ).pk
            for n in range(2)
        ]
        with connection.cursor() as cursor:
            for layer_id in layer_ids:
                cursor.execute(
                    "INSERT INTO layers_feature (layer_id, geom, attributes, name, created_at,"
                    " updated_at) SELECT %s, ST_SetSRID(ST_MakePoint(107.5 + n / 1000.0, 16.4),"
                    " 4326), jsonb_build_object('ten', 'Chùa ' || n), 'Chùa ' || n, now(), now()"
                    " FROM generate_series(1, 30) AS n",
                    [layer_id],
                )
        before = _rows()

        call_command("migrate", "layers", verbosity=0)

        assert _is_partitioned()
        assert _rows() == before
        with connection.cursor() as cursor:
            for layer_id in layer_ids:
                cursor.execute(f"SELECT count(*) FROM layers_feature_p{layer_id}")
                assert cursor.fetchone()[0] == 30
            # New rows take ids after the moved ones.
            cursor.execute(
                "INSERT INTO layers_feature (layer_id, geom, attributes, name, created_at,"
                " updated_at) VALUES (%s, ST_SetSRID(ST_MakePoint(107.5, 16.4), 4326), '{}',"
                " 'Mới', now(), now()) RETURNING id",
                [layer_ids[0]],
            )
            assert cursor.fetchone()[0] > max(row[0] for row in before)
        after = _rows()

        call_command("migrate", "layers", "0006", verbosity=0)
        assert not _is_partitioned()
        assert _rows() == after
    finally:
        # Every app: going back to 0006 also unapplied the apps that depend on layers (sensors,
        # sources), and the next test compares the whole schema.
        call_command("migrate", verbosity=0)
    assert _is_partitioned()


# The project's migrations that cannot be undone, each with why; docs/operations.md, "Upgrading"
# (rollback) relies on this list being complete.
IRREVERSIBLE: dict[str, str] = {}


def _operations_reversible(operations) -> bool:
    """Return whether every operation can run backwards, looking inside SeparateDatabaseAndState
    (whose own `reversible` says yes whatever its database operations are)."""
    from django.db.migrations.operations.special import SeparateDatabaseAndState

    return all(
        _operations_reversible(op.database_operations)
        if isinstance(op, SeparateDatabaseAndState)
        else op.reversible
        for op in operations
    )


def test_every_migration_of_ours_is_reversible_unless_listed():
    from django.db.migrations.loader import MigrationLoader

    from tests.databases import ROOT

    loader = MigrationLoader(None, ignore_no_migrations=True, load=False)
    loader.load_disk()
    ours = {
        f"{app}.{name}": migration
        for (app, name), migration in loader.disk_migrations.items()
        if ROOT in Path(import_module(migration.__module__).__file__).resolve().parents
    }
    assert "layers.0001_initial" in ours
    irreversible = {key for key, m in ours.items() if not _operations_reversible(m.operations)}
    assert irreversible == set(IRREVERSIBLE)


@pytest.mark.django_db(transaction=True)
def test_the_migrations_walk_back_to_nothing_and_forward_to_the_same_schema():
    """Every backward step of every migration runs, and leaves nothing that the forward steps
    then trip over or that would differ: the schema after is the schema before."""
    from tests.databases import schema_fingerprint

    # Empty partitions a flush leaves behind (migration 0007) are not the migrations' doing.
    leftovers = r"layers_feature(version)?_p\d+"
    before = schema_fingerprint(leave_out=leftovers)
    try:
        call_command("migrate", "layers", "zero", verbosity=0)
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_class WHERE relname LIKE 'layers\\_%%'")
            assert cursor.fetchone()[0] == 0
    finally:
        call_command("migrate", verbosity=0)
    assert schema_fingerprint(leave_out=leftovers) == before
