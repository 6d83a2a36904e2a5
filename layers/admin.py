"""The admin for GIS staff: categories, layers, features, and the jobs that work on them."""

from __future__ import annotations

import json

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.gis import admin as gis_admin
from django.contrib.gis.forms.widgets import OSMWidget
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from . import services
from .import_admin import ImportJobAdminMixin
from .models import Category, ExportJob, Feature, ImportJob, Layer, TileJob
from .querysets import can_edit_layers
from .queueing import enqueue
from .tiles.seed import tile_job_cancel, tile_job_start, tile_seed_start


class CityMapWidget(OSMWidget):
    """The admin's map: OpenLayers from our own static files (installed from npm) over the city's
    base layers as our own vector tiles, so it shows context with no internet."""

    template_name = "layers/admin/city_map_widget.html"

    class Media:
        extend = False
        css = {"all": ("vendor/ol/ol.css", "gis/css/ol3.css")}
        js = ("vendor/ol/ol.js", "gis/js/OLMapWidget.js", "layers/admin/city_map_widget.js")

    def get_context(self, name, value, attrs):
        context = super().get_context(name, value, attrs)
        base_layers = Layer.objects.filter(slug__in=settings.WEBMAP_BASE_LAYERS).values(
            "slug", "geometry_type", "min_zoom", "max_zoom", "style"
        )
        options = {
            "geom_name": context["geom_type"],
            "id": context["id"],
            "map_id": f"{context['id']}_map",
            "map_srid": context["map_srid"],
            "name": context["name"],
            "module": context["module"],
            "default_lon": float(context["default_lon"]),
            "default_lat": float(context["default_lat"]),
            "default_zoom": int(context["default_zoom"]),
            "base_layers": [
                {
                    "url": f"/tiles/{layer['slug']}/{{z}}/{{x}}/{{y}}.pbf",
                    "kind": layer["geometry_type"],
                    "min_zoom": layer["min_zoom"],
                    "max_zoom": layer["max_zoom"],
                    "color": _plain_colour(layer["style"]),
                }
                for layer in base_layers
            ],
        }
        # Embedded in a script element: escape what could close it (values are staff-edited).
        text = json.dumps(options).replace("<", "\\u003c").replace(">", "\\u003e")
        context["options_json"] = mark_safe(text.replace("&", "\\u0026"))
        return context


def _plain_colour(style: dict) -> str:
    """Return the layer style's main colour when it is a plain value (not an expression)."""
    paint = (style or {}).get("paint", {})
    for key in ("fill-color", "line-color", "circle-color", "fill-extrusion-color"):
        if isinstance(paint.get(key), str):
            return paint[key]
    return "#8a8a8a"


class MapAdmin(gis_admin.GISModelAdmin):
    gis_widget = CityMapWidget
    gis_widget_kwargs = {
        "attrs": {
            "default_lon": settings.CITY_CENTER[0],
            "default_lat": settings.CITY_CENTER[1],
            "default_zoom": settings.GIS_ADMIN_DEFAULT_ZOOM,
        }
    }


@admin.register(Category)
class CategoryAdmin(admin.ModelAdmin):
    list_display = ["name_vi", "name_en", "slug", "order", "icon", "layer_count"]
    list_editable = ["order"]
    search_fields = ["name_vi", "name_en", "slug"]
    prepopulated_fields = {"slug": ["name_en"]}

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        visible = Layer.objects.visible_to(request.user).values("pk")
        return (
            super()
            .get_queryset(request)
            .annotate(n_layers=Count("layers", filter=Q(layers__in=visible)))
        )

    @admin.display(description=_("layers"), ordering="n_layers")
    def layer_count(self, category: Category) -> int:
        return category.n_layers


@admin.register(Layer)
class LayerAdmin(MapAdmin):
    list_display = [
        "title_vi",
        "slug",
        "category",
        "geometry_type",
        "visibility",
        "status",
        "feature_count",
        "version",
        "updated_at",
    ]
    list_filter = ["category", "visibility", "status", "geometry_type"]
    list_select_related = ["category"]
    search_fields = ["slug", "title_vi", "title_en", "description_vi", "description_en"]
    prepopulated_fields = {"slug": ["title_en"]}
    filter_horizontal = ["groups"]
    readonly_fields = ["feature_count", "version", "created_at", "updated_at", "created_by"]
    actions = ["refresh_stats", "make_public", "make_internal", "seed_tiles"]
    fieldsets = [
        (None, {"fields": ["slug", "category", "status"]}),
        (
            _("Titles and descriptions"),
            {"fields": ["title_vi", "title_en", "description_vi", "description_en"]},
        ),
        (_("Who may see it"), {"fields": ["visibility", "groups"]}),
        (
            _("Data"),
            {
                "fields": [
                    "geometry_type",
                    "attribute_schema",
                    "name_field",
                    "feature_count",
                    "version",
                    "extent",
                ]
            },
        ),
        (
            _("Display"),
            {"fields": ["style", "min_zoom", "max_zoom", "prebuild_zoom", "tile_fields"]},
        ),
        (_("Source and licence"), {"fields": ["source", "licence", "attribution", "metadata"]}),
        (
            _("History"),
            {"fields": ["created_at", "updated_at", "created_by"], "classes": ["collapse"]},
        ),
    ]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        # The admin asks the same question as every endpoint: staff who may only view see
        # only the layers they may see (`can_edit_layers` staff see them all).
        return super().get_queryset(request).visible_to(request.user)

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change, **kwargs)
        # The extent is computed from the features: shown on a map, never typed in. A user who
        # may only view gets every field read-only, so the form has no extent field at all.
        if extent := form.base_fields.get("extent"):
            extent.disabled = True
            extent.help_text = _("Computed from the layer's features.")
        return form

    def save_model(self, request, obj: Layer, form, change: bool) -> None:
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)

    @admin.action(
        description=_("Recompute feature count and extent (in the background)"),
        permissions=["change"],
    )
    def refresh_stats(self, request: HttpRequest, queryset: QuerySet) -> None:
        for layer in queryset:
            enqueue("layers.tasks.layer_refresh_stats", layer.pk)
        count = queryset.count()
        self.message_user(
            request,
            ngettext(
                "Queued a recount of %(count)d layer.",
                "Queued a recount of %(count)d layers.",
                count,
            )
            % {"count": count},
            messages.SUCCESS,
        )

    @admin.action(
        description=_("Make public (everyone, anonymous included)"), permissions=["change"]
    )
    def make_public(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._set_visibility(queryset, Layer.Visibility.PUBLIC)

    @admin.action(description=_("Make internal (signed-in users only)"), permissions=["change"])
    def make_internal(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._set_visibility(queryset, Layer.Visibility.INTERNAL)

    def _set_visibility(self, queryset: QuerySet, visibility: str) -> None:
        # The layer queryset's update gives each changed layer a new version and drops its
        # cached tiles before the change commits (layers/tiles/signals.py).
        queryset.update(visibility=visibility)

    @admin.action(
        description=_("Prebuild vector tiles (in the background)"), permissions=["change"]
    )
    def seed_tiles(self, request: HttpRequest, queryset: QuerySet) -> None:
        for layer in queryset:
            tile_seed_start(layer=layer, user=request.user)
        self.message_user(request, _("Tile jobs queued; see Tile jobs for progress."))


@admin.register(Feature)
class FeatureAdmin(MapAdmin):
    list_display = ["id", "name", "layer", "updated_at"]
    list_filter = [("layer", admin.RelatedOnlyFieldListFilter)]
    list_select_related = ["layer"]
    search_fields = ["name", "search_text"]
    autocomplete_fields = ["layer"]
    fields = ["layer", "name", "attributes", "geom"]
    show_full_result_count = False  # counting every feature of a large layer is slow

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        visible = Layer.objects.visible_to(request.user).values("pk")
        return super().get_queryset(request).filter(layer__in=visible)

    def save_model(self, request, obj: Feature, form, change: bool) -> None:
        if not obj.name:
            obj.name = services.feature_name(layer=obj.layer, attributes=obj.attributes)
        super().save_model(request, obj, form, change)
        services.layer_data_changed(layer=obj.layer)

    def delete_model(self, request, obj: Feature) -> None:
        layer = obj.layer
        super().delete_model(request, obj)
        services.layer_data_changed(layer=layer)

    def delete_queryset(self, request, queryset: QuerySet) -> None:
        layers = list(Layer.objects.filter(pk__in=queryset.values("layer_id")))
        super().delete_queryset(request, queryset)
        for layer in layers:
            services.layer_data_changed(layer=layer)


# What every job page ends with: who ran it, whether it is alive, and when.
JOB_TRAIL_FIELDS = [
    "worker",
    "heartbeat_at",
    "attempts",
    "created_by",
    "created_at",
    "started_at",
    "finished_at",
]


class JobAdmin(admin.ModelAdmin):
    """Jobs are written by workers only: staff watch them here."""

    list_filter = ["status"]
    list_select_related = ["layer", "created_by"]
    date_hierarchy = "created_at"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        jobs = super().get_queryset(request)
        if can_edit_layers(request.user):
            return jobs
        # A job tells of its layer (name, size, messages with feature values): same rule.
        return jobs.filter(layer__in=Layer.objects.visible_to(request.user).values("pk"))

    def has_resume_permission(self, request: HttpRequest) -> bool:
        return can_edit_layers(request.user)

    @admin.display(description=_("progress"))
    def progress(self, job) -> str:
        return format_html(
            '<progress max="100" value="{}" title="{} / {}"></progress> {}%',
            job.progress_percent,
            job.progress_done,
            job.progress_total,
            job.progress_percent,
        )

    @admin.display(description=_("messages"))
    def message_list(self, job) -> str:
        if not job.messages:
            return "—"
        return format_html(
            "<ul>{}</ul>",
            format_html_join(
                "",
                "<li><strong>{}</strong> {}{}</li>",
                (
                    (
                        message.get("level", "info"),
                        f"#{message['feature']} " if message.get("feature") is not None else "",
                        message.get("message", ""),
                    )
                    for message in job.messages
                ),
            ),
        )


@admin.register(ImportJob)
class ImportJobAdmin(ImportJobAdminMixin, JobAdmin):
    list_display = ["id", "source_name", "layer", "mode", "status", "progress", "created_by"]
    list_filter = ["status", "mode"]
    readonly_fields = [
        "layer",
        "mode",
        "source_name",
        "status",
        "progress",
        "imported_count",
        "repaired_count",
        "skipped_count",
        "message_list",
        "options",
        "report_summary",
        *JOB_TRAIL_FIELDS,
    ]
    exclude = ["messages", "upload", "progress_done", "progress_total", "report"]


@admin.register(TileJob)
class TileJobAdmin(JobAdmin):
    list_display = [
        "id",
        "layer",
        "min_zoom",
        "depth",
        "status",
        "progress",
        "tiles_rendered",
        "tiles_skipped",
        "created_by",
    ]
    actions = ["resume", "cancel"]
    readonly_fields = [
        "layer",
        "min_zoom",
        "max_zoom",
        "requested_max_zoom",
        "plan_summary",
        "status",
        "progress",
        "tiles_rendered",
        "tiles_skipped",
        "message_list",
        *JOB_TRAIL_FIELDS,
    ]
    exclude = ["messages", "progress_done", "progress_total", "report"]

    @admin.display(description=_("prebuilt to"), ordering="max_zoom")
    def depth(self, job: TileJob) -> str:
        asked = job.requested_max_zoom
        if asked is None or asked == job.max_zoom:
            return f"z{job.max_zoom}"
        return _("z%(depth)s (z%(asked)s asked, over the tile budget)") % {
            "depth": job.max_zoom,
            "asked": asked,
        }

    @admin.display(description=_("plan"))
    def plan_summary(self, job: TileJob) -> str:
        report = job.report or {}
        if not report:
            return "—"
        per_zoom = ", ".join(
            f"z{z}: {n:,}" for z, n in (report.get("tiles_per_zoom") or {}).items()
        )
        return format_html(
            "<p>{}</p><p>{} {}</p>",
            report.get("reason", ""),
            _("Tiles per zoom:"),
            per_zoom or "—",
        )

    @admin.action(
        description=_("Cancel (the job's chunks stop; built tiles stay in the cache)"),
        permissions=["resume"],  # the same GIS staff who may start and resume seeds
    )
    def cancel(self, request: HttpRequest, queryset: QuerySet) -> None:
        cancelled = sum(
            tile_job_cancel(job=job, user=request.user)
            for job in queryset.filter(status__in=[TileJob.Status.QUEUED, TileJob.Status.RUNNING])
        )
        self.message_user(
            request,
            ngettext("%d tile job cancelled.", "%d tile jobs cancelled.", cancelled) % cancelled,
            messages.SUCCESS,
        )

    @admin.action(
        description=_("Resume (a stopped or failed job goes on where it was)"),
        permissions=["resume"],
    )
    def resume(self, request: HttpRequest, queryset: QuerySet) -> None:
        for job in queryset.exclude(status__in=[TileJob.Status.SUCCEEDED]):
            TileJob.objects.filter(pk=job.pk).update(status=TileJob.Status.QUEUED)
            tile_job_start(job=job)


@admin.register(ExportJob)
class ExportJobAdmin(JobAdmin):
    """Exports written by the workers: what was asked, how far it got, until when it is kept."""

    list_display = [
        "id",
        "layer",
        "format",
        "status",
        "progress",
        "feature_count",
        "size_bytes",
        "expires_at",
        "created_by",
    ]
    list_filter = ["status", "format"]
    readonly_fields = [
        "layer",
        "format",
        "params",
        "status",
        "progress",
        "feature_count",
        "size_bytes",
        "download",
        "expires_at",
        "message_list",
        *JOB_TRAIL_FIELDS,
    ]
    exclude = ["messages", "progress_done", "progress_total", "file", "file_name"]

    @admin.display(description=_("file"))
    def download(self, job: ExportJob) -> str:
        if job.status != ExportJob.Status.SUCCEEDED or not job.file:
            return "—"
        url = reverse("api:export-download", kwargs={"job_id": job.pk})
        return format_html('<a href="{}">{}</a>', url, job.file_name)


from . import attachment_admin  # noqa: E402, F401  (registers the attachments' read-only admin)
