# One partition of `layers_feature` per layer (list-partitioned by layer_id), so that an import can
# fill a fresh table, build its indexes in bulk and swap it in (layers/partitions.py), and deleting
# a layer drops its table instead of deleting its rows one by one.
#
# - The primary key becomes (layer_id, id): PostgreSQL requires the partition key in every unique
#   index of a partitioned table. Ids still come from one identity sequence, so they stay unique.
# - Each partition holds one layer, so the GiST index is on geom_3857 alone (no btree_gist column
#   for the layer: partition pruning does its work) and (layer_id, id) is the primary key itself.
# - No foreign key to layers_layer: a feature can only be stored in the partition of an existing
#   layer (there is no default partition), and a layer's partition goes with it, so the key only
#   cost its checks (~2.4 s per million rows, docs/import.md).
# - Partitions are made and dropped by triggers on layers_layer, so every way of creating or
#   deleting a layer (ORM, admin, raw SQL) keeps them in step. TRUNCATE (tests' flushes) fires no
#   delete trigger and cannot drop tables its own statement uses: its empty partitions stay, and a
#   new layer that gets the same id empties the one it finds.
# - A new partition is created standalone and then attached: ATTACH PARTITION takes a SHARE UPDATE
#   EXCLUSIVE lock on the parent, which readers and writers do not wait for, where CREATE TABLE …
#   PARTITION OF takes an ACCESS EXCLUSIVE one.

import django.db.models.deletion
from django.contrib.postgres.indexes import GistIndex
from django.db import migrations, models

PARTITION_FUNCTIONS = """
CREATE OR REPLACE FUNCTION layers_feature_partition_name(layer bigint) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
RETURN 'layers_feature_p' || layer;

CREATE OR REPLACE FUNCTION layers_feature_partition_create(layer bigint) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    partition text := layers_feature_partition_name(layer);
BEGIN
    IF to_regclass(partition) IS NOT NULL THEN
        RETURN;
    END IF;
    EXECUTE format('CREATE TABLE %I (LIKE layers_feature INCLUDING DEFAULTS INCLUDING GENERATED'
                   ' INCLUDING STORAGE INCLUDING COMPRESSION)', partition);
    -- The check tells ATTACH that every row belongs, so it need not scan.
    EXECUTE format('ALTER TABLE %I ADD CONSTRAINT %I CHECK (layer_id = %s)',
                   partition, partition || '_layer', layer);
    EXECUTE format('ALTER TABLE layers_feature ATTACH PARTITION %I FOR VALUES IN (%s)',
                   partition, layer);
END;
$$;

CREATE OR REPLACE FUNCTION layers_layer_partition_create() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF to_regclass(layers_feature_partition_name(NEW.id)) IS NOT NULL THEN
        -- Left by a layer of the same id that went by TRUNCATE (a test's flush), which fires no
        -- delete trigger: whatever it holds is not this layer's.
        EXECUTE format('TRUNCATE %I', layers_feature_partition_name(NEW.id));
    END IF;
    PERFORM layers_feature_partition_create(NEW.id);
    RETURN NULL;
END;
$$;

CREATE OR REPLACE FUNCTION layers_layer_partition_drop() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('DROP TABLE IF EXISTS %I', layers_feature_partition_name(OLD.id));
    RETURN OLD;
END;
$$;

"""

LAYER_TRIGGERS = """
CREATE TRIGGER layers_layer_partition_create AFTER INSERT ON layers_layer
    FOR EACH ROW EXECUTE FUNCTION layers_layer_partition_create();
CREATE TRIGGER layers_layer_partition_drop BEFORE DELETE ON layers_layer
    FOR EACH ROW EXECUTE FUNCTION layers_layer_partition_drop();
"""

TILE_CHANGE_TRIGGERS = """
CREATE TRIGGER layers_feature_tile_change_insert AFTER INSERT ON layers_feature
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION layers_feature_record_tile_change();
CREATE TRIGGER layers_feature_tile_change_update AFTER UPDATE ON layers_feature
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION layers_feature_record_tile_change();
CREATE TRIGGER layers_feature_tile_change_delete AFTER DELETE ON layers_feature
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION layers_feature_record_tile_change();
"""

COPY_COLUMNS = "id, layer_id, geom, attributes, name, created_at, updated_at"

FORWARD = f"""
ALTER TABLE layers_feature RENAME TO layers_feature_unpartitioned;
ALTER INDEX layers_feature_pkey RENAME TO layers_feature_unpartitioned_pkey;
DROP INDEX feature_layer_geom3857_gist, feature_layer_id_idx, feature_search_trgm;
DROP TRIGGER layers_feature_tile_change_insert ON layers_feature_unpartitioned;
DROP TRIGGER layers_feature_tile_change_update ON layers_feature_unpartitioned;
DROP TRIGGER layers_feature_tile_change_delete ON layers_feature_unpartitioned;

CREATE TABLE layers_feature (
    LIKE layers_feature_unpartitioned INCLUDING DEFAULTS INCLUDING GENERATED
) PARTITION BY LIST (layer_id);
ALTER TABLE layers_feature ALTER COLUMN id ADD GENERATED BY DEFAULT AS IDENTITY;
SELECT setval(pg_get_serial_sequence('layers_feature', 'id'),
              coalesce((SELECT max(id) FROM layers_feature_unpartitioned), 0) + 1, false);

{PARTITION_FUNCTIONS}

-- Data first, indexes after: each partition's indexes are then built in bulk.
DO $$
DECLARE
    layer bigint;
BEGIN
    FOR layer IN SELECT id FROM layers_layer ORDER BY id LOOP
        PERFORM layers_feature_partition_create(layer);
    END LOOP;
END;
$$;
INSERT INTO layers_feature ({COPY_COLUMNS})
    SELECT {COPY_COLUMNS} FROM layers_feature_unpartitioned ORDER BY layer_id, id;
DROP TABLE layers_feature_unpartitioned;

ALTER TABLE layers_feature ADD CONSTRAINT layers_feature_pkey PRIMARY KEY (layer_id, id);
CREATE INDEX feature_geom3857_gist ON layers_feature USING gist (geom_3857);
CREATE INDEX feature_search_trgm ON layers_feature USING gin (search_text gin_trgm_ops);
{TILE_CHANGE_TRIGGERS}
{LAYER_TRIGGERS}
-- New tables have no statistics: the tile queries' plans need them (docs/tiles.md).
ANALYZE layers_feature;
"""

BACKWARD = f"""
DROP TRIGGER layers_layer_partition_create ON layers_layer;
DROP TRIGGER layers_layer_partition_drop ON layers_layer;
DROP FUNCTION layers_layer_partition_create(), layers_layer_partition_drop(),
    layers_feature_partition_create(bigint),
    layers_feature_partition_name(bigint);

ALTER TABLE layers_feature RENAME TO layers_feature_partitioned;
ALTER INDEX layers_feature_pkey RENAME TO layers_feature_partitioned_pkey;
DROP INDEX feature_geom3857_gist, feature_search_trgm;
CREATE TABLE layers_feature (
    LIKE layers_feature_partitioned INCLUDING DEFAULTS INCLUDING GENERATED
);
ALTER TABLE layers_feature ALTER COLUMN id ADD GENERATED BY DEFAULT AS IDENTITY;
INSERT INTO layers_feature ({COPY_COLUMNS})
    SELECT {COPY_COLUMNS} FROM layers_feature_partitioned ORDER BY id;
SELECT setval(pg_get_serial_sequence('layers_feature', 'id'),
              coalesce((SELECT max(id) FROM layers_feature), 0) + 1, false);
DROP TABLE layers_feature_partitioned;
ALTER TABLE layers_feature ADD CONSTRAINT layers_feature_pkey PRIMARY KEY (id);
ALTER TABLE layers_feature ADD CONSTRAINT layers_feature_layer_id_cbd2a8db_fk_layers_layer_id
    FOREIGN KEY (layer_id) REFERENCES layers_layer (id) DEFERRABLE INITIALLY DEFERRED;
CREATE INDEX feature_layer_geom3857_gist ON layers_feature USING gist (layer_id, geom_3857);
CREATE INDEX feature_layer_id_idx ON layers_feature (layer_id, id);
CREATE INDEX feature_search_trgm ON layers_feature USING gin (search_text gin_trgm_ops);
{TILE_CHANGE_TRIGGERS}
"""


class Migration(migrations.Migration):
    dependencies = [
        ("layers", "0006_hardening"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.RemoveIndex(model_name="feature", name="feature_layer_geom3857_gist"),
                migrations.RemoveIndex(model_name="feature", name="feature_layer_id_idx"),
                migrations.AddIndex(
                    model_name="feature",
                    index=GistIndex(fields=["geom_3857"], name="feature_geom3857_gist"),
                ),
                migrations.AlterField(
                    model_name="feature",
                    name="layer",
                    field=models.ForeignKey(
                        db_constraint=False,
                        db_index=False,
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        related_name="features",
                        to="layers.layer",
                        verbose_name="layer",
                    ),
                ),
            ],
            database_operations=[migrations.RunSQL(sql=FORWARD, reverse_sql=BACKWARD)],
        ),
    ]
