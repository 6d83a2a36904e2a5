"""Admin of sensor layers, observed properties, sources, stations and datastreams.

A source's key is made by the server and shown once, in the message after saving (only its hash
and first characters are kept); "Issue a new key" replaces it the same way. Staff see the stations
and datastreams of the layers they may see.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from layers.models import Layer

from . import services
from .models import Datastream, Latest, ObservedProperty, SensorLayer, SensorSource, Station


def _visible_layers(request: HttpRequest):
    return Layer.objects.visible_to(request.user).values("pk")


def _tell_key(request: HttpRequest, source: SensorSource, key: str) -> None:
    messages.warning(
        request,
        _(
            "The key of source “%(name)s” is %(key)s — copy it now: it is shown only this once "
            "(only its hash is kept)."
        )
        % {"name": source.name, "key": key},
    )


@admin.register(SensorLayer)
class SensorLayerAdmin(admin.ModelAdmin):
    list_display = ["layer", "retention_days", "stale_after"]
    raw_id_fields = ["layer"]

    def get_queryset(self, request):
        return super().get_queryset(request).filter(layer__in=_visible_layers(request))


@admin.register(ObservedProperty)
class ObservedPropertyAdmin(admin.ModelAdmin):
    list_display = ["code", "name_vi", "name_en", "unit", "physical_min", "physical_max"]
    list_filter = ["seasonal"]
    search_fields = ["code", "name_vi", "name_en"]


@admin.register(SensorSource)
class SensorSourceAdmin(admin.ModelAdmin):
    list_display = ["name", "key_prefix", "active", "created_at"]
    list_filter = ["active"]
    search_fields = ["name"]
    readonly_fields = ["key_prefix", "created_at"]
    fields = ["name", "active", "key_prefix", "created_at"]
    actions = ["issue_new_key"]

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
            return
        super().save_model(request, obj, form, change)
        _tell_key(request, obj, services.source_set_key(obj))

    @admin.action(description=_("Issue a new key (the old one stops working)"))
    def issue_new_key(self, request, queryset):
        for source in queryset:
            _tell_key(request, source, services.source_set_key(source))


class DatastreamInline(admin.TabularInline):
    model = Datastream
    extra = 0
    fields = ["property"]


@admin.register(Station)
class StationAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "layer", "source", "active"]
    list_filter = ["active", "source", "layer"]
    search_fields = ["code", "name"]
    raw_id_fields = ["layer"]
    inlines = [DatastreamInline]

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .filter(layer__in=_visible_layers(request))
            .select_related("layer", "source")
        )


@admin.register(Datastream)
class DatastreamAdmin(admin.ModelAdmin):
    list_display = ["station", "property", "latest_value", "latest_time"]
    list_filter = ["property"]
    search_fields = ["station__code"]
    raw_id_fields = ["station"]

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .filter(station__layer__in=_visible_layers(request))
            .select_related("station", "property", "latest")
        )

    @admin.display(description=_("latest value"))
    def latest_value(self, obj: Datastream):
        latest = _latest(obj)
        return f"{latest.value:g} {obj.property.unit}" if latest else "—"

    @admin.display(description=_("latest time"))
    def latest_time(self, obj: Datastream):
        latest = _latest(obj)
        return latest.time if latest else "—"


def _latest(datastream: Datastream) -> Latest | None:
    try:
        return datastream.latest
    except Latest.DoesNotExist:
        return None
