"""Sensor layers: stations (features of a layer), their observed properties, sources and readings.

A layer is a *sensor layer* when it has a `SensorLayer` row; its features are the stations. A
`Datastream` is one property measured at one station. Observations live in
`sensors_observation`, range-partitioned by month on time (migration 0001, `sensors/partitions.py`);
`Latest` keeps the newest one per datastream so the map's "now" never scans the observations.
"""

from __future__ import annotations

from datetime import timedelta

from django.db import models
from django.utils.translation import gettext_lazy as _

from layers.models import Layer


class SensorLayer(models.Model):
    """Makes a layer a sensor layer: its features are stations; how long readings are kept."""

    layer = models.OneToOneField(
        Layer, on_delete=models.CASCADE, related_name="sensor_config", verbose_name=_("layer")
    )
    # The longest retention of all sensor layers decides which monthly partitions are dropped;
    # a shorter one deletes its own older rows (sensors/retention.py).
    retention_days = models.PositiveIntegerField(_("retention (days)"), default=400)
    # A station whose newest reading is older than this is shown and alerted as stale.
    stale_after = models.DurationField(_("stale after"), default=timedelta(minutes=30))

    class Meta:
        verbose_name = _("sensor layer")
        verbose_name_plural = _("sensor layers")

    def __str__(self) -> str:
        return str(self.layer)


class ObservedProperty(models.Model):
    """What is measured (water level, rainfall…), in which unit, within which physical range."""

    code = models.SlugField(_("code"), max_length=64, unique=True)
    name_vi = models.CharField(_("name (Vietnamese)"), max_length=200)
    name_en = models.CharField(_("name (English)"), max_length=200)
    # The one unit observations of this property are stored in ("m", "mm", "‰", "µg/m³", "°C").
    unit = models.CharField(_("unit"), max_length=32)
    physical_min = models.FloatField(_("physical minimum"), null=True, blank=True)
    physical_max = models.FloatField(_("physical maximum"), null=True, blank=True)
    # Has a daily cycle (air quality): anomaly detection compares with the hour-of-day baseline.
    seasonal = models.BooleanField(_("seasonal (daily cycle)"), default=False)

    class Meta:
        verbose_name = _("observed property")
        verbose_name_plural = _("observed properties")
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.code} ({self.unit})"


class SensorSource(models.Model):
    """Who may write observations: a key (shown once, kept hashed) and the stations it owns."""

    name = models.CharField(_("name"), max_length=100, unique=True)
    # The key's first characters, shown in the admin so a key can be recognised, never the key.
    key_prefix = models.CharField(_("key prefix"), max_length=16, editable=False, blank=True)
    # SHA-256 of the key, hex: the key is 256 random bits, so a slow hash adds nothing.
    key_hash = models.CharField(
        _("key hash"), max_length=64, editable=False, blank=True, db_index=True
    )
    active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("sensor source")
        verbose_name_plural = _("sensor sources")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Station(models.Model):
    """A monitoring station: one feature of a sensor layer, written to by one source."""

    layer = models.ForeignKey(
        Layer, on_delete=models.CASCADE, related_name="stations", verbose_name=_("layer")
    )
    # The feature's id (no foreign key: the feature table is partitioned by layer).
    feature_id = models.BigIntegerField(_("feature id"))
    # Also in the feature's attributes under "station".
    code = models.CharField(_("code"), max_length=64)
    name = models.CharField(_("name"), max_length=200, blank=True)
    source = models.ForeignKey(
        SensorSource,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="stations",
        verbose_name=_("source"),
    )
    active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("station")
        verbose_name_plural = _("stations")
        ordering = ["layer_id", "code"]
        constraints = [
            models.UniqueConstraint(fields=["layer", "code"], name="sensors_station_layer_code"),
        ]

    def __str__(self) -> str:
        return self.code


class Datastream(models.Model):
    """One property measured at one station: what observations belong to."""

    station = models.ForeignKey(
        Station, on_delete=models.CASCADE, related_name="datastreams", verbose_name=_("station")
    )
    property = models.ForeignKey(
        ObservedProperty,
        on_delete=models.PROTECT,
        related_name="datastreams",
        verbose_name=_("observed property"),
    )

    class Meta:
        verbose_name = _("datastream")
        verbose_name_plural = _("datastreams")
        constraints = [
            models.UniqueConstraint(
                fields=["station", "property"], name="sensors_datastream_station_property"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.station_id}:{self.property_id}"


class Flag(models.IntegerChoices):
    GOOD = 0, _("good")
    SUSPECT = 1, _("suspect")
    BAD = 2, _("bad")


class Observation(models.Model):
    """One reading. The table is made by migration 0001 in SQL: partitioned by month on time.

    Primary key (datastream_id, time): ingestion is idempotent on it. Rows are written by
    `sensors.ingest` in bulk SQL, not by the ORM; the model serves reads and the admin.
    """

    pk = models.CompositePrimaryKey("datastream_id", "time")
    # In the database the key cascades on delete (a datastream's readings go with it); Django does
    # nothing, so deleting a datastream never loads its million readings.
    datastream = models.ForeignKey(
        Datastream, on_delete=models.DO_NOTHING, related_name="observations", db_index=False
    )
    time = models.DateTimeField(_("time"))
    value = models.FloatField(_("value"))
    flag = models.SmallIntegerField(_("flag"), choices=Flag.choices, default=Flag.GOOD)

    class Meta:
        # Managed, although the migration makes the table in SQL (it is partitioned): Django's
        # flush (tests' transactional cleanup) only truncates the tables of managed models, and
        # the datastream table it truncates is referenced by this one.
        db_table = "sensors_observation"
        verbose_name = _("observation")
        verbose_name_plural = _("observations")

    def __str__(self) -> str:
        return f"{self.datastream_id} @ {self.time}: {self.value}"


class Latest(models.Model):
    """The newest observation of a datastream, kept by ingestion (only forward in time)."""

    class State(models.TextChoices):
        NORMAL = "normal", _("normal")
        WARNING = "warning", _("warning")
        ALARM = "alarm", _("alarm")
        ANOMALOUS = "anomalous", _("anomalous")

    datastream = models.OneToOneField(
        Datastream,
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="latest",
        verbose_name=_("datastream"),
    )
    time = models.DateTimeField(_("time"))
    value = models.FloatField(_("value"))
    flag = models.SmallIntegerField(_("flag"), choices=Flag.choices, default=Flag.GOOD)
    # Written by the evaluation (thresholds, anomalies); `stale` is decided when read.
    state = models.CharField(_("state"), max_length=16, choices=State.choices, default=State.NORMAL)
    state_since = models.DateTimeField(_("state since"), null=True, blank=True)

    class Meta:
        verbose_name = _("latest observation")
        verbose_name_plural = _("latest observations")

    def __str__(self) -> str:
        return f"{self.datastream_id} @ {self.time}: {self.value}"


# Thresholds, alerts and anomalies (issue 15 items 5 and 6) live in their own module.
from .models_alerts import (  # noqa: E402, F401
    Alert,
    AlertNotification,
    Anomaly,
    EvaluationCursor,
    Severity,
    Threshold,
)
