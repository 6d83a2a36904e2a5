# Two indexes less for every import to keep up (docs/import.md, "Speed"): the b-tree on layer_id
# alone, which `feature_layer_id_idx` (layer_id, id) makes redundant, and the GiST index on the 4326
# geometry, now that spatial queries go through the (layer_id, geom_3857) GiST index. Dropping an
# index is quick (a brief exclusive lock, no rewrite). Django's own AlterField of the foreign key
# would also drop and re-add the constraint, re-checking every feature under a lock that holds off
# writes: only the index goes here, the constraint stays as it is.

import django.contrib.gis.db.models.fields
import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("layers", "0004_api_feature_layer_id_index"),
    ]

    operations = [
        migrations.AlterField(
            model_name="feature",
            name="geom",
            field=django.contrib.gis.db.models.fields.GeometryField(
                spatial_index=False, srid=4326, verbose_name="geometry"
            ),
        ),
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="feature",
                    name="layer",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="features",
                        to="layers.layer",
                        verbose_name="layer",
                    ),
                ),
            ],
            database_operations=[
                migrations.RunSQL(
                    sql='DROP INDEX IF EXISTS "layers_feature_layer_id_cbd2a8db"',
                    reverse_sql='CREATE INDEX "layers_feature_layer_id_cbd2a8db" '
                    'ON "layers_feature" ("layer_id")',
                ),
            ],
        ),
    ]
