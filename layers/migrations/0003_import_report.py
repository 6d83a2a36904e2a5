# The import's report: what was read and how long each step took (issue #3).

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("layers", "0002_tiles"),
    ]

    operations = [
        migrations.AddField(
            model_name="importjob",
            name="report",
            field=models.JSONField(
                blank=True,
                default=dict,
                help_text="What was read (format, layer, CRS, encoding) and how long each step took.",
                verbose_name="report",
            ),
        ),
    ]
