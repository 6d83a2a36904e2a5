"""Migration 0007 moves the features of a database already in use into one partition per layer,
and back: every row, its id, its generated columns, and the id sequence after it."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.db import connection

from tests.factories import LayerFactory


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
        # The layer table is the same before and after 0007: the factory can write it.
        layer_ids = [LayerFactory(category=category).pk for _ in range(2)]
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
        call_command("migrate", "layers", verbosity=0)
    assert _is_partitioned()
