"""Sensor layers, stations, sources, latest readings; observations partitioned by month.

`sensors_observation` is made in SQL: PARTITION BY RANGE (time), one partition per calendar month
(UTC), a DEFAULT partition that catches any row whose month has no partition yet (so no reading is
ever refused for it), a BRIN index on time (readings arrive in time order, so a range scan reads
few blocks) and the primary key (datastream_id, time) that makes ingestion idempotent.
`sensors_observation_month(t)` creates the month of t, moving its rows out of the DEFAULT partition
first (sensors/partitions.py calls it ahead of time and before each batch).
"""

import datetime

import django.db.models.deletion
from django.db import migrations, models

OBSERVATION_SQL = """
CREATE TABLE sensors_observation (
    datastream_id bigint NOT NULL
        REFERENCES sensors_datastream (id) ON DELETE CASCADE,
    time timestamptz NOT NULL,
    value double precision NOT NULL,
    flag smallint NOT NULL DEFAULT 0,
    PRIMARY KEY (datastream_id, time)
) PARTITION BY RANGE (time);
CREATE TABLE sensors_observation_default PARTITION OF sensors_observation DEFAULT;
CREATE INDEX sensors_observation_time_brin ON sensors_observation USING brin (time);

-- The partition of the calendar month (UTC) holding `at`, created if missing; returns its name.
-- Rows of that month already caught by the DEFAULT partition move into it first, so the ATTACH
-- finds none left behind. One creator at a time (advisory lock), checked again once held.
CREATE FUNCTION sensors_observation_month(at timestamptz) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    lo_utc timestamp := date_trunc('month', at AT TIME ZONE 'UTC');
    lo timestamptz := lo_utc AT TIME ZONE 'UTC';
    hi timestamptz := (lo_utc + interval '1 month') AT TIME ZONE 'UTC';
    name text := 'sensors_observation_y' || to_char(lo_utc, 'YYYY"m"MM');
BEGIN
    IF to_regclass(name) IS NOT NULL THEN
        RETURN name;
    END IF;
    PERFORM pg_advisory_xact_lock(1397642323, 1);
    IF to_regclass(name) IS NOT NULL THEN
        RETURN name;
    END IF;
    EXECUTE format('CREATE TABLE %I (LIKE sensors_observation INCLUDING DEFAULTS)', name);
    EXECUTE format(
        'WITH moved AS (DELETE FROM sensors_observation_default WHERE time >= $1 AND time < $2 '
        'RETURNING datastream_id, time, value, flag) INSERT INTO %I SELECT * FROM moved', name
    ) USING lo, hi;
    EXECUTE format(
        'ALTER TABLE sensors_observation ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)',
        name, lo, hi
    );
    RETURN name;
END
$$;

SELECT sensors_observation_month(now() + make_interval(months => m))
FROM generate_series(-1, 2) AS m;
"""

REVERSE_SQL = """
DROP FUNCTION sensors_observation_month(timestamptz);
DROP TABLE sensors_observation;
"""


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("layers", "0013_time_enabled"),
    ]

    operations = [
        migrations.CreateModel(
            name="Datastream",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
            ],
            options={
                "verbose_name": "datastream",
                "verbose_name_plural": "datastreams",
            },
        ),
        migrations.CreateModel(
            name="ObservedProperty",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("code", models.SlugField(max_length=64, unique=True, verbose_name="code")),
                ("name_vi", models.CharField(max_length=200, verbose_name="name (Vietnamese)")),
                ("name_en", models.CharField(max_length=200, verbose_name="name (English)")),
                ("unit", models.CharField(max_length=32, verbose_name="unit")),
                (
                    "physical_min",
                    models.FloatField(blank=True, null=True, verbose_name="physical minimum"),
                ),
                (
                    "physical_max",
                    models.FloatField(blank=True, null=True, verbose_name="physical maximum"),
                ),
                (
                    "seasonal",
                    models.BooleanField(default=False, verbose_name="seasonal (daily cycle)"),
                ),
            ],
            options={
                "verbose_name": "observed property",
                "verbose_name_plural": "observed properties",
                "ordering": ["code"],
            },
        ),
        migrations.CreateModel(
            name="SensorSource",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("name", models.CharField(max_length=100, unique=True, verbose_name="name")),
                (
                    "key_prefix",
                    models.CharField(
                        blank=True, editable=False, max_length=16, verbose_name="key prefix"
                    ),
                ),
                (
                    "key_hash",
                    models.CharField(
                        blank=True,
                        db_index=True,
                        editable=False,
                        max_length=64,
                        verbose_name="key hash",
                    ),
                ),
                ("active", models.BooleanField(default=True, verbose_name="active")),
                ("created_at", models.DateTimeField(auto_now_add=True, verbose_name="created")),
            ],
            options={
                "verbose_name": "sensor source",
                "verbose_name_plural": "sensor sources",
                "ordering": ["name"],
            },
        ),
        migrations.CreateModel(
            name="Latest",
            fields=[
                (
                    "datastream",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        primary_key=True,
                        related_name="latest",
                        serialize=False,
                        to="sensors.datastream",
                        verbose_name="datastream",
                    ),
                ),
                ("time", models.DateTimeField(verbose_name="time")),
                ("value", models.FloatField(verbose_name="value")),
                (
                    "flag",
                    models.SmallIntegerField(
                        choices=[(0, "good"), (1, "suspect"), (2, "bad")],
                        default=0,
                        verbose_name="flag",
                    ),
                ),
                (
                    "state",
                    models.CharField(
                        choices=[
                            ("normal", "normal"),
                            ("warning", "warning"),
                            ("alarm", "alarm"),
                            ("anomalous", "anomalous"),
                        ],
                        default="normal",
                        max_length=16,
                        verbose_name="state",
                    ),
                ),
                (
                    "state_since",
                    models.DateTimeField(blank=True, null=True, verbose_name="state since"),
                ),
            ],
            options={
                "verbose_name": "latest observation",
                "verbose_name_plural": "latest observations",
            },
        ),
        migrations.AddField(
            model_name="datastream",
            name="property",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.PROTECT,
                related_name="datastreams",
                to="sensors.observedproperty",
                verbose_name="observed property",
            ),
        ),
        migrations.CreateModel(
            name="SensorLayer",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "retention_days",
                    models.PositiveIntegerField(default=400, verbose_name="retention (days)"),
                ),
                (
                    "stale_after",
                    models.DurationField(
                        default=datetime.timedelta(seconds=1800), verbose_name="stale after"
                    ),
                ),
                (
                    "layer",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="sensor_config",
                        to="layers.layer",
                        verbose_name="layer",
                    ),
                ),
            ],
            options={
                "verbose_name": "sensor layer",
                "verbose_name_plural": "sensor layers",
            },
        ),
        migrations.CreateModel(
            name="Station",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("feature_id", models.BigIntegerField(verbose_name="feature id")),
                ("code", models.CharField(max_length=64, verbose_name="code")),
                ("name", models.CharField(blank=True, max_length=200, verbose_name="name")),
                ("active", models.BooleanField(default=True, verbose_name="active")),
                (
                    "layer",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="stations",
                        to="layers.layer",
                        verbose_name="layer",
                    ),
                ),
                (
                    "source",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="stations",
                        to="sensors.sensorsource",
                        verbose_name="source",
                    ),
                ),
            ],
            options={
                "verbose_name": "station",
                "verbose_name_plural": "stations",
                "ordering": ["layer_id", "code"],
            },
        ),
        migrations.AddField(
            model_name="datastream",
            name="station",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.CASCADE,
                related_name="datastreams",
                to="sensors.station",
                verbose_name="station",
            ),
        ),
        migrations.AddConstraint(
            model_name="station",
            constraint=models.UniqueConstraint(
                fields=("layer", "code"), name="sensors_station_layer_code"
            ),
        ),
        migrations.AddConstraint(
            model_name="datastream",
            constraint=models.UniqueConstraint(
                fields=("station", "property"), name="sensors_datastream_station_property"
            ),
        ),
        # The table itself is made by the SQL below (partitioned); Django only learns its shape.
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="Observation",
                    fields=[
                        (
                            "pk",
                            models.CompositePrimaryKey(
                                "datastream_id",
                                "time",
                                blank=True,
                                editable=False,
                                primary_key=True,
                                serialize=False,
                            ),
                        ),
                        (
                            "datastream",
                            models.ForeignKey(
                                db_index=False,
                                on_delete=django.db.models.deletion.DO_NOTHING,
                                related_name="observations",
                                to="sensors.datastream",
                            ),
                        ),
                        ("time", models.DateTimeField(verbose_name="time")),
                        ("value", models.FloatField(verbose_name="value")),
                        (
                            "flag",
                            models.SmallIntegerField(
                                choices=[(0, "good"), (1, "suspect"), (2, "bad")],
                                default=0,
                                verbose_name="flag",
                            ),
                        ),
                    ],
                    options={
                        "verbose_name": "observation",
                        "verbose_name_plural": "observations",
                        "db_table": "sensors_observation",
                    },
                ),
            ],
            database_operations=[],
        ),
        migrations.RunSQL(OBSERVATION_SQL, REVERSE_SQL),
    ]
