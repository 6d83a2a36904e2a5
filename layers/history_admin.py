"""The change log in the admin: a read-only list of change events, and a feature's versions shown
on its page (and on the page of a change to it) with a button to restore one.

History is append-only: nobody, a superuser included, may add, change or delete an event or a
version here; a restore is itself a new change, made by `services.feature_restore`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlencode

from django.contrib import admin
from django.db.models import Exists, OuterRef, QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from .api.history import feature_history
from .errors import NotFound
from .models import ChangeEvent, Feature, Layer
from .querysets import can_edit_features

# Values longer than this are cut in the list of changed fields (a long description).
SHOWN_VALUE_CHARS = 60


def feature_admin_url(*, layer_id: int, feature_id: int, view: str = "change") -> str:
    """Return the admin URL of a feature's page; it names the layer, so that finding the feature
    reads one partition of the feature table (by id alone it would probe every layer's)."""
    path = reverse(f"admin:layers_feature_{view}", args=[feature_id])
    return f"{path}?{urlencode({'layer': layer_id})}"


@dataclass(frozen=True)
class VersionRow:
    """One version of a feature as the admin lists it."""

    version: int
    valid_from: datetime
    valid_to: datetime | None
    current: bool
    user: str
    channel: str
    action: str
    note: str
    changes: list[str]


def _shown(value: object) -> str:
    text = "—" if value is None else str(value)
    return text if len(text) <= SHOWN_VALUE_CHARS else text[:SHOWN_VALUE_CHARS] + "…"


def feature_version_rows(*, layer: Layer, feature_id: int) -> list[VersionRow]:
    """Return the feature's versions, newest first, with who made each and what it changed
    (empty when the feature has no history at all)."""
    try:
        history = feature_history(layer=layer, feature_id=feature_id)
    except NotFound:
        return []
    rows = []
    for version in history["versions"]:
        event = version["event"] or {}
        changes = [
            f"{name}: {_shown(change['before'])} → {_shown(change['after'])}"
            for name, change in version["changes"].items()
        ]
        if version["geometry_changed"]:
            changes.insert(0, str(_("geometry")))
        rows.append(
            VersionRow(
                version=version["version"],
                valid_from=datetime.fromisoformat(version["valid_from"]),
                valid_to=datetime.fromisoformat(version["valid_to"])
                if version["valid_to"]
                else None,
                current=version["current"],
                user=event.get("user") or "—",
                channel=event.get("channel_label") or "—",
                action=event.get("action_label") or "—",
                note=event.get("note") or "",
                changes=changes,
            )
        )
    return rows


def feature_history_context(
    request: HttpRequest, *, layer: Layer, feature_id: int, may_restore: bool
) -> dict:
    """Return what the history table of the feature's page (or of a change's page) needs."""
    rows = feature_version_rows(layer=layer, feature_id=feature_id)
    return {
        "feature_versions": rows,
        "feature_deleted": bool(rows) and not rows[0].current,
        "restore_url": feature_admin_url(layer_id=layer.pk, feature_id=feature_id, view="restore")
        if may_restore and can_edit_features(request.user, layer)
        else None,
        "return_to": request.get_full_path(),
    }


class EditableLayerFilter(admin.SimpleListFilter):
    """The layers whose changes the user may read (the edit rule: the history names users)."""

    title = _("layer")
    parameter_name = "layer"

    def lookups(self, request, model_admin):
        layers = Layer.objects.editable_by(request.user).order_by("slug")
        return [(str(layer.pk), layer.slug) for layer in layers.only("pk", "slug")]

    def queryset(self, request, queryset):
        value = self.value()
        return queryset.filter(layer_id=int(value)) if value and value.isdigit() else queryset


@admin.register(ChangeEvent)
class ChangeEventAdmin(admin.ModelAdmin):
    """Every recorded change, newest first: who, when, through which path, to what."""

    list_display = ["at", "layer", "action", "feature_link", "channel", "user", "short_note"]
    list_filter = [
        EditableLayerFilter,
        "action",
        "channel",
        ("user", admin.RelatedOnlyFieldListFilter),
    ]
    list_select_related = ["layer", "user"]
    date_hierarchy = "at"
    search_fields = ["user__username", "note"]
    show_full_result_count = False
    fields = ["at", "layer", "action", "feature_link", "channel", "user", "counts", "job", "note"]
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        editable = Layer.objects.editable_by(request.user).values("pk")
        # Whether the feature is still there decides where its link goes; the subquery names the
        # layer, so it reads that layer's partition only.
        alive = Feature.objects.filter(layer_id=OuterRef("layer_id"), pk=OuterRef("feature_id"))
        return (
            super()
            .get_queryset(request)
            .filter(layer__in=editable)
            .annotate(feature_alive=Exists(alive))
        )

    @admin.display(description=_("feature"), ordering="feature_id")
    def feature_link(self, event: ChangeEvent) -> str:
        if event.feature_id is None:
            return "—"
        if event.feature_alive:
            url = feature_admin_url(layer_id=event.layer_id, feature_id=event.feature_id)
            return format_html('<a href="{}">#{}</a>', url, event.feature_id)
        # Deleted since: its versions (and the button to bring it back) are on the change's page.
        url = reverse("admin:layers_changeevent_change", args=[event.pk])
        return format_html('<a href="{}">#{} ({})</a>', url, event.feature_id, _("deleted"))

    @admin.display(description=_("note"))
    def short_note(self, event: ChangeEvent) -> str:
        note = event.note or ""
        return note if len(note) <= 80 else note[:80] + "…"

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None and obj.feature_id is not None:
            feature_admin = self.admin_site._registry.get(Feature)
            context.update(
                feature_history_context(
                    request,
                    layer=obj.layer,
                    feature_id=obj.feature_id,
                    may_restore=bool(
                        feature_admin and feature_admin.has_change_permission(request)
                    ),
                )
            )
        return super().render_change_form(request, context, add, change, form_url, obj)
