"""Layer sources: a layer fed from another system (OGC API, WFS, ArcGIS REST, a file at a URL, a
PostgreSQL table), pulled by a worker on a schedule or on demand, and the record of each run.

One source per layer: a source mirrors its data into the layer (replace, or upsert by a key), so
two sources feeding one layer would undo each other's work.
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from layers.models import Layer


class SourceKind(models.TextChoices):
    OAPIF = "oapif", _("OGC API - Features collection")
    WFS = "wfs", _("WFS 2.0 feature type")
    ARCGIS = "arcgis", _("ArcGIS REST FeatureServer/MapServer layer")
    FILE = "file", _("File at a URL (GeoJSON, CSV, zipped Shapefile, GeoPackage)")
    POSTGRES = "postgres", _("PostgreSQL/PostGIS table or view")


class SourceMode(models.TextChoices):
    REPLACE = "replace", _("Replace all features")
    UPSERT = "upsert", _("Upsert by a key field (only changed features are written)")


class SourceAuth(models.TextChoices):
    NONE = "none", _("None")
    BASIC = "basic", _("User name and password")
    HEADER = "header", _("Authorization header (e.g. “Bearer …” or “Token …”)")
    TOKEN = "token", _("ArcGIS token (sent as ?token=)")


class RunStatus(models.TextChoices):
    RUNNING = "running", _("Running")
    SUCCEEDED = "succeeded", _("Succeeded")
    FAILED = "failed", _("Failed")


class LayerSource(models.Model):
    """Where a layer's data comes from, how it is written, when it is pulled, and how it went."""

    layer = models.OneToOneField(
        Layer, on_delete=models.CASCADE, related_name="feed", verbose_name=_("layer")
    )
    kind = models.CharField(_("kind"), max_length=16, choices=SourceKind)
    url = models.CharField(
        _("URL"),
        max_length=2000,
        help_text=_(
            "OGC API: the collection's URL (…/collections/{id}). WFS: the service URL. ArcGIS: "
            "the layer's URL (…/FeatureServer/0). File: the file's URL. PostgreSQL: "
            "postgresql://host:port/database (the password goes in the secret below)."
        ),
    )
    source_layer = models.CharField(
        _("layer, feature type or table"),
        max_length=255,
        blank=True,
        help_text=_(
            "WFS: the feature type (e.g. ns:roads). PostgreSQL: the table or view (schema.table). "
            "A file with several layers (GeoPackage): the layer. Otherwise leave empty."
        ),
    )
    auth = models.CharField(
        _("credentials"), max_length=16, choices=SourceAuth, default=SourceAuth.NONE
    )
    username = models.CharField(_("user name"), max_length=255, blank=True)
    # Write-only: the admin never shows it again, logs and run errors never carry it. Stored
    # sealed (sources/sealing.py): `plain_secret()` reads it, `source_save` seals it.
    secret = models.TextField(_("password or token"), blank=True, editable=False)
    options = models.JSONField(
        _("read options"),
        default=dict,
        blank=True,
        help_text=_(
            'As for an import: {"srid": 9214}, {"lon_field": "x", "lat_field": "y"}, '
            '{"encoding": "cp1258"}.'
        ),
    )
    mode = models.CharField(_("mode"), max_length=16, choices=SourceMode, default=SourceMode.UPSERT)
    key_field = models.CharField(
        _("key field"),
        max_length=255,
        blank=True,
        help_text=_("Upsert: the attribute that identifies a feature at the source (unique)."),
    )
    enabled = models.BooleanField(_("enabled"), default=True)
    interval = models.ForeignKey(
        "django_celery_beat.IntervalSchedule",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        verbose_name=_("every"),
    )
    crontab = models.ForeignKey(
        "django_celery_beat.CrontabSchedule",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        verbose_name=_("at (crontab)"),
    )
    periodic_task = models.OneToOneField(
        "django_celery_beat.PeriodicTask",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        editable=False,
        related_name="layer_source",
    )
    consecutive_failures = models.PositiveIntegerField(_("failures in a row"), default=0)
    paused_at = models.DateTimeField(_("paused"), null=True, blank=True, editable=False)
    running_since = models.DateTimeField(null=True, blank=True, editable=False)
    last_run_at = models.DateTimeField(_("last run"), null=True, blank=True, editable=False)
    last_status = models.CharField(
        _("last run's status"), max_length=16, choices=RunStatus, blank=True, editable=False
    )
    last_success_at = models.DateTimeField(_("last success"), null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("layer source")
        verbose_name_plural = _("layer sources")
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(mode="upsert") | ~models.Q(key_field=""),
                name="layersource_upsert_has_key",
            ),
            models.CheckConstraint(
                condition=models.Q(interval__isnull=True) | models.Q(crontab__isnull=True),
                name="layersource_one_schedule",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.layer} ← {self.get_kind_display()}"

    @property
    def has_secret(self) -> bool:
        return bool(self.secret)

    def plain_secret(self) -> str:
        """Return the password or token (SecretUnreadable if this server's key cannot open it)."""
        from .sealing import unseal  # cryptography is loaded only where a secret is read

        return unseal(self.secret)


class SourceRun(models.Model):
    """One sync of a source: when, how it ended, what it changed in the layer, and why it failed."""

    class Trigger(models.TextChoices):
        SCHEDULE = "schedule", _("Schedule")
        MANUAL = "manual", _("Sync now")

    source = models.ForeignKey(
        LayerSource, on_delete=models.CASCADE, related_name="runs", verbose_name=_("source")
    )
    trigger = models.CharField(
        _("started by"), max_length=16, choices=Trigger, default=Trigger.SCHEDULE
    )
    started_at = models.DateTimeField(_("started"), auto_now_add=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    status = models.CharField(
        _("status"), max_length=16, choices=RunStatus, default=RunStatus.RUNNING
    )
    read = models.PositiveIntegerField(_("read"), default=0)
    added = models.PositiveIntegerField(_("added"), default=0)
    changed = models.PositiveIntegerField(_("changed"), default=0)
    removed = models.PositiveIntegerField(_("removed"), default=0)
    unchanged = models.PositiveIntegerField(_("unchanged"), default=0)
    error = models.TextField(_("error"), blank=True)
    messages = models.JSONField(_("messages"), default=list, blank=True)
    change_event_id = models.BigIntegerField(_("change event"), null=True, blank=True)

    class Meta:
        verbose_name = _("source run")
        verbose_name_plural = _("source runs")
        ordering = ["-started_at", "-id"]
        indexes = [models.Index(fields=["source", "-started_at"])]

    def __str__(self) -> str:
        return f"{self.source} @ {self.started_at:%Y-%m-%d %H:%M} ({self.get_status_display()})"
