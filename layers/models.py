"""The data model: categories, layers, their features, and the jobs that do slow work on them."""

from __future__ import annotations

import secrets

from django.conf import settings
from django.contrib.auth.models import Group
from django.contrib.gis.db import models
from django.contrib.gis.db.models.functions import Transform
from django.contrib.postgres.indexes import GinIndex, GistIndex, OpClass
from django.core.exceptions import ValidationError
from django.db.models import F, Func, Q
from django.db.models.functions import Lower, Now
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from .querysets import LayerQuerySet

MAX_ZOOM = 24


def _localised(obj, field: str) -> str:
    """Return the Vietnamese or English value of a `<field>_vi`/`<field>_en` pair."""
    language = (get_language() or "vi")[:2]
    primary = getattr(obj, f"{field}_{'en' if language == 'en' else 'vi'}")
    return primary or getattr(obj, f"{field}_vi") or getattr(obj, f"{field}_en")


class Category(models.Model):
    """A theme that groups layers in the layer tree (tourism, transport, health…)."""

    slug = models.SlugField(_("slug"), max_length=64, unique=True)
    name_vi = models.CharField(_("name (Vietnamese)"), max_length=200)
    name_en = models.CharField(_("name (English)"), max_length=200, blank=True)
    order = models.PositiveIntegerField(_("order"), default=0)
    icon = models.CharField(
        _("icon"), max_length=64, blank=True, help_text=_("Icon name used by the web map.")
    )

    class Meta:
        ordering = ["order", "slug"]
        verbose_name = _("category")
        verbose_name_plural = _("categories")

    def __str__(self) -> str:
        return self.name

    @property
    def name(self) -> str:
        return _localised(self, "name")


class LayerVisibility(models.TextChoices):
    PUBLIC = "public", _("Public (everyone)")
    INTERNAL = "internal", _("Internal (signed-in users)")
    RESTRICTED = "restricted", _("Restricted (named groups)")


class LayerStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")
    IMPORTING = "importing", _("Importing")
    READY = "ready", _("Ready")
    FAILED = "failed", _("Failed")


class GeometryType(models.TextChoices):
    POINT = "point", _("Point")
    LINE = "line", _("Line")
    POLYGON = "polygon", _("Polygon")
    MIXED = "mixed", _("Mixed")


class Layer(models.Model):
    """A thematic data layer: its metadata, style, who may see it and the version of its data."""

    Visibility = LayerVisibility
    Status = LayerStatus
    GeometryType = GeometryType

    slug = models.SlugField(_("slug"), max_length=100, unique=True)
    title_vi = models.CharField(_("title (Vietnamese)"), max_length=200)
    title_en = models.CharField(_("title (English)"), max_length=200, blank=True)
    description_vi = models.TextField(_("description (Vietnamese)"), blank=True)
    description_en = models.TextField(_("description (English)"), blank=True)
    category = models.ForeignKey(
        Category, on_delete=models.PROTECT, related_name="layers", verbose_name=_("category")
    )
    geometry_type = models.CharField(
        _("geometry type"), max_length=16, choices=GeometryType, default=GeometryType.MIXED
    )
    attribute_schema = models.JSONField(
        _("attribute schema"),
        default=list,
        blank=True,
        help_text=_('A list of fields: {"name", "type", "label_vi", "label_en"}.'),
    )
    name_field = models.CharField(
        _("naming field"),
        max_length=100,
        blank=True,
        help_text=_("The attribute that names a feature (shown in search and popups)."),
    )
    style = models.JSONField(
        _("style"),
        default=dict,
        blank=True,
        help_text=_("MapLibre paint and layout for the layer."),
    )
    # A time-enabled layer names the attributes that hold each feature's time: a start alone is an
    # instant (a time field); a start and an end are a validity interval, either end open when the
    # value is missing. Both blank: the layer is not time-enabled.
    time_start_field = models.CharField(
        _("time field / valid from"),
        max_length=100,
        blank=True,
        help_text=_(
            "The date or date-time attribute that holds a feature's time, or the start of its "
            "validity. Blank: the layer is not time-enabled."
        ),
    )
    time_end_field = models.CharField(
        _("valid to"),
        max_length=100,
        blank=True,
        help_text=_(
            "The date or date-time attribute that ends a feature's validity (empty value: still "
            "valid). Blank: features are instants at the time field."
        ),
    )
    min_zoom = models.PositiveSmallIntegerField(_("min zoom"), default=0)
    max_zoom = models.PositiveSmallIntegerField(_("max zoom"), default=22)
    prebuild_zoom = models.PositiveSmallIntegerField(
        _("prebuild depth"),
        default=14,
        help_text=_("Tiles are prebuilt from the min zoom to this zoom; deeper ones on demand."),
    )
    tile_fields = models.JSONField(
        _("tile attributes"),
        default=list,
        blank=True,
        help_text=_(
            "Attributes carried in the vector tiles. Empty: the naming field and the fields the "
            "style reads."
        ),
    )
    extent = models.PolygonField(_("extent"), srid=4326, null=True, blank=True)
    feature_count = models.PositiveIntegerField(_("feature count"), default=0)
    metadata = models.JSONField(
        _("metadata"),
        default=dict,
        blank=True,
        help_text=_(
            'Further metadata: keywords, contact, update frequency…; "search_fields": the '
            "attributes search reads beside the name (e.g. former names)."
        ),
    )
    source = models.TextField(_("source"), blank=True)
    licence = models.CharField(_("licence"), max_length=200, blank=True)
    attribution = models.TextField(_("attribution"), blank=True)
    visibility = models.CharField(
        _("visibility"), max_length=16, choices=Visibility, default=Visibility.INTERNAL
    )
    groups = models.ManyToManyField(
        Group,
        blank=True,
        related_name="layers",
        verbose_name=_("groups"),
        help_text=_("Who may see a restricted layer."),
    )
    editor_groups = models.ManyToManyField(
        Group,
        blank=True,
        related_name="editable_layers",
        verbose_name=_("editor groups"),
        help_text=_(
            "Whose members may edit the layer's features (besides GIS staff), if they may see it."
        ),
    )
    status = models.CharField(_("status"), max_length=16, choices=Status, default=Status.DRAFT)
    version = models.PositiveIntegerField(
        _("version"), default=1, help_text=_("Changes whenever the layer's data changes.")
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("created by"),
    )

    objects = LayerQuerySet.as_manager()

    class Meta:
        ordering = ["category__order", "title_vi"]
        verbose_name = _("layer")
        verbose_name_plural = _("layers")
        constraints = [
            models.CheckConstraint(
                condition=Q(min_zoom__lte=F("max_zoom")) & Q(max_zoom__lte=MAX_ZOOM),
                name="layer_zoom_range",
                violation_error_message=_(
                    "The min zoom must not exceed the max zoom (at most 24)."
                ),
            ),
            models.CheckConstraint(
                condition=Q(prebuild_zoom__lte=F("max_zoom")),
                name="layer_prebuild_within_range",
                violation_error_message=_("The prebuild depth must not exceed the max zoom."),
            ),
            models.CheckConstraint(
                condition=Q(visibility__in=LayerVisibility.values),
                name="layer_visibility_valid",
            ),
            models.CheckConstraint(
                condition=Q(status__in=LayerStatus.values), name="layer_status_valid"
            ),
            models.CheckConstraint(condition=Q(version__gte=1), name="layer_version_positive"),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def title(self) -> str:
        return _localised(self, "title")

    @property
    def description(self) -> str:
        return _localised(self, "description")

    def clean(self) -> None:
        super().clean()
        names = [field.get("name") for field in self.attribute_schema or []]
        if self.name_field and names and self.name_field not in names:
            raise ValidationError(
                {"name_field": _("The naming field must be one of the layer's attributes.")}
            )
        self._clean_time_fields()
        self._clean_search_fields()
        from layers.styles import layer_style_errors  # it builds styles from layers

        if self.slug and (errors := layer_style_errors(self)):
            raise ValidationError(
                {"style": [_("This style does not make a valid MapLibre style:"), *errors]}
            )

    def _clean_search_fields(self) -> None:
        """Check `metadata["search_fields"]`: a list of the schema's attributes search also reads.

        Search itself skips what is not a name (layers/features/search.py), so a typo would only
        make a former name silently unfindable: say so here instead.
        """
        metadata = self.metadata if isinstance(self.metadata, dict) else {}
        searched = metadata.get("search_fields")
        if searched is None:
            return
        declared = [
            field.get("name")
            for field in self.attribute_schema or []
            if isinstance(field, dict) and field.get("name")
        ]
        if not isinstance(searched, list) or not all(
            isinstance(name, str) and name for name in searched
        ):
            raise ValidationError(
                {
                    "metadata": _(
                        '"search_fields" must be a list of attribute names, e.g. ["before_merger"].'
                    )
                }
            )
        unknown = [name for name in searched if declared and name not in declared]
        if unknown:
            raise ValidationError(
                {
                    "metadata": _(
                        '"search_fields" names %(fields)s, which this layer does not have; its '
                        "attributes are: %(names)s."
                    )
                    % {
                        "fields": ", ".join(f"'{name}'" for name in unknown),
                        "names": ", ".join(declared),
                    }
                }
            )

    def _clean_time_fields(self) -> None:
        """Check that the time fields name date or date-time attributes of the schema."""
        from layers.features.temporal import TIME_TYPES  # it reads layers, not the reverse

        if self.time_end_field and not self.time_start_field:
            raise ValidationError(
                {
                    "time_start_field": _(
                        "A validity interval needs its start field too: name the attribute "
                        "that holds when each feature became valid."
                    )
                }
            )
        declared = {
            field.get("name"): str(field.get("type") or "text").lower()
            for field in self.attribute_schema or []
            if isinstance(field, dict) and field.get("name")
        }
        errors = {}
        for name in ("time_start_field", "time_end_field"):
            value = getattr(self, name)
            if not value:
                continue
            if value not in declared:
                errors[name] = _(
                    "'%(field)s' is not an attribute of this layer; its attributes are: %(names)s."
                ) % {"field": value, "names": ", ".join(declared) or _("none yet")}
            elif declared[value] not in TIME_TYPES:
                errors[name] = _(
                    "'%(field)s' is of type '%(type)s': a time field must be of type date or "
                    "datetime (change its type in the attribute schema)."
                ) % {"field": value, "type": declared[value]}
        if not errors and self.time_end_field and self.time_end_field == self.time_start_field:
            errors["time_end_field"] = _(
                "The end of validity must be another attribute than its start (leave it blank "
                "for a time field that holds an instant)."
            )
        if errors:
            raise ValidationError(errors)


class Unaccent(Func):
    """`f_unaccent(text)`: unaccent wrapped as IMMUTABLE, so a stored column can use it."""

    function = "f_unaccent"
    output_field = models.TextField()


class Feature(models.Model):
    """One feature of a layer: geometry (4326, with a 3857 copy for tiles) and attributes."""

    # The table is list-partitioned by layer (migration 0007, layers/partitions.py): one table per
    # layer, made and dropped with the layer by triggers on layers_layer. So no foreign key (a row
    # cannot exist without its layer's partition, and the key's checks cost imports) and no
    # cascade from Django: deleting a layer drops its partition at once.
    layer = models.ForeignKey(
        Layer,
        on_delete=models.DO_NOTHING,
        related_name="features",
        verbose_name=_("layer"),
        db_index=False,
        db_constraint=False,
    )
    # No spatial index on the 4326 geometry: every spatial query filters a layer's features through
    # the geom_3857 GiST index below (bbox boxes are transformed once, see features/query.py), and
    # the second GiST index cost imports about a fifth of their write.
    geom = models.GeometryField(_("geometry"), srid=4326, spatial_index=False)
    # Kept in step by PostgreSQL itself, so no code path (ORM, raw SQL, COPY) can forget it.
    geom_3857 = models.GeneratedField(
        expression=Transform("geom", 3857),
        output_field=models.GeometryField(srid=3857, spatial_index=False),
        db_persist=True,
    )
    attributes = models.JSONField(_("attributes"), default=dict, blank=True)
    name = models.TextField(_("name"), blank=True, default="")
    # Lower-case and accent-free, so "dai noi" matches "Đại Nội" (unaccent maps đ to d).
    search_text = models.GeneratedField(
        expression=Unaccent(Lower("name")),
        output_field=models.TextField(),
        db_persist=True,
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    # When this version began: on a change of geometry or attributes the trigger of migration 0008
    # sets it to the transaction's time, the same instant the previous version's `valid_to` gets.
    updated_at = models.DateTimeField(_("updated"), auto_now=True)
    # Raised by the trigger on every change of geometry or attributes: the ETag of optimistic
    # locking (layers/services.py), and the number of the version in the feature's history.
    # No CHECK constraint: new partitions are made LIKE the parent, which copies none.
    version = models.IntegerField(_("version"), default=1, db_default=1)
    # The ChangeEvent that wrote this version (a plain id: the table is partitioned and imports
    # write it for a million rows at once).
    event_id = models.BigIntegerField(_("change"), null=True, blank=True)

    class Meta:
        verbose_name = _("feature")
        verbose_name_plural = _("features")
        indexes = [
            # Per partition, so per layer: partition pruning picks the layer, the index the place.
            GistIndex(fields=["geom_3857"], name="feature_geom3857_gist"),
            GinIndex(OpClass("search_text", name="gin_trgm_ops"), name="feature_search_trgm"),
            # The primary key in the database is (layer_id, id) (a partitioned table's unique
            # indexes must hold the partition key): it serves paging by id within a layer.
        ]

    def __str__(self) -> str:
        return self.name or f"#{self.pk}"


class JobStatus(models.TextChoices):
    QUEUED = "queued", _("Queued")
    RUNNING = "running", _("Running")
    SUCCEEDED = "succeeded", _("Succeeded")
    FAILED = "failed", _("Failed")
    CANCELLED = "cancelled", _("Cancelled")


class Job(models.Model):
    """What every slow job shares: who started it, its state, progress, messages and timings."""

    Status = JobStatus

    layer = models.ForeignKey(
        Layer, on_delete=models.CASCADE, null=True, blank=True, verbose_name=_("layer")
    )
    status = models.CharField(_("status"), max_length=16, choices=Status, default=Status.QUEUED)
    progress_done = models.PositiveBigIntegerField(_("done"), default=0)
    progress_total = models.PositiveBigIntegerField(_("total"), default=0)
    messages = models.JSONField(
        _("messages"),
        default=list,
        blank=True,
        help_text=_('Warnings and errors: {"level", "feature", "message"}.'),
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("started by"),
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    started_at = models.DateTimeField(_("started"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    # Who runs it and whether they are still alive: the sweeper (layers/jobs.py) fails or requeues
    # a running job whose worker is gone, and counts the attempts so a poison job stops.
    worker = models.CharField(
        _("worker"), max_length=255, blank=True, help_text=_("host:pid of the worker running it.")
    )
    heartbeat_at = models.DateTimeField(_("last sign of life"), null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)

    class Meta:
        abstract = True
        ordering = ["-created_at"]

    @property
    def progress_percent(self) -> int:
        if not self.progress_total:
            return 100 if self.status == self.Status.SUCCEEDED else 0
        return min(100, round(100 * self.progress_done / self.progress_total))

    @property
    def progress_summary(self) -> dict:
        """Return the progress as the API shows it: done, total and percent."""
        return {
            "done": self.progress_done,
            "total": self.progress_total,
            "percent": self.progress_percent,
        }


class ImportJob(Job):
    """An upload being read into a layer (create, replace or append)."""

    class Mode(models.TextChoices):
        CREATE = "create", _("Create a new layer")
        REPLACE = "replace", _("Replace the layer's data")
        APPEND = "append", _("Append to the layer")

    mode = models.CharField(_("mode"), max_length=16, choices=Mode, default=Mode.REPLACE)
    source_name = models.CharField(_("file name"), max_length=255, blank=True)
    upload = models.FileField(_("file"), upload_to="imports/", blank=True)
    options = models.JSONField(_("options"), default=dict, blank=True)
    imported_count = models.PositiveIntegerField(_("imported"), default=0)
    repaired_count = models.PositiveIntegerField(_("repaired"), default=0)
    skipped_count = models.PositiveIntegerField(_("skipped"), default=0)
    report = models.JSONField(
        _("report"),
        default=dict,
        blank=True,
        help_text=_("What was read (format, layer, CRS, encoding) and how long each step took."),
    )

    class Meta(Job.Meta):
        verbose_name = _("import job")
        verbose_name_plural = _("import jobs")
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=JobStatus.values), name="importjob_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(progress_done__lte=F("progress_total")) | Q(progress_total=0),
                name="importjob_progress_bounded",
            ),
        ]

    def __str__(self) -> str:
        # gettext outside the f-string: xgettext does not read f-strings.
        name = self.source_name or _("import")
        return f"{name} → {self.layer or '?'} ({self.get_status_display()})"


class TileJob(Job):
    """A run that prebuilds a layer's tile pyramid into the cache."""

    min_zoom = models.PositiveSmallIntegerField(_("min zoom"), default=0)
    max_zoom = models.PositiveSmallIntegerField(_("max zoom"), default=14)
    tiles_rendered = models.PositiveBigIntegerField(_("tiles rendered"), default=0)
    tiles_skipped = models.PositiveBigIntegerField(
        _("tiles skipped"), default=0, help_text=_("Already current in the cache.")
    )
    requested_max_zoom = models.PositiveSmallIntegerField(
        _("requested max zoom"),
        null=True,
        blank=True,
        help_text=_("The depth asked for, when the tile budget made the job prebuild less."),
    )
    report = models.JSONField(
        _("report"),
        default=dict,
        blank=True,
        help_text=_("How the job was planned: the depth chosen and why, tiles per zoom."),
    )

    class Meta(Job.Meta):
        verbose_name = _("tile job")
        verbose_name_plural = _("tile jobs")
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=JobStatus.values), name="tilejob_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(min_zoom__lte=F("max_zoom")), name="tilejob_zoom_range"
            ),
            models.CheckConstraint(
                condition=Q(progress_done__lte=F("progress_total")) | Q(progress_total=0),
                name="tilejob_progress_bounded",
            ),
        ]

    def __str__(self) -> str:
        tiles = _("tiles")
        return f"{tiles} {self.layer or '?'} z{self.min_zoom}-{self.max_zoom}"


class TileJobChunk(models.Model):
    """A share of a tile job's tiles that one worker renders; chunks make a job resumable."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        RUNNING = "running", _("Running")
        DONE = "done", _("Done")

    job = models.ForeignKey(
        TileJob, on_delete=models.CASCADE, related_name="chunks", verbose_name=_("tile job")
    )
    number = models.PositiveIntegerField(_("number"))
    tiles = models.JSONField(_("tiles"), help_text=_("[[z, x, y], …] in rendering order."))
    status = models.CharField(_("status"), max_length=16, choices=Status, default=Status.PENDING)
    started_at = models.DateTimeField(_("started"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    worker = models.CharField(
        _("worker"), max_length=255, blank=True, help_text=_("host:pid of the worker running it.")
    )
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)

    class Meta:
        ordering = ["job", "number"]
        verbose_name = _("tile job chunk")
        verbose_name_plural = _("tile job chunks")
        constraints = [
            models.UniqueConstraint(fields=["job", "number"], name="tilejobchunk_unique_number"),
            models.CheckConstraint(
                condition=Q(status__in=["pending", "running", "done"]),
                name="tilejobchunk_status_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.job_id}#{self.number}"


class ExportJob(Job):
    """A layer's features written to a file by a worker, downloadable until it expires."""

    class Format(models.TextChoices):
        GEOJSON = "geojson", "GeoJSON"
        CSV = "csv", "CSV"
        GPKG = "gpkg", "GeoPackage"
        SHP = "shp", _("Shapefile (zip)")
        KML = "kml", "KML"

    format = models.CharField(_("format"), max_length=16, choices=Format)
    params = models.JSONField(
        _("parameters"),
        default=dict,
        blank=True,
        help_text=_("What was asked for: bbox, attribute filters, search text."),
    )
    file = models.FileField(_("file"), upload_to="exports/", blank=True)
    file_name = models.CharField(_("file name"), max_length=255, blank=True)
    size_bytes = models.PositiveBigIntegerField(_("size (bytes)"), default=0)
    feature_count = models.PositiveBigIntegerField(_("features"), default=0)
    expires_at = models.DateTimeField(_("expires"), null=True, blank=True)

    class Meta(Job.Meta):
        verbose_name = _("export job")
        verbose_name_plural = _("export jobs")
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=JobStatus.values), name="exportjob_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(progress_done__lte=F("progress_total")) | Q(progress_total=0),
                name="exportjob_progress_bounded",
            ),
        ]

    def __str__(self) -> str:
        export = _("export")
        return f"{export} {self.layer or '?'} ({self.get_format_display()})"


class QueuedTask(models.Model):
    """A task to send to the workers: the outbox of `layers.queueing`.

    Written in the same transaction as the work it asks for, so a committed job always has its
    message: sent (and the row removed) once the transaction commits, or kept while the broker
    is down and sent by `outbox_flush` when it is back.
    """

    task = models.CharField(_("task"), max_length=200)
    args = models.JSONField(_("arguments"), default=list, blank=True)
    kwargs = models.JSONField(_("keyword arguments"), default=dict, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    attempts = models.PositiveIntegerField(_("send attempts"), default=0)
    last_error = models.TextField(_("last error"), blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        verbose_name = _("queued task")
        verbose_name_plural = _("queued tasks")

    def __str__(self) -> str:
        return f"{self.task}{tuple(self.args)}"


class TileChange(models.Model):
    """A box (EPSG:3857) where a layer's data changed and its cached tiles may be stale.

    Rows are written by a database trigger on `layers_feature`, so every write path (ORM, raw SQL,
    COPY) is seen; `layers.tiles.invalidate` consumes them once the writing transaction commits.
    The layer is a plain id, not a foreign key: rows appear while a layer's features are deleted.
    """

    layer_id = models.BigIntegerField(_("layer id"), db_index=True)
    min_x = models.FloatField()
    min_y = models.FloatField()
    max_x = models.FloatField()
    max_y = models.FloatField()
    feature_count = models.PositiveIntegerField(
        _("features"), default=1, help_text=_("How many changed features the box stands for.")
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("tile change")
        verbose_name_plural = _("tile changes")

    def __str__(self) -> str:
        box = f"{self.min_x:.0f},{self.min_y:.0f},{self.max_x:.0f},{self.max_y:.0f}"
        return f"{self.layer_id}: {box}"


class ChangeAction(models.TextChoices):
    CREATE = "create", _("Created")
    UPDATE = "update", _("Changed")
    DELETE = "delete", _("Deleted")
    RESTORE = "restore", _("Restored")
    IMPORT = "import", _("Imported")
    SYNC = "sync", _("Synchronised")
    ATTACH = "attach", _("File attached")
    DETACH = "detach", _("File removed")
    EDIT = "edit", _("Changed in the database")


class ChangeChannel(models.TextChoices):
    MAP = "map", _("Web map")
    API = "api", _("REST API")
    OGC = "ogc", _("OGC API")
    ADMIN = "admin", _("Admin")
    IMPORT = "import", _("Import")
    SYNC = "sync", _("Sync")
    DATABASE = "database", _("Database (SQL)")


class ChangeEvent(models.Model):
    """One change to a layer's features: who, when, through which path, and what.

    A single edit names its feature; an import or sync is one event with its counts. The versions
    it wrote carry its id (`Feature.event_id`, `FeatureVersion.event_id`), the versions it ended
    name it in `FeatureVersion.ended_by`. A write that no service announced (plain SQL) gets an
    event of channel `database` from the trigger, so nothing goes unrecorded.
    """

    Action = ChangeAction
    Channel = ChangeChannel

    layer = models.ForeignKey(
        Layer, on_delete=models.CASCADE, related_name="changes", verbose_name=_("layer")
    )
    feature_id = models.BigIntegerField(_("feature"), null=True, blank=True)
    action = models.CharField(_("action"), max_length=16, choices=ChangeAction)
    channel = models.CharField(_("through"), max_length=16, choices=ChangeChannel)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("by"),
    )
    # The transaction's time, as the triggers' now(): a version's end and the next one's start.
    at = models.DateTimeField(_("at"), db_default=Now())
    counts = models.JSONField(
        _("counts"), default=dict, blank=True, help_text=_("For imports: added, removed.")
    )
    job = models.ForeignKey(
        "ImportJob",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("import"),
    )
    note = models.TextField(_("note"), blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name = _("change")
        verbose_name_plural = _("changes")
        indexes = [
            models.Index(fields=["layer", "-at"], name="changeevent_layer_at"),
            models.Index(fields=["layer", "feature_id"], name="changeevent_layer_feature"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(action__in=ChangeAction.values), name="changeevent_action_valid"
            ),
            models.CheckConstraint(
                condition=Q(channel__in=ChangeChannel.values), name="changeevent_channel_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_action_display()} {self.layer_id}/{self.feature_id or '*'} {self.at}"


class FeatureVersion(models.Model):
    """A past version of a feature: what it was from `valid_from` until `valid_to`.

    Written by the database (migration 0008): a trigger copies the old row on every change of
    geometry or attributes and on every delete; a replacing import does not copy anything, it
    keeps the layer's whole old partition as a child table of this one (PostgreSQL inheritance,
    layers/partitions.py), so reading this table reads those too.
    """

    pk = models.CompositePrimaryKey("layer_id", "feature_id", "version")
    feature_id = models.BigIntegerField(_("feature"), db_column="id")
    layer_id = models.BigIntegerField(_("layer"))
    geom = models.GeometryField(_("geometry"), srid=4326, spatial_index=False)
    attributes = models.JSONField(_("attributes"), default=dict)
    name = models.TextField(_("name"), blank=True, default="")
    created_at = models.DateTimeField(_("created"))
    valid_from = models.DateTimeField(_("valid from"), db_column="updated_at")
    valid_to = models.DateTimeField(_("valid until"))
    version = models.PositiveIntegerField(_("version"))
    event_id = models.BigIntegerField(_("written by change"), null=True)
    ended_by = models.BigIntegerField(_("ended by change"), null=True)

    class Meta:
        managed = False
        db_table = "layers_featureversion"
        ordering = ["-valid_to"]
        verbose_name = _("feature version")
        verbose_name_plural = _("feature versions")

    def __str__(self) -> str:
        return f"{self.layer_id}/{self.feature_id} v{self.version}"


def _attachment_path(attachment: FeatureAttachment, filename: str) -> str:
    # A random name: the stored file can never be guessed (the original name is kept apart, and
    # only said in the download's Content-Disposition).
    extension = filename.rsplit(".", 1)[-1].lower() if "." in filename else "bin"
    return f"attachments/{attachment.layer_id}/{secrets.token_urlsafe(18)}.{extension}"


def _thumbnail_path(attachment: FeatureAttachment, filename: str) -> str:
    return f"attachments/{attachment.layer_id}/thumbnails/{secrets.token_urlsafe(18)}.jpg"


class FeatureAttachment(models.Model):
    """A photo or document attached to one feature of a layer (layers/attachments.py).

    A removed attachment is kept with `removed_at` set: hidden from the feature, still shown in its
    history and downloadable by its editors. Its files go only when the layer goes.
    """

    layer = models.ForeignKey(
        Layer, on_delete=models.CASCADE, related_name="attachments", verbose_name=_("layer")
    )
    # A plain id, not a key: layers_feature is partitioned and keyed (layer_id, id), and a deleted
    # feature keeps its attachments for when it is restored (with the same id).
    feature_id = models.BigIntegerField(_("feature"))
    file = models.FileField(_("file"), upload_to=_attachment_path, max_length=255)
    thumbnail = models.FileField(
        _("thumbnail"), upload_to=_thumbnail_path, max_length=255, null=True, blank=True
    )
    name = models.CharField(_("file name"), max_length=255, help_text=_("As it was uploaded."))
    content_type = models.CharField(_("content type"), max_length=100)
    size_bytes = models.PositiveBigIntegerField(_("size (bytes)"))
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("uploaded by"),
    )
    uploaded_at = models.DateTimeField(_("uploaded"), db_default=Now())
    removed_at = models.DateTimeField(_("removed"), null=True, blank=True)
    removed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("removed by"),
    )
    added_event = models.ForeignKey(
        ChangeEvent,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("added by change"),
    )
    removed_event = models.ForeignKey(
        ChangeEvent,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("removed by change"),
    )

    class Meta:
        ordering = ["uploaded_at", "id"]
        verbose_name = _("attachment")
        verbose_name_plural = _("attachments")
        indexes = [
            models.Index(fields=["layer", "feature_id"], name="attachment_layer_feature"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(removed_at__isnull=True) | Q(removed_at__gte=F("uploaded_at")),
                name="attachment_removed_after_upload",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.layer_id}/{self.feature_id})"

    @property
    def removed(self) -> bool:
        return self.removed_at is not None
