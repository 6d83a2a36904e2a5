"""The admin for GIS staff: categories, layers, features, and the jobs that work on them."""

from __future__ import annotations

import json
from urllib.parse import urlencode

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.views.main import ChangeList
from django.contrib.gis import admin as gis_admin
from django.contrib.gis.forms.widgets import OSMWidget
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Count, Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotAllowed, QueryDict
from django.shortcuts import redirect
from django.urls import path, reverse
from django.utils import formats, timezone
from django.utils.html import format_html, format_html_join
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import mark_safe
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from . import services
from .errors import InvalidData, LayerError
from .features.validation import checked_attributes, checked_geometry
from .history_admin import feature_admin_url, feature_history_context
from .import_admin import ImportJobAdminMixin
from .models import (
    Category,
    ChangeChannel,
    ChangeEvent,
    ExportJob,
    Feature,
    ImportJob,
    Layer,
    TileJob,
)
from .querysets import can_edit_features, can_edit_layers
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


# Said on the form, not the model: a model's help text is part of its migrations.
ATTRIBUTE_SCHEMA_HELP = _(
    'A list of fields: {"name", "type", "label_vi", "label_en"}, and optionally "required": true '
    '(an edit must fill it in) and "choices": [{"value": …, "label": …}, …] (the only values an '
    "edit may give it). Types: text, integer, number, boolean, date. Edits on the map, through "
    "the API and here are checked against it."
)


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
    filter_horizontal = ["groups", "editor_groups"]
    readonly_fields = ["feature_count", "version", "created_at", "updated_at", "created_by"]
    actions = ["refresh_stats", "make_public", "make_internal", "seed_tiles"]
    fieldsets = [
        (None, {"fields": ["slug", "category", "status"]}),
        (
            _("Titles and descriptions"),
            {"fields": ["title_vi", "title_en", "description_vi", "description_en"]},
        ),
        (_("Who may see and edit it"), {"fields": ["visibility", "groups", "editor_groups"]}),
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
            _("Time"),
            {
                "fields": ["time_start_field", "time_end_field"],
                "description": _(
                    "A time-enabled layer names the date attribute that holds each feature's "
                    "time (an instant), or the start and the end of its validity (an empty "
                    "value: open). Its features then answer datetime= and the map's time slider."
                ),
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
        if schema := form.base_fields.get("attribute_schema"):
            schema.help_text = ATTRIBUTE_SCHEMA_HELP
        return form

    def save_model(self, request, obj: Layer, form, change: bool) -> None:
        if not change:
            obj.created_by = request.user
        if change and "name_field" in form.changed_data:
            # A new naming field renames every feature: the service does it, as for the API.
            columns = {field.name for field in Layer._meta.concrete_fields}
            changed = {
                name: form.cleaned_data[name] for name in form.changed_data if name in columns
            }
            services.layer_update(layer=Layer.objects.get(pk=obj.pk), data=changed)
            return
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


class FeatureAdminForm(forms.ModelForm):
    """The feature form, checked as the services check every write (the layer's schema, the
    geometry's kind, validity and place), and refused when the feature changed since the form was
    opened: the hidden `base_version` is the admin's If-Match."""

    base_version = forms.IntegerField(widget=forms.HiddenInput, required=False, min_value=1)

    # Who fills the form in: set on the class `FeatureAdmin.get_form` makes for each request.
    user = None

    class Meta:
        model = Feature
        fields = ["layer", "attributes", "geom"]

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if not self.instance._state.adding and "base_version" in self.fields:
            self.fields["base_version"].initial = self.instance.version

    def clean(self) -> dict:
        cleaned = super().clean()
        adding = self.instance._state.adding
        layer = cleaned.get("layer") if adding else self.instance.layer
        if layer is None:
            return cleaned
        if self.user is not None and not can_edit_features(self.user, layer):
            self.add_error(
                "layer" if adding else None,
                _("You may not edit the layer '%(layer)s': ask GIS staff to add you to one of its "
                  "editor groups.") % {"layer": layer.slug},
            )  # fmt: skip
            return cleaned
        if "attributes" in cleaned and (adding or "attributes" in self.changed_data):
            try:
                checked_attributes(cleaned["attributes"], layer=layer, complete=True)
            except InvalidData as error:
                self.add_error("attributes", error.message)
        if cleaned.get("geom") is not None and (adding or "geom" in self.changed_data):
            try:
                checked_geometry(cleaned["geom"], layer=layer, where=True)
            except InvalidData as error:
                self.add_error("geom", error.message)
        if not adding and not self.errors:
            self._check_version(cleaned.get("base_version"))
        return cleaned

    def _check_version(self, based_on: int | None) -> None:
        """Refuse the save if the feature is no longer at the version the form was opened on.

        The row stays locked until the admin's transaction ends (the view is atomic), so the
        service that writes next finds the version checked here.
        """
        if based_on is None:
            return  # no precondition, as an API write without If-Match
        current = Feature.objects.filter(layer_id=self.instance.layer_id, pk=self.instance.pk)
        if transaction.get_connection().in_atomic_block:
            current = current.select_for_update()
        current = current.first()
        if current is None:
            self.add_error(
                None,
                _("This feature was deleted by someone else since you opened it: nothing was "
                  "saved. Its history is in Changes."),
            )  # fmt: skip
            return
        if current.version == based_on:
            return
        event = ChangeEvent.objects.filter(pk=current.event_id).select_related("user").first()
        self.add_error(
            None,
            _("This feature was changed by someone else since you opened it: version "
              "%(current)s (%(by)s) replaced version %(yours)s that you opened. Nothing was "
              "saved. To keep their change, reload the page and make yours again; to save yours "
              "over theirs, save again.")
            % {"current": current.version, "by": _event_summary(event), "yours": based_on},
        )  # fmt: skip
        # A second save is a deliberate overwrite of the version the message named.
        data = self.data.copy()
        data[self.add_prefix("base_version")] = str(current.version)
        self.data = data


def _event_summary(event: ChangeEvent | None) -> str:
    if event is None:
        return str(_("unknown change"))
    return _("%(user)s through %(channel)s at %(at)s") % {
        "user": event.user.get_username() if event.user else _("someone unknown"),
        "channel": event.get_channel_display(),
        "at": formats.localize(timezone.localtime(event.at)),
    }


class VisibleLayerFilter(admin.SimpleListFilter):
    """The layers the user may see; `?layer=<id>`, the same parameter a feature's page takes."""

    title = _("layer")
    parameter_name = "layer"

    def lookups(self, request, model_admin):
        layers = Layer.objects.visible_to(request.user).order_by("slug").only("pk", "slug")
        return [(str(layer.pk), layer.slug) for layer in layers]

    def queryset(self, request, queryset):
        value = self.value()
        return queryset.filter(layer_id=int(value)) if value and value.isdigit() else queryset


class FeatureChangeList(ChangeList):
    def url_for_result(self, result: Feature) -> str:
        # The link names the layer: the feature is then read from its layer's partition only.
        return feature_admin_url(layer_id=result.layer_id, feature_id=result.pk)


def _layer_param(request: HttpRequest) -> int | None:
    """Return the layer a feature page names (`?layer=`, or the list's filter it came from)."""
    value = request.GET.get("layer", "")
    if not value:
        filters = QueryDict(request.GET.get("_changelist_filters", ""))
        value = filters.get("layer") or filters.get("layer__id__exact") or ""
    return int(value) if value.isdigit() else None


@admin.register(Feature)
class FeatureAdmin(MapAdmin):
    """Features, written through the services like every other path (checks, names, versions,
    history, tiles), with their history and a restore button on their page."""

    form = FeatureAdminForm
    list_display = ["id", "name", "layer", "version", "updated_at"]
    list_filter = [VisibleLayerFilter]
    list_select_related = ["layer"]
    search_fields = ["name", "search_text"]
    autocomplete_fields = ["layer"]
    # In the order of each partition's primary key (layer_id, id): a page is a merge of index scans.
    ordering = ["-layer_id", "-id"]
    show_full_result_count = False  # counting every feature of a large layer is slow

    def get_fields(self, request: HttpRequest, obj: Feature | None = None) -> list[str]:
        if obj is None:
            return ["layer", "attributes", "geom"]
        return ["layer", "name", "attributes", "geom", "version", "updated_at", "base_version"]

    def get_readonly_fields(self, request: HttpRequest, obj: Feature | None = None) -> list[str]:
        # The name follows the naming attribute; a feature does not move to another layer.
        return [] if obj is None else ["layer", "name", "version", "updated_at"]

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change, **kwargs)
        form.user = request.user  # a class made for this request (modelform_factory)
        return form

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        visible = Layer.objects.visible_to(request.user).values("pk")
        return super().get_queryset(request).filter(layer__in=visible)

    def get_object(self, request: HttpRequest, object_id: str, from_field=None):
        if from_field is not None:
            return super().get_object(request, object_id, from_field)
        features = self.get_queryset(request).select_related("layer")
        # By id alone PostgreSQL would probe every layer's partition: the page names the layer.
        # (An old link without it still works, more slowly.)
        if (layer_id := _layer_param(request)) is not None:
            features = features.filter(layer_id=layer_id)
        try:
            return features.get(pk=Feature._meta.pk.to_python(object_id))
        except (Feature.DoesNotExist, ValidationError, ValueError):
            return None

    def get_changelist(self, request: HttpRequest, **kwargs):
        return FeatureChangeList

    def get_preserved_filters(self, request: HttpRequest) -> str:
        # The feature's delete and history links, and the redirect after "save and continue",
        # keep naming its layer.
        preserved = super().get_preserved_filters(request)
        match = request.resolver_match
        on_a_feature = match is not None and match.url_name != "layers_feature_changelist"
        if on_a_feature and (layer_id := _layer_param(request)) is not None:
            preserved = "&".join(filter(None, [preserved, urlencode({"layer": layer_id})]))
        return preserved

    def has_change_permission(self, request: HttpRequest, obj: Feature | None = None) -> bool:
        allowed = super().has_change_permission(request, obj)
        return allowed and (obj is None or can_edit_features(request.user, obj.layer))

    def has_delete_permission(self, request: HttpRequest, obj: Feature | None = None) -> bool:
        allowed = super().has_delete_permission(request, obj)
        return allowed and (obj is None or can_edit_features(request.user, obj.layer))

    def save_model(self, request, obj: Feature, form, change: bool) -> None:
        # The form ran the services' checks and locked the row: the services agree with it.
        data = form.cleaned_data
        by = services.WriteContext(user=request.user, channel=ChangeChannel.ADMIN)
        if not change:
            written = services.feature_create(
                layer=data["layer"], geom=data["geom"], attributes=data["attributes"], by=by
            )
        else:
            written = services.feature_update(
                feature=obj,
                geom=data["geom"] if "geom" in form.changed_data else None,
                attributes=data["attributes"] if "attributes" in form.changed_data else None,
                expected_version=data.get("base_version"),
                by=by,
            )
        # The admin goes on with `obj` (its log entry, the redirect): make it the written row.
        for name in ("id", "name", "attributes", "geom", "version", "updated_at", "event_id"):
            setattr(obj, name, getattr(written, name))
        obj._state.adding = False

    def delete_model(self, request, obj: Feature) -> None:
        services.feature_delete(
            feature=obj, by=services.WriteContext(user=request.user, channel=ChangeChannel.ADMIN)
        )

    @transaction.atomic
    def delete_queryset(self, request, queryset: QuerySet) -> None:
        features = list(queryset.select_related("layer"))
        editable = {}
        for feature in features:
            if feature.layer_id not in editable:
                editable[feature.layer_id] = can_edit_features(request.user, feature.layer)
            if not editable[feature.layer_id]:
                raise PermissionDenied
        # One recorded change per feature: each has its own history to restore it from.
        by = services.WriteContext(user=request.user, channel=ChangeChannel.ADMIN)
        for feature in features:
            services.feature_delete(feature=feature, by=by)

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None:
            context.update(
                feature_history_context(
                    request,
                    layer=obj.layer,
                    feature_id=obj.pk,
                    may_restore=self.has_change_permission(request, obj),
                )
            )
        return super().render_change_form(request, context, add, change, form_url, obj)

    def get_urls(self):
        restore = path(
            "<path:object_id>/restore/",
            self.admin_site.admin_view(self.restore_view),
            name="layers_feature_restore",
        )
        return [restore, *super().get_urls()]

    def restore_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """Bring back a past version of a feature (of a deleted one too) as a new change."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        layer_id = _layer_param(request)
        layer = Layer.objects.visible_to(request.user).filter(pk=layer_id).first()
        if layer is None or not object_id.isdigit():
            raise Http404(_("Name the feature's layer: ?layer=<id>."))
        if not (self.has_change_permission(request) and can_edit_features(request.user, layer)):
            raise PermissionDenied
        feature_page = feature_admin_url(layer_id=layer.pk, feature_id=int(object_id))
        back = request.POST.get("next", "")
        if not url_has_allowed_host_and_scheme(
            back, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        ):
            back = feature_page
        version = request.POST.get("version", "")
        if not version.isdigit():
            messages.error(request, _("Say which version to restore: its number."))
            return redirect(back)
        try:
            feature, came_back = services.feature_restore(
                layer=layer,
                feature_id=int(object_id),
                version=int(version),
                by=services.WriteContext(user=request.user, channel=ChangeChannel.ADMIN),
            )
        except LayerError as error:
            messages.error(request, error.message)
            return redirect(back)
        self.log_change(request, feature, _("Restored version %(version)s.") % {"version": version})
        text = (
            _("Feature %(id)s is back, as it was in version %(version)s (now version %(now)s).")
            if came_back
            else _("Version %(version)s of feature %(id)s restored (now version %(now)s).")
        )
        messages.success(
            request, text % {"id": feature.pk, "version": version, "now": feature.version}
        )
        return redirect(feature_page)


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
