"""Admin of thresholds, alerts and anomalies (imported by sensors/admin.py).

Staff see the alerts and anomalies of the layers they may see. An anomaly's status changes only
through the confirm / dismiss actions (sensors/reviews.py), so its readings' flags follow; an
alert is written by the evaluation, staff only acknowledge it. Open alerts are also shown on every
admin page (sensors/templatetags/sensors_admin.py).
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from layers.models import Layer

from . import reviews
from .explanations import explain
from .models_alerts import Alert, AlertNotification, Anomaly, Threshold


def _visible_layers(request: HttpRequest):
    return Layer.objects.visible_to(request.user).values("pk")


@admin.register(Threshold)
class ThresholdAdmin(admin.ModelAdmin):
    list_display = [
        "property",
        "datastream",
        "level",
        "severity",
        "direction",
        "value",
        "hysteresis",
        "sample",
        "active",
    ]
    list_filter = ["property", "severity", "sample", "active", "direction"]
    search_fields = ["level", "note", "datastream__station__code"]
    raw_id_fields = ["datastream"]
    fieldsets = [
        (None, {"fields": ["property", "datastream", "level", "severity", "active"]}),
        (_("Level"), {"fields": ["direction", "value", "hysteresis"]}),
        (_("Source"), {"fields": ["sample", "note"]}),
    ]


class OpenFilter(admin.SimpleListFilter):
    title = _("open")
    parameter_name = "open"

    def lookups(self, request, model_admin):
        return [("1", _("open")), ("0", _("closed"))]

    def queryset(self, request, queryset):
        if self.value() in ("0", "1"):
            return queryset.filter(closed_at__isnull=self.value() == "1")
        return queryset


class NotificationInline(admin.TabularInline):
    model = AlertNotification
    extra = 0
    can_delete = False
    fields = ["event", "channel", "status", "attempts", "sent_at", "next_attempt_at", "last_error"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Alert)
class AlertAdmin(admin.ModelAdmin):
    list_display = [
        "station",
        "kind",
        "property_code",
        "level",
        "severity",
        "opened_at",
        "opened_value",
        "peak_value",
        "closed_at",
        "acknowledged_at",
    ]
    list_filter = [OpenFilter, "kind", "severity", "level", "station__layer"]
    search_fields = ["station__code", "station__name", "level"]
    date_hierarchy = "opened_at"
    inlines = [NotificationInline]
    actions = ["acknowledge"]
    readonly_fields = [
        "kind",
        "station",
        "datastream",
        "threshold",
        "level",
        "severity",
        "threshold_value",
        "opened_at",
        "opened_value",
        "peak_value",
        "peak_at",
        "closed_at",
        "closed_value",
        "acknowledged_by",
        "acknowledged_at",
        "created_at",
    ]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return (
            super()
            .get_queryset(request)
            .filter(station__layer__in=_visible_layers(request))
            .select_related("station", "datastream__property")
        )

    def has_add_permission(self, request):
        return False  # alerts are opened by the evaluation

    @admin.display(description=_("property"), ordering="datastream__property__code")
    def property_code(self, alert: Alert) -> str:
        return alert.datastream.property.code if alert.datastream_id else "—"

    @admin.action(description=_("Acknowledge the selected alerts"), permissions=["change"])
    def acknowledge(self, request, queryset):
        for alert in queryset:
            reviews.alert_acknowledge(alert=alert, user=request.user)
        count = queryset.count()
        self.message_user(
            request,
            ngettext("%d alert acknowledged.", "%d alerts acknowledged.", count) % count,
            messages.SUCCESS,
        )


@admin.register(Anomaly)
class AnomalyAdmin(admin.ModelAdmin):
    list_display = [
        "station_code",
        "property_code",
        "kind",
        "time_start",
        "time_end",
        "score_rounded",
        "explanation_shown",
        "status",
        "reviewed_by",
    ]
    list_filter = ["status", "kind", "datastream__property", "datastream__station__layer"]
    search_fields = ["datastream__station__code", "explanation"]
    date_hierarchy = "time_start"
    actions = ["confirm", "dismiss"]
    readonly_fields = [
        "datastream",
        "kind",
        "time_start",
        "time_end",
        "score",
        "explanation_shown",
        "details",
        "status",
        "reviewed_by",
        "reviewed_at",
        "created_at",
        "updated_at",
    ]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return (
            super()
            .get_queryset(request)
            .filter(datastream__station__layer__in=_visible_layers(request))
            .select_related("datastream__station", "datastream__property", "reviewed_by")
        )

    def has_add_permission(self, request):
        return False  # anomalies are found by the detectors

    @admin.display(description=_("station"), ordering="datastream__station__code")
    def station_code(self, anomaly: Anomaly) -> str:
        return anomaly.datastream.station.code

    @admin.display(description=_("property"), ordering="datastream__property__code")
    def property_code(self, anomaly: Anomaly) -> str:
        return anomaly.datastream.property.code

    @admin.display(description=_("explanation"))
    def explanation_shown(self, anomaly: Anomaly) -> str:
        return explain(anomaly.kind, anomaly.details, fallback=anomaly.explanation)

    @admin.display(description=_("score"), ordering="score")
    def score_rounded(self, anomaly: Anomaly) -> str:
        return f"{anomaly.score:.1f}"

    def _review(self, request, queryset, decision: str) -> None:
        for anomaly in queryset:
            reviews.anomaly_review(anomaly=anomaly, decision=decision, user=request.user)
        count = queryset.count()
        self.message_user(
            request,
            ngettext("%d anomaly reviewed.", "%d anomalies reviewed.", count) % count,
            messages.SUCCESS,
        )

    @admin.action(
        description=_("Confirm the selected anomalies (readings stay suspect)"),
        permissions=["change"],
    )
    def confirm(self, request, queryset):
        self._review(request, queryset, "confirm")

    @admin.action(
        description=_("Dismiss the selected anomalies (readings no longer suspect)"),
        permissions=["change"],
    )
    def dismiss(self, request, queryset):
        self._review(request, queryset, "dismiss")
