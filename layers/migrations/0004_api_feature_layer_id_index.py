# Paging a layer's features by id (the REST and OGC APIs' default order): one B-tree index on
# (layer, id) lets PostgreSQL count and skip a layer's features in an index-only scan, with no sort.

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("layers", "0003_import_report"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="feature",
            index=models.Index(fields=["layer", "id"], name="feature_layer_id_idx"),
        ),
    ]
